"""Protocols: the leakage guard, subject-independent splits, GAN exposure in k-fold, the seed/metric rules."""

from __future__ import annotations

import json

import numpy as np
import pytest
from omegaconf import OmegaConf
from PIL import Image

from fer.classes import CLASSES
from fer.data.datamodule import FERDataModule
from fer.data.gan_manifest import read_gan_seen_subjects
from fer.data.protocols import CrossDatabase, OfficialSplit, SubjectKFold
from fer.data.samples import Sample
from fer.data.splits import (
    LeakageError,
    check_no_leakage,
    gan_exposure,
    holdout_subjects,
    kfold_subjects,
)
from tests.conftest import compose_cfg


def _s(path, subject, origin="original", source=None, label=0):
    return Sample(path, label, subject, subject.split(":")[0], origin=origin, source=source)


# ------------------------------------------------------------------------------------------- the guard
def test_guard_passes_a_clean_split():
    train = [_s("k/F01a", "kdef:F01"), _s("aug/F01a_1", "kdef:F01", "offline_aug", "k/F01a")]
    check_no_leakage(train, val=[_s("k/F02a", "kdef:F02")], **{"test:ckplus": [_s("c/S1", "ckplus:S1")]})


def test_guard_fails_a_deliberately_leaking_split():
    train = [_s("k/F01a", "kdef:F01"), _s("k/F02b", "kdef:F02")]
    with pytest.raises(LeakageError, match=r"kdef:F02.*subject-independent"):
        check_no_leakage(train, val=[_s("k/F02a", "kdef:F02")])


def test_guard_fails_a_derived_image_of_a_held_out_image_even_under_another_subject():
    # An augmented copy of a test image, wrongly labelled with a training subject.
    train = [_s("k/F01a", "kdef:F01"), _s("aug/x", "kdef:F01", "offline_aug", source="k/F03a")]
    with pytest.raises(LeakageError, match="k/F03a"):
        check_no_leakage(train, **{"test:fold0": [_s("k/F03a", "kdef:F03")]})


def test_guard_fails_derived_images_that_do_not_carry_their_source_subject():
    train = [_s("k/F01a", "kdef:F01"), _s("pfa/x", "kdef:F02", "pfa", source="k/F01a")]
    with pytest.raises(LeakageError, match="carries subject kdef:F02 but its source"):
        check_no_leakage(train, val=[_s("k/F03a", "kdef:F03")])


def test_guard_checks_every_pair_of_sides():
    train = [_s("k/F01a", "kdef:F01")]
    with pytest.raises(LeakageError, match="val and the test:fold0"):
        check_no_leakage(train, val=[_s("k/F02a", "kdef:F02")], **{"test:fold0": [_s("k/F02b", "kdef:F02")]})
    with pytest.raises(LeakageError, match="image"):  # the same file under two subject ids
        check_no_leakage(train, val=[_s("k/F01a", "kdef:X01")])


# ------------------------------------------------------------------------------------------ the splits
def test_kfold_folds_partition_subjects_and_depend_only_on_the_split_seed():
    subjects = {f"kdef:F{i:02d}" for i in range(20)} | {f"jaffe:J{i}" for i in range(10)}
    folds = kfold_subjects(subjects, 5, seed=3)
    assert set().union(*folds) == subjects and sum(map(len, folds)) == len(subjects)
    assert all(sum(s.startswith("jaffe") for s in f) == 2 for f in folds)  # each dataset spread evenly
    assert folds == kfold_subjects(subjects, 5, seed=3)
    assert folds != kfold_subjects(subjects, 5, seed=4)
    held = holdout_subjects(subjects, 0.15, seed=0)
    assert held == holdout_subjects(subjects, 0.15, seed=0) and held != holdout_subjects(subjects, 0.15, seed=1)


def _write_tree(root, names_by_class, origin_manifest=None):
    for cls, names in names_by_class.items():
        (root / cls).mkdir(parents=True, exist_ok=True)
        for n in names:
            Image.fromarray(np.full((16, 16), 40 + 20 * CLASSES.index(cls), np.uint8)).save(root / cls / n)
    if origin_manifest is not None:
        (root / "manifest.json").write_text(json.dumps(origin_manifest))


