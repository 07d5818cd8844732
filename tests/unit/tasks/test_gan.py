"""DCGAN per emotion: network shapes and init, one training epoch, sampling + manifest, the gan_q reading,
the exact `generate.py task=gan` command outside scripts use, and the gan_eval report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from omegaconf import OmegaConf, open_dict
from pytorch_lightning.loggers import CSVLogger
from torch.utils.data import DataLoader, TensorDataset

from fer.classes import CLASSES, class_index
from fer.data.catalogue import load_source
from fer.data.readers.folder import read_folder
from fer.models.components.dcgan import Discriminator, Generator
from fer.models.gan import GANModule
from tests.conftest import ROOT, compose_cfg

TINY = [
    "model.generator.features=8",
    "model.discriminator.features=8",
    "model.grid_size=8",
    "gan.batch_size=8",
    "+trainer.enable_progress_bar=false",
]
TINY_NETS = {
    "generator": {"_target_": "fer.models.components.dcgan.Generator", "features": 8},
    "discriminator": {"_target_": "fer.models.components.dcgan.Discriminator", "features": 8},
}


@pytest.fixture(scope="module")
def kdef_root(tmp_path_factory) -> Path:
    """A small synthetic KDEF tree (frontal only): 4 subjects x 2 series x 7 emotions."""
    from fer.synthetic import render

    root = tmp_path_factory.mktemp("kdef")
    render("kdef", root, subjects=4, angles=("S",), akdef=False)
    return root


def gan_cfg(tmp_path: Path, kdef_root: Path, overrides: list[str]):
    cfg = compose_cfg(
        [
            "task=gan",
            "logger=none",
            "faces=none",
            f"dataset.root={kdef_root}",
            f"paths.root_dir={tmp_path}",
            f"paths.cache_dir={tmp_path / 'cache'}",
            f"out_dir={tmp_path / 'gan_q'}",
            *TINY,
            *overrides,
        ],
        config_name="generate.yaml",
    )
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path / "run")
        cfg.hydra.runtime.output_dir = str(tmp_path / "run")
    return cfg


@pytest.mark.parametrize("size", [64, 128])
@pytest.mark.parametrize("channels", [1, 3])
def test_shapes_and_init(size, channels):
    g = Generator(latent_dim=100, image_size=size, channels=channels, features=8)
    d = Discriminator(image_size=size, channels=channels, features=8)
    x = g(torch.randn(3, 100))
    assert x.shape == (3, channels, size, size)
    assert x.min() >= -1 and x.max() <= 1  # tanh range
    assert d(x).shape == (3,)
    convs = [m.weight for m in g.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert abs(float(torch.cat([w.detach().flatten() for w in convs]).std()) - 0.02) < 0.003
    bn = [m for m in d.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bn and all(float(m.bias.abs().max()) == 0 for m in bn)
    assert abs(float(torch.cat([m.weight.detach() for m in bn]).mean()) - 1.0) < 0.01


def test_diffaugment_is_differentiable_and_random_per_image():
    from fer.models.gan import rand_cutout, rand_translation

    torch.manual_seed(0)
    x = torch.rand(16, 1, 64, 64, requires_grad=True)
    cut = rand_cutout(x)
    zeroed = (cut == 0).float().mean(dim=(1, 2, 3))
    assert cut.shape == x.shape and bool(((zeroed >= 0.06) & (zeroed <= 0.26)).all())  # a 32x32 hole, clipped at edges
    moved = rand_translation(x)
    assert moved.shape == x.shape and not torch.equal(moved, x)
    assert len({float(moved[i].sum()) for i in range(16)} - {float(x[i].sum()) for i in range(16)}) > 8
    (cut.sum() + moved.sum()).backward()  # gradients reach the input (the generator, for fakes)
    assert x.grad is not None and float(x.grad.abs().sum()) > 0
    with pytest.raises(ValueError, match="diffaugment"):
        GANModule(diffaugment=["color"])


def test_rejects_unsupported_size():
    with pytest.raises(ValueError, match="image_size=48"):
        Generator(image_size=48)


def test_one_epoch_moves_both_losses(tmp_path, kdef_root):
    faces = load_source(
        "kdef",
        {"reader": "kdef", "root": str(kdef_root), "options": {"angles": ["S"]}},
        {"detector": "none"},
        64,
        "gray",
        tmp_path / "cache",
    )
    happy = faces.subset(np.flatnonzero(faces.labels == class_index("happy")))
    x = torch.from_numpy(np.asarray(happy.images)).permute(0, 3, 1, 2).float() / 127.5 - 1
    loader = DataLoader(TensorDataset(x), batch_size=4, shuffle=True, drop_last=True)
    pl.seed_everything(0)
    model = GANModule(image_size=64, channels=1, grid_size=4, **TINY_NETS)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    logger = CSVLogger(tmp_path, name="csv")
    trainer = pl.Trainer(
        max_epochs=1,
        accelerator="cpu",
        logger=logger,
        log_every_n_steps=1,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, loader)
    batches = len(x) // 4
    assert trainer.global_step == 2 * batches  # every optimizer step (G and D) counts as a global step
    for net in ("generator", "discriminator"):
        keys = [k for k in before if k.startswith(net) and k.endswith("weight")]
        assert all(not torch.equal(before[k], model.state_dict()[k]) for k in keys), f"{net} did not train"
    for key in ("train/loss_d", "train/loss_g", "train/d_real", "train/d_fake"):
        assert torch.isfinite(trainer.callback_metrics[key])
    logger.finalize("success")
    rows = (Path(logger.log_dir) / "metrics.csv").read_text().splitlines()
    header = rows[0].split(",")
    assert {"train/loss_d_step", "train/loss_g_step", "train/loss_d", "train/loss_g"} <= set(header)
    loss_d = [r.split(",")[header.index("train/loss_d_step")] for r in rows[1:]]
    assert len([v for v in loss_d if v]) == batches


def test_step_losses_are_logged_on_the_steps_the_loggers_write(tmp_path):
    """Step values are computed only every `log_every_n_steps` batches, on exactly the batches Lightning writes."""
    loader = DataLoader(TensorDataset(torch.rand(28, 1, 64, 64) * 2 - 1), batch_size=4)  # 7 batches
    model = GANModule(image_size=64, channels=1, grid_size=4, diffaugment=[], **TINY_NETS)
    logger = CSVLogger(tmp_path, name="csv")
    trainer = pl.Trainer(
        max_epochs=2,
        accelerator="cpu",
        logger=logger,
        log_every_n_steps=3,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, loader)
    logger.finalize("success")
    rows = (Path(logger.log_dir) / "metrics.csv").read_text().splitlines()
    header = rows[0].split(",")
    written = [r.split(",") for r in rows[1:] if r.split(",")[header.index("train/loss_d_step")]]
    assert len(written) == 14 // 3  # batches 3, 6, 9, 12 of the 14 (counted across epochs)


def test_sampling_manifest_resume_and_reading(tmp_path, kdef_root):
    from fer.tasks import gan as task

    cfg = gan_cfg(tmp_path, kdef_root, ["emotion=[happy,sad]", "gan.max_epochs=1", "gan.samples_per_class=7"])
    result = task.run(cfg)
    out = tmp_path / "gan_q"
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["classes"]) == {"happy", "sad"}
    subjects = sorted({f"kdef:{g}{n:02d}" for g in "FM" for n in (1, 2)})
    for emotion, entry in manifest["classes"].items():
        files = sorted(p.name for p in (out / emotion).glob("*.png"))
        assert len(files) == 7 and [f"{emotion}/{f}" for f in files] == sorted(entry["files"])
        assert Path(entry["checkpoint"]).is_file() and entry["seed"] == cfg.gan.sample_seed
        assert entry["seen_subjects"] == subjects and entry["train_images"] == 8
        img = cv2.imread(str(out / entry["files"][0]), cv2.IMREAD_UNCHANGED)
        assert img.shape == (64, 64) and img.dtype == np.uint8
        assert result["classes"][emotion]["samples"] == 7
        assert list((Path(entry["run_dir"]) / "grids").glob("epoch_000.png"))

    # The manifest tells a k-fold split which test subjects each GAN saw (the data module's reader agrees).
    from fer.data.gan_manifest import leaked_subjects, read_gan_seen_subjects

    assert read_gan_seen_subjects(out) == set(subjects)
    assert leaked_subjects(out, ["kdef:F01", "kdef:F09"]) == {"happy": ["kdef:F01"], "sad": ["kdef:F01"]}
    task.run(
        gan_cfg(
            tmp_path,
            kdef_root,
            ["emotion=sad", "gan.max_epochs=1", "gan.samples_per_class=7", "gan.exclude_subjects=[kdef:F01]"],
        )
    )
    assert leaked_subjects(out, ["kdef:F01"]) == {"happy": ["kdef:F01"]}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["classes"]["sad"]["train_images"] == 6

    # The gan_q source (folder reader, origin gan) picks the samples up; each image is its own subject.
    samples = read_folder(out, name="gan_q", origin="gan")
    assert len(samples) == 14 and {s.origin for s in samples} == {"gan"}
    assert {CLASSES[s.label] for s in samples} == {"happy", "sad"} and len({s.subject for s in samples}) == 14
    prepared = load_source(
        "gan_q",
        {**OmegaConf.to_container(cfg.sources.gan_q, resolve=True), "root": str(out)},
        cfg.faces,
        32,
        "gray",
        tmp_path / "cache",
    )
    assert np.bincount(prepared.labels, minlength=7)[[class_index("happy"), class_index("sad")]].tolist() == [7, 7]

    # Sampling is deterministic for a seed, and a rerun with the same settings skips it.
    happy = manifest["classes"]["happy"]
    first = (out / happy["files"][0]).read_bytes()
    mtime = (out / happy["files"][0]).stat().st_mtime_ns
    model = GANModule.load_from_checkpoint(happy["checkpoint"], map_location="cpu")
    assert torch.equal(model.sample(3, seed=happy["seed"]), model.sample(3, seed=happy["seed"]))
    assert not torch.equal(model.sample(3, seed=1), model.sample(3, seed=2))
    task.run(gan_cfg(tmp_path, kdef_root, ["emotion=happy", "gan.max_epochs=1", "gan.samples_per_class=7"]))
    assert (out / happy["files"][0]).stat().st_mtime_ns == mtime

    # More epochs resume the same run (epoch 1 -> 2); resampled files are identical to a fresh draw.
    task.run(gan_cfg(tmp_path, kdef_root, ["emotion=happy", "gan.max_epochs=2", "gan.samples_per_class=7"]))
    again = json.loads((out / "manifest.json").read_text())["classes"]
    assert again["happy"]["epochs"] == 2 and again["happy"]["run_dir"] == happy["run_dir"]
    assert again["sad"] == manifest["classes"]["sad"]  # the other class's entry survives the merge
    assert (out / "happy" / "happy_0000.png").read_bytes() != first
    resampled = GANModule.load_from_checkpoint(again["happy"]["checkpoint"], map_location="cpu").sample(7, seed=0)
    from fer.models.gan import to_uint8

    on_disk = cv2.imread(str(out / "happy" / "happy_0006.png"), cv2.IMREAD_GRAYSCALE)
    assert np.array_equal(to_uint8(resampled)[6, 0].numpy(), on_disk)


def test_extra_web_faces_join_training(tmp_path, kdef_root):
    from fer.data.catalogue import MissingSourceError
    from fer.tasks import gan as task

    web = tmp_path / "web_faces"
    (web / "happy").mkdir(parents=True)
    (web / "sad").mkdir()
    for i, src in enumerate(sorted(kdef_root.rglob("*HAS.JPG"))[:3]):
        cv2.imwrite(str(web / "happy" / f"actor{i}.jpg"), cv2.imread(str(src)))
    cv2.imwrite(str(web / "sad" / "actor9.jpg"), cv2.imread(str(src)))
    cfg = gan_cfg(
        tmp_path,
        kdef_root,
        ["emotion=happy", "gan.max_epochs=1", "gan.samples_per_class=2", "gan.extra_sources=[web]", f"paths.web={web}"],
    )
    task.run(cfg)
    entry = json.loads((tmp_path / "gan_q" / "manifest.json").read_text())["classes"]["happy"]
    assert entry["train_sources"] == {"kdef": 8, "web": 3} and entry["train_images"] == 11
    assert [s for s in entry["seen_subjects"] if s.startswith("web:")] == [f"web:happy/actor{i}.jpg" for i in range(3)]
    with pytest.raises(MissingSourceError, match="paths.web"):
        task.run(
            gan_cfg(
                tmp_path, kdef_root, ["emotion=happy", "gan.extra_sources=[web]", f"paths.web={tmp_path / 'nowhere'}"]
            )
        )


def _merge(args):
    from fer.data.gan_manifest import merge_manifest

    out, emotion = args
    merge_manifest(Path(out), emotion, {"files": [f"{emotion}/{emotion}_0000.png"], "seed": 0})


def test_parallel_jobs_merge_the_manifest(tmp_path):
    """Emotions may run as parallel jobs: every class's entry survives the concurrent merges."""
    import multiprocessing as mp

    with mp.get_context("fork").Pool(4) as pool:  # fork: cheap; the lock is a file lock, as between jobs
        pool.map(_merge, [(str(tmp_path), e) for e in CLASSES])
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert sorted(manifest["classes"]) == sorted(CLASSES)


