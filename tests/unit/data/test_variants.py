"""Data variants (kdef, kdef_ol, kdef_pfa, kdef_q, kdef_pfa_q, kdef_gan_q) and the knobs that apply to any of
them: offline augmentation and the GAN fraction. The leakage tests use the real DataModule on synthetic data."""

from __future__ import annotations

import json
from pathlib import Path

import hydra
import numpy as np
import pytest
from omegaconf import open_dict
from PIL import Image

from fer.classes import CLASSES
from fer.data.catalogue import MissingSourceError, load_source
from fer.data.splits import LeakageError, check_no_leakage
from fer.data.variants import gan_subset
from tests.conftest import compose_cfg

VARIANTS = {  # variant -> its training sources
    "kdef": {"kdef"},
    "kdef_ol": {"kdef"},
    "kdef_pfa": {"kdef", "pfa"},
    "kdef_q": {"kdef", "gan_q"},
    "kdef_pfa_q": {"kdef", "pfa", "gan_q"},
    "kdef_gan_q": {"gan_q"},
}
GAN_PER_CLASS = 6
PFA_SUBJECTS = ("F01", "M01", "F02", "M02", "F03", "M03")  # the synthetic KDEF subjects


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """Shared folders: synthetic KDEF (6 subjects, frontal, rendered on first use by the source), a DCGAN-like
    sample folder, a PFA-like folder (face swaps named after their KDEF subject), the face cache and the
    offline-augmentation cache."""
    root = tmp_path_factory.mktemp("world")
    rng = np.random.default_rng(0)
    for c in CLASSES:
        (root / "gan" / c).mkdir(parents=True)
        (root / "pfa" / c).mkdir(parents=True)
        for k in range(GAN_PER_CLASS):
            Image.fromarray(rng.integers(0, 256, (48, 48), dtype=np.uint8)).save(root / "gan" / c / f"{k:04d}.png")
        for subject in PFA_SUBJECTS:
            Image.fromarray(rng.integers(0, 256, (48, 48), dtype=np.uint8)).save(
                root / "pfa" / c / f"A{subject}_{c}.jpg"
            )
    return root


def data_cfg(world: Path, variant: str, *overrides: str):
    cfg = compose_cfg(
        [
            f"data={variant}",
            "sources=synthetic",
            f"paths.synthetic_dir={world / 'synthetic'}",
            "++sources.kdef.synthetic_options={subjects: 6, angles: [S], akdef: false}",
            f"paths.root_dir={world}",
            f"paths.data_dir={world / 'data'}",
            f"paths.cache_dir={world / 'cache'}",
            f"paths.gan_q={world / 'gan'}",
            f"paths.pfa={world / 'pfa'}",
            "backbone=resnet10t",
            "backbone.input_size=32",
            "protocol.tests=null",
            "logger=none",
            *overrides,
        ]
    )
    with open_dict(cfg):
        cfg.paths.output_dir = str(world / "run")
    return cfg


def setup(cfg):
    dm = hydra.utils.instantiate(cfg.data)
    dm.setup("fit")
    return dm


def aug_rows(world: Path, copies_dir: str = "kdef-32px-gray") -> list[dict]:
    """Every augmented copy in the training-time cache (all subjects, before the split)."""
    rows = []
    for m in sorted((world / "data" / "generated" / "offline_aug" / copies_dir).glob("*/manifest.json")):
        rows += [
            {**r, "folder": m.parent.name, "copies": json.loads(m.read_text())["settings"]["copies"]}
            for r in json.loads(m.read_text())["rows"]
        ]
    return rows


# --- configs --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_variant_config_composes_its_sources(variant, tmp_path):
    cfg = compose_cfg([f"data={variant}", f"paths.root_dir={tmp_path}"])
    assert set(cfg.data.train) == VARIANTS[variant]  # catalogue names
    assert cfg.data.name == variant and cfg.data._target_ == "fer.data.datamodule.FERDataModule"
    assert cfg.data.offline_aug.enabled is (variant == "kdef_ol") and cfg.data.offline_aug.copies == 5
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path)
    dm = hydra.utils.instantiate(cfg.data, _convert_="all")  # resolves the names; reads nothing
    train = dm.sources["train"]
    assert set(train) == VARIANTS[variant] and dm.test_names == ["ckplus", "jaffe"]
    if "gan_q" in train:
        assert train["gan_q"].origin == "gan" and str(train["gan_q"].root) == cfg.paths.gan_q
    if "pfa" in train:
        assert train["pfa"].origin == "pfa" and train["pfa"].options["subject_prefix"] == "kdef"
    # the switch and the knobs compose on top of any variant, as a sweep would set them
    cfg = compose_cfg(
        [
            f"data={variant}",
            f"paths.root_dir={tmp_path}",
            "data.offline_aug.enabled=true",
            "data.offline_aug.copies=2",
            "data.gan_fraction=0.5",
        ]
    )
    assert cfg.data.offline_aug.enabled and cfg.data.offline_aug.copies == 2 and cfg.data.gan_fraction == 0.5