def _folder_source(root, origin="original", pattern=None, prefix=None):
    opts = {"origin": origin}
    if pattern:
        opts.update(subject_pattern=pattern, subject_prefix=prefix)
    return {"reader": "folder", "root": str(root), "options": opts, "faces": {"detector": "none"}}


@pytest.fixture
def kdef_like(tmp_path):
    """A KDEF-like folder tree: 10 subjects x 2 classes, subject in the file name; plus a GAN folder."""
    root = tmp_path / "kdef"
    _write_tree(root, {c: [f"F{i:02d}{c[:2].upper()}.png" for i in range(10)] for c in ("angry", "happy")})
    return root


def _dm(tmp_path, train, pool=None, fold=0, split_seed=0, protocol="kfold", tests=None):
    make = {
        "kfold": lambda: SubjectKFold(n_folds=5, fold=fold, pool=pool, tests=tests, val_fraction=0.2),
        "cross_db": lambda: CrossDatabase(tests=tests, val_fraction=0.2),
        "official": lambda: OfficialSplit(tests=tests, val_fraction=0.2),
    }
    return FERDataModule(
        train=train,
        protocol=make[protocol](),
        catalogue={**(pool or {}), **(tests or {})},  # test sets and pool by name, as the catalogue holds them
        split_seed=split_seed,
        image_size=16,
        cache_dir=str(tmp_path / "cache"),
        output_dir=str(tmp_path / f"run{fold}"),
        faces={"detector": "none"},
    )


def test_kfold_with_a_gan_trained_on_all_subjects_says_so(tmp_path, kdef_like):
    gan = tmp_path / "gan"
    seen = [f"F{i:02d}" for i in range(10)]  # trained on all of KDEF
    _write_tree(gan, {"angry": [f"g{i}.png" for i in range(4)]}, {"classes": {"angry": {"seen_subjects": seen}}})
    # As Hydra passes it: a DictConfig, not a dict.
    train = OmegaConf.create(
        {
            "kdef": _folder_source(kdef_like, pattern=r"(?P<subject>F\d\d)", prefix="kdef"),
            "gan_q": _folder_source(gan, origin="gan"),
        }
    )
    dm = _dm(tmp_path, train, fold=1)
    dm.setup("fit")
    test_subjects = set(dm.split["subjects"]["test:fold1"])
    assert len(test_subjects) == 2 and all(s.startswith("kdef:") for s in test_subjects)
    assert dm.split["gan"]["test_subjects_seen"] == 2 and dm.split["gan"]["sources"] == ["gan_q"]
    # GAN samples stand for no real subject: all of them train, none is dealt into a test or validation fold.
    assert sum(s.origin == "gan" for s in dm.train_set.samples) == 4
    assert all(s.origin == "original" for s in dm.val_set.samples + dm.test_sets["fold1"].samples)
    saved = json.loads((tmp_path / "run1" / "split.json").read_text())
    assert saved["digest"] == dm.split["digest"] and saved["gan"]["test_subjects_seen"] == 2


def test_kfold_with_a_per_fold_gan_is_clean(tmp_path, kdef_like):
    probe = _dm(tmp_path, {"kdef": _folder_source(kdef_like, pattern=r"(?P<subject>F\d\d)", prefix="kdef")}, fold=2)
    probe.setup("fit")
    train_subjects = [s.split(":")[1] for s in probe.split["subjects"]["train"]]
    gan = tmp_path / "gan_fold2"
    _write_tree(gan, {"happy": ["g0.png", "g1.png"]}, {"classes": {"happy": {"seen_subjects": train_subjects}}})
    train = {
        "kdef": _folder_source(kdef_like, pattern=r"(?P<subject>F\d\d)", prefix="kdef"),
        "gan_q": _folder_source(gan, origin="gan"),
    }
    dm = _dm(tmp_path, train, fold=2)
    dm.setup("fit")
    assert dm.split["subjects"]["test:fold2"] == probe.split["subjects"]["test:fold2"]  # GAN samples move no fold
    assert dm.split["gan"]["test_subjects_seen"] == 0 and dm.split["gan"]["val_subjects_seen"] == 0