def test_unknown_emotion_is_a_clear_error(tmp_path, kdef_root):
    from fer.tasks import gan as task

    assert task.emotions("all") == list(CLASSES)

    with pytest.raises(ValueError, match="unknown class 'joy'"):
        task.run(gan_cfg(tmp_path, kdef_root, ["emotion=joy"]))
    with pytest.raises(ValueError, match="emotion=<class> or emotion=all"):
        task.run(gan_cfg(tmp_path, kdef_root, []))


def test_generate_command_as_outside_scripts_call_it(tmp_path, kdef_root):
    """The exact contract: real sources (Haar detector, centre-crop fallback), 64 px defaults, 150 samples."""
    out = tmp_path / "gan_out"
    env = {**os.environ, "FER_ROOT": str(tmp_path), "PYTHONWARNINGS": "ignore"}
    cmd = [
        sys.executable,
        str(ROOT / "generate.py"),
        "task=gan",
        "emotion=happy",
        "dataset=kdef",
        f"dataset.root={kdef_root}",
        "gan.max_epochs=1",
        f"out_dir={out}",
        "logger=none",
    ]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(list((out / "happy").glob("*.png"))) >= 150
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(manifest["classes"]["happy"]["files"]) == 150


def test_multirun_over_emotions(tmp_path, kdef_root):
    """`-m emotion=a,b`: one Hydra job per emotion, all writing into one out_dir and one manifest."""
    out = tmp_path / "gan_out"
    env = {**os.environ, "FER_ROOT": str(tmp_path), "PYTHONWARNINGS": "ignore"}
    cmd = [
        sys.executable,
        str(ROOT / "generate.py"),
        "-m",
        "task=gan",
        "emotion=angry,fear",
        "faces=none",
        f"dataset.root={kdef_root}",
        "gan.max_epochs=1",
        "gan.samples_per_class=3",
        f"out_dir={out}",
        "logger=none",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
        *TINY,
    ]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    manifest = json.loads((out / "manifest.json").read_text())
    assert sorted(manifest["classes"]) == ["angry", "fear"]
    assert all(len(list((out / e).glob("*.png"))) == 3 for e in ("angry", "fear"))