# --- missing sources ------------------------------------------------------------------------------------


def test_missing_gan_samples_name_the_source_path_and_command(world, tmp_path):
    missing = tmp_path / "not_generated_yet"
    for variant in ("kdef_q", "kdef_gan_q", "kdef_pfa_q"):
        cfg = data_cfg(world, variant, f"paths.gan_q={missing}")
        with pytest.raises(MissingSourceError) as err:
            setup(cfg)
        msg = str(err.value)
        assert f"training source gan_q: {missing} does not exist" in msg, msg
        assert f"python generate.py task=gan emotion=<class> (for each class) out_dir={missing}" in msg, msg


def test_missing_pfa_names_the_source_path_and_remedy(world):
    with pytest.raises(
        MissingSourceError, match=r"training source pfa: .*no_pfa_here does not exist; place the PFA images"
    ):
        setup(data_cfg(world, "kdef_pfa", f"paths.pfa={world / 'no_pfa_here'}"))


# --- no augmented copy of a held-out subject reaches training -------------------------------------------


def test_cross_db_keeps_augmented_copies_of_validation_subjects_out_of_training(world):
    dm = setup(data_cfg(world, "kdef_ol"))
    train, val = dm.train_set.samples, dm.val_set.samples
    aug = [s for s in train if s.origin == "offline_aug"]
    originals = [s for s in train if s.origin == "original"]
    val_subjects = {s.subject for s in val}
    assert val_subjects and {s.origin for s in val} == {"original"}
    assert not {s.subject for s in aug} & val_subjects
    assert len(aug) == 5 * len(originals) and {s.source for s in aug} == {s.path for s in originals}
    # the whole source was augmented: the copies of the validation subjects exist and were dropped
    rows = aug_rows(world)
    assert len(rows) == 5 * (len(originals) + len(val)) and val_subjects <= {r["subject"] for r in rows}
    assert dm.train_set.images.shape[1:] == (32, 32, 1)
    # the subject split is the one without augmentation
    plain = setup(data_cfg(world, "kdef"))
    assert plain.split["subjects"] == dm.split["subjects"]
    assert [s.path for s in plain.val_set.samples] == [s.path for s in val]
    # the guard that runs on every setup catches a copy of a validation subject in training
    i = next(i for i, r in enumerate(rows) if r["subject"] in val_subjects)
    from fer.data.samples import Sample

    leaked = Sample(
        "x.png", rows[i]["label"], rows[i]["subject"], "kdef", origin="offline_aug", source=rows[i]["source_path"]
    )
    with pytest.raises(LeakageError):
        check_no_leakage(train + [leaked], val=val)
    with pytest.raises(LeakageError, match="source"):
        check_no_leakage(train + [Sample("y.png", 0, "kdef:other", "kdef", "offline_aug", source=val[0].path)], val=val)


@pytest.mark.parametrize("fold", [0, 2])
def test_kfold_keeps_augmented_copies_of_test_and_validation_subjects_out_of_training(world, fold):
    cfg = data_cfg(
        world,
        "kdef",
        "protocol=kfold",
        "protocol.n_folds=3",
        f"protocol.fold={fold}",
        "protocol.pool=null",
        "protocol.val_fraction=0.2",
        "data.offline_aug.enabled=true",
        "data.offline_aug.copies=2",
    )
    dm = setup(cfg)
    train = dm.train_set.samples
    test = dm.test_sets[f"fold{fold}"].samples
    held = {s.subject for s in test} | {s.subject for s in dm.val_set.samples}
    assert {s.subject for s in test} and {s.subject for s in dm.val_set.samples}
    assert {s.origin for s in test} == {s.origin for s in dm.val_set.samples} == {"original"}
    aug = [s for s in train if s.origin == "offline_aug"]
    originals = [s for s in train if s.origin == "original"]
    assert aug and not {s.subject for s in aug} & held
    assert len(aug) == 2 * len(originals) and {s.source for s in aug} == {s.path for s in originals}
    assert held <= {r["subject"] for r in aug_rows(world) if r["copies"] == 2}