def test_gan_without_manifest_is_reported_unknown(tmp_path):
    gan = tmp_path / "gan"
    _write_tree(gan, {"angry": ["g0.png"]})
    assert read_gan_seen_subjects(gan) is None
    exposure = gan_exposure({"gan_q": None}, test={"kdef:F01"})
    assert exposure["unknown"] == ["gan_q"] and exposure["test_subjects_seen"] == 0
    (gan / "manifest.json").write_text("{not json")
    with pytest.raises(ValueError, match="manifest.json"):
        read_gan_seen_subjects(gan)


def test_cross_db_val_is_held_out_training_subjects_without_their_derived_images(tmp_path, kdef_like):
    aug = tmp_path / "aug"
    _write_tree(aug, {"angry": [f"F{i:02d}AN_aug{j}.png" for i in range(10) for j in range(2)]})
    jaffe = tmp_path / "jaffe"
    _write_tree(jaffe, {"happy": [f"J{i}HA.png" for i in range(3)]})
    train = {
        "kdef": _folder_source(kdef_like, pattern=r"(?P<subject>F\d\d)", prefix="kdef"),
        "aug": _folder_source(aug, origin="offline_aug", pattern=r"(?P<subject>F\d\d)", prefix="kdef"),
    }
    catalogue = {"jaffe": _folder_source(jaffe, pattern=r"(?P<subject>J\d)", prefix="jaffe"), "ckplus": None}
    dm = _dm(tmp_path, train, protocol="cross_db", tests=catalogue)
    dm.setup("fit")
    val = set(dm.split["subjects"]["val"])
    assert val and not val & set(dm.split["subjects"]["train"])
    assert not any(s.subject in val for s in dm.train_set.samples)  # their augmented copies left training too
    assert all(s.origin == "original" for s in dm.val_set.samples)
    assert dm.test_names == ["jaffe"]  # the unconfigured CK+ is skipped, not an error


# ---------------------------------------------------------------------------------- seeds and the metric
def test_split_seed_and_training_seed_are_separate_and_paper_experiments_sweep_them():
    from fer.runs.sweep import expand_sweep

    cfg = compose_cfg(["experiment=paper_cross_db", "seed=7"])
    assert cfg.seed == 7 and cfg.split_seed == 0 and cfg.data.split_seed == 0  # the training seed moves no split
    assert compose_cfg(["experiment=paper_cross_db", "split_seed=3"]).data.split_seed == 3
    assert cfg.protocol.name == "cross_db"
    params = cfg.hydra.sweeper.params
    jobs = expand_sweep([f"{k}={v}" for k, v in params.items()])
    assert len(jobs) == 5 * 4 * 3
    assert set(params.data.split(",")) == {"kdef", "kdef_ol", "kdef_pfa", "kdef_q", "kdef_pfa_q"}
    assert set(params.backbone.split(",")) == {"vgg16", "vgg19", "inception_v3", "inception_resnet_v2"}
    kfold = compose_cfg(["experiment=paper_kfold"])
    assert kfold.protocol.name == "kfold" and kfold.hydra.sweeper.params["protocol.fold"] == "0,1,2,3,4"
    assert set(kfold.protocol.pool) == {"ckplus", "jaffe"}


def test_optimizing_a_test_metric_is_refused():
    from train import check_entry

    cfg = compose_cfg(["hparams_search=optuna", "experiment=demo"])
    assert cfg.optimized_metric == "val/acc" and cfg.hydra.sweeper.direction == "maximize"
    check_entry(cfg)
    cfg.optimized_metric = "test/ckplus/acc"
    with pytest.raises(ValueError, match="never a test set"):
        check_entry(cfg)


def test_ddp_with_the_phase_switch_is_refused_but_ddp_alone_composes():
    from train import check_entry

    cfg = compose_cfg(["trainer=ddp"])
    assert cfg.trainer.strategy == "ddp" and cfg.trainer.devices == 2 and cfg.trainer.sync_batchnorm
    with pytest.raises(ValueError, match="unsynchronised"):
        check_entry(cfg)
    check_entry(compose_cfg(["trainer=ddp", "callbacks.phase_switch=null"]))
    check_entry(compose_cfg(["trainer=ddp", "trainer.devices=1"]))