# ---------------------------------------------------------------------------------------------------------
# gan_eval


@pytest.fixture
def classifier_ckpt(tmp_path) -> Path:
    """A real train.py-style run folder: the composed train config in .hydra/config.yaml and a Lightning
    checkpoint of ClassifierModule (random weights, one optimizer step on random data). Its faces are whole
    images (faces=none): GAN evaluation crops with the classifier's own face pipeline."""
    from hydra.utils import instantiate

    cfg = compose_cfg(
        [
            "backbone=resnet10t",
            "backbone.pretrained=false",
            "backbone.input_size=32",
            "faces=none",
            "logger=none",
            f"paths.root_dir={tmp_path}",
        ]
    )
    run = tmp_path / "clf_run"
    (run / ".hydra").mkdir(parents=True)
    plain = OmegaConf.create({k: v for k, v in OmegaConf.to_container(cfg).items() if k != "hydra"})
    OmegaConf.save(plain, run / ".hydra" / "config.yaml")
    model = instantiate(cfg.model)
    x = torch.randint(0, 255, (8, 1, 32, 32), dtype=torch.uint8)
    y = torch.randint(0, 7, (8,))
    trainer = pl.Trainer(
        max_steps=1,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, DataLoader(TensorDataset(x, y), batch_size=8))
    ckpt = run / "checkpoints" / "last.ckpt"
    trainer.save_checkpoint(ckpt)
    return ckpt