def test_training_cache_is_reused_and_keyed_by_settings(world):
    setup(data_cfg(world, "kdef_ol"))
    base = world / "data" / "generated" / "offline_aug" / "kdef-32px-gray"
    before = {p: p.stat().st_mtime_ns for p in base.rglob("*.png")}
    setup(data_cfg(world, "kdef_ol"))  # a second job with the same settings: nothing rewritten
    assert {p: p.stat().st_mtime_ns for p in base.rglob("*.png")} == before
    none = setup(data_cfg(world, "kdef_ol", "data.offline_aug.copies=0"))  # the zero point of a copies sweep
    assert {s.origin for s in none.train_set.samples} == {"original"}
    dm = setup(data_cfg(world, "kdef_ol", "data.offline_aug.copies=1", "data.offline_aug.rotation=5"))
    folders = {m.parent for m in base.glob("*/manifest.json")}
    assert len(folders) >= 2  # the new settings went to their own folder; the old one is kept
    assert all(p.is_file() for p in before)
    originals = [s for s in dm.train_set.samples if s.origin == "original"]
    assert sum(s.origin == "offline_aug" for s in dm.train_set.samples) == len(originals)


# --- GAN samples and their fraction ---------------------------------------------------------------------


def test_gan_fraction_is_a_deterministic_nested_per_class_subset(world):
    cfg = data_cfg(world, "kdef_q")
    gan = load_source("gan_q", cfg.sources.gan_q, cfg.faces, 32, "gray", world / "cache")
    assert len(gan.samples) == 7 * GAN_PER_CLASS and {s.origin for s in gan.samples} == {"gan"}
    half, again = gan_subset(gan, 0.5, seed=0), gan_subset(gan, 0.5, seed=0)
    third = gan_subset(gan, 1 / 3, seed=0)
    assert [s.path for s in half.samples] == [s.path for s in again.samples]
    assert np.bincount(half.labels, minlength=7).tolist() == [3] * 7
    assert {s.path for s in third.samples} < {s.path for s in half.samples}
    assert {s.path for s in gan_subset(gan, 0.5, seed=1).samples} != {s.path for s in half.samples}
    assert len(gan_subset(gan, 0.0, seed=0).samples) == 0 and gan_subset(gan, 1.0, seed=0) is gan
    with pytest.raises(ValueError, match="gan_fraction"):
        gan_subset(gan, 1.5, seed=0)


def test_kdef_q_with_knobs_through_the_datamodule(world):
    dm = setup(data_cfg(world, "kdef_q", "data.gan_fraction=0.5", "data.offline_aug.enabled=true"))
    train = dm.train_set.samples
    gan = [s for s in train if s.origin == "gan"]
    assert 0 < len(gan) <= 7 * GAN_PER_CLASS // 2
    cfg = data_cfg(world, "kdef_q")
    allowed = gan_subset(load_source("gan_q", cfg.sources.gan_q, cfg.faces, 32, "gray", world / "cache"), 0.5, 0)
    assert {s.path for s in gan} <= {s.path for s in allowed.samples}
    # offline augmentation applies to the original images only, never to the GAN samples
    aug = [s for s in train if s.origin == "offline_aug"]
    assert aug and all(s.subject.startswith("kdef:") for s in aug)
    assert {s.origin for s in dm.val_set.samples} == {"original"}


def test_kdef_gan_q_trains_on_gan_samples_alone_and_validates_on_held_out_ones(world):
    dm = setup(data_cfg(world, "kdef_gan_q"))
    assert {s.origin for s in dm.train_set.samples} == {"gan"}
    assert len(dm.val_set.samples) and {s.origin for s in dm.val_set.samples} == {"gan"}
    assert not {s.path for s in dm.train_set.samples} & {s.path for s in dm.val_set.samples}


def test_kdef_pfa_q_face_swaps_follow_their_kdef_subject(world):
    dm = setup(data_cfg(world, "kdef_pfa_q", "data.offline_aug.enabled=true", "data.offline_aug.copies=1"))
    train, val = dm.train_set.samples, dm.val_set.samples
    origins = {s.origin for s in train}
    assert origins == {"original", "pfa", "gan", "offline_aug"}
    pfa = [s for s in train if s.origin == "pfa"]
    val_subjects = {s.subject for s in val}
    assert {s.subject for s in pfa} <= {f"kdef:{x}" for x in PFA_SUBJECTS}
    assert val_subjects & {f"kdef:{x}" for x in PFA_SUBJECTS}  # some swaps belonged to validation subjects...
    assert not {s.subject for s in pfa} & val_subjects  # ...and none of them reached training
    assert len(pfa) == 7 * len({s.subject for s in pfa})