def test_gan_eval_reports_accuracy_collapse_and_copies(tmp_path, kdef_root, classifier_ckpt):
    from fer.tasks import gan_eval

    # Samples: "happy" = real happy faces themselves (copies); "sad" = one sad face repeated (collapse).
    # Written at the classifier's input size, so the eval's crops of samples and of real faces are identical.
    faces = load_source(
        "kdef", {"reader": "kdef", "root": str(kdef_root)}, {"detector": "none"}, 32, "gray", tmp_path / "cache"
    )
    samples = tmp_path / "samples"
    for emotion, idx in (
        ("happy", np.flatnonzero(faces.labels == 3)),
        ("sad", [np.flatnonzero(faces.labels == 5)[0]] * 6),
    ):
        (samples / emotion).mkdir(parents=True)
        for i, j in enumerate(idx):
            cv2.imwrite(str(samples / emotion / f"{emotion}_{i:04d}.png"), np.asarray(faces.images[j])[:, :, 0])
    cfg = compose_cfg(
        [
            "task=gan_eval",
            "logger=none",
            "faces=none",
            f"dataset.root={kdef_root}",
            f"paths.root_dir={tmp_path}",
            f"paths.cache_dir={tmp_path / 'cache'}",
            f"gan_eval.checkpoint={classifier_ckpt}",
            f"gan_eval.samples_dir={samples}",
            f"out_dir={tmp_path / 'eval'}",
        ],
        config_name="generate.yaml",
    )
    result = gan_eval.run(cfg)
    report = json.loads((tmp_path / "eval" / "gan_eval.json").read_text())
    assert set(report["classes"]) == {"happy", "sad"}
    happy, sad = report["classes"]["happy"], report["classes"]["sad"]
    assert happy["samples"] == 8 and sad["samples"] == 6
    for r in (happy, sad):
        assert 0 <= r["accuracy"] <= 1 and sum(r["predicted"].values()) == r["samples"]
    assert result["accuracy"]["happy"] == happy["accuracy"]
    # Copies of training faces sit at distance ~0 from them; a repeated image has no diversity at all.
    assert happy["possible_copies"] == 8 and happy["nn_distance_median"] < 1e-3 and not happy["collapse"]
    assert sad["collapse"] and sad["diversity_samples"] < 1e-6
    assert any("mode collapse" in w for w in report["warnings"])
    rows = (tmp_path / "eval" / "gan_eval_samples.csv").read_text().splitlines()
    assert len(rows) == 1 + 14 and rows[0].startswith("file,class,predicted,correct,confidence,nn_distance")


def test_gan_eval_names_missing_run_config(tmp_path, classifier_ckpt):
    from fer.tasks.gan_eval import load_classifier

    moved = tmp_path / "elsewhere.ckpt"
    moved.write_bytes(classifier_ckpt.read_bytes())
    with pytest.raises(FileNotFoundError, match="gan_eval.run_config"):
        load_classifier(moved)
    model, pipeline = load_classifier(moved, str(classifier_ckpt.parent.parent / ".hydra" / "config.yaml"))
    assert (pipeline.size, pipeline.color, pipeline.faces.detector) == (32, "gray", "none")
    assert list(model.hparams.class_names) == list(CLASSES)
    assert model(torch.zeros(2, 1, 32, 32, dtype=torch.uint8)).shape == (2, 7)
