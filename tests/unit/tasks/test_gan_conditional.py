"""The conditional GAN under `generate.py task=gan model=gan_conditional emotion=all`: trained once on every
emotion, 150 samples per emotion in the per-emotion GANs' folder layout and manifest, with the generator named;
and gan_eval's KID / precision / recall, including a planted check that KID can fail."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from fer.classes import CLASSES
from fer.data.catalogue import load_source
from fer.data.gan_manifest import leaked_subjects, merge_manifest
from tests.conftest import compose_cfg
from tests.unit.tasks.test_gan import classifier_ckpt, gan_cfg  # noqa: F401 (a fixture)

CONDITIONAL = ["model=gan_conditional", "model.grid_size=7"]


@pytest.fixture(scope="module")
def kdef_root(tmp_path_factory) -> Path:
    """A synthetic KDEF tree (frontal only): 10 subjects x 2 series x 7 emotions."""
    from fer.synthetic import render

    root = tmp_path_factory.mktemp("kdef")
    render("kdef", root, subjects=10, angles=("S",), akdef=False)
    return root


def test_conditional_gan_trains_once_and_samples_every_emotion(tmp_path, kdef_root):
    from fer.tasks import gan as task

    cfg = gan_cfg(tmp_path, kdef_root, [*CONDITIONAL, "emotion=all", "gan.max_epochs=1"])
    assert cfg.gan.samples_per_class == 150
    result = task.run(cfg)
    out = tmp_path / "gan_q"
    manifest = json.loads((out / "manifest.json").read_text())
    assert sorted(manifest["classes"]) == sorted(CLASSES)
    entries = manifest["classes"].values()
    assert {e["generator"] for e in entries} == {"conditional"}
    assert len({e["checkpoint"] for e in entries}) == 1  # one GAN for all emotions ...
    assert [p.name for p in (tmp_path / "gan_q" / "_runs").iterdir()] == ["all"]
    subjects = {f"kdef:{g}{n:02d}" for g in "FM" for n in range(1, 6)}
    for emotion, entry in manifest["classes"].items():
        files = sorted(p.name for p in (out / emotion).glob("*.png"))
        assert len(files) == 150 and [f"{emotion}/{f}" for f in files] == sorted(entry["files"])
        # ... that saw every subject's faces of every emotion: the leakage rules treat all of them as seen.
        assert set(entry["seen_subjects"]) == subjects and entry["train_images"] == 140
        assert result["classes"][emotion]["samples"] == 150
    assert leaked_subjects(out, ["kdef:F01"]) == {c: ["kdef:F01"] for c in CLASSES}

    # The samples are read back as the gan_q source, each class in its folder.
    prepared = load_source(
        "gan_q",
        {"reader": "folder", "root": str(out), "options": {"origin": "gan"}},
        {"detector": "none"},
        32,
        "gray",
        tmp_path / "cache",
    )
    assert np.bincount(prepared.labels, minlength=7).tolist() == [150] * 7

    # A rerun with the same settings neither trains nor samples again; a per-emotion DCGAN replaces one class.
    mtime = (out / "happy" / "happy_0000.png").stat().st_mtime_ns
    task.run(cfg)
    assert (out / "happy" / "happy_0000.png").stat().st_mtime_ns == mtime
    task.run(gan_cfg(tmp_path, kdef_root, ["emotion=sad", "gan.max_epochs=1", "gan.samples_per_class=150"]))
    classes = json.loads((out / "manifest.json").read_text())["classes"]
    assert classes["sad"]["generator"] == "per_emotion" and classes["happy"]["generator"] == "conditional"
    assert classes["sad"]["train_images"] == 20


def write_folder(root: Path, images_by_class: dict[str, list[np.ndarray]]) -> Path:
    for emotion, images in images_by_class.items():
        (root / emotion).mkdir(parents=True)
        for i, img in enumerate(images):
            cv2.imwrite(str(root / emotion / f"{emotion}_{i:04d}.png"), img)
    return root


def test_kid_ranks_real_faces_above_noise_and_a_collapsed_generator(tmp_path, kdef_root, classifier_ckpt):  # noqa: F811
    """A planted check: as "samples", real faces of the GAN's subjects, noise, and one face repeated (collapse),
    each judged against held-out subjects' faces. KID must rank the real faces best."""
    from fer.tasks import gan_eval

    faces = load_source(
        "kdef", {"reader": "kdef", "root": str(kdef_root)}, {"detector": "none"}, 32, "gray", tmp_path / "cache"
    )
    seen = [f"kdef:{g}{n:02d}" for g in "FM" for n in range(1, 6)[:3]]  # 6 subjects "trained the GAN"; 4 held out
    rng = np.random.default_rng(0)
    kinds = {"real": {}, "noise": {}, "collapsed": {}}
    for label, emotion in enumerate(CLASSES):
        own = [
            np.asarray(faces.images[i])[:, :, 0]
            for i in np.flatnonzero(faces.labels == label)
            if faces.samples[i].subject in seen
        ]
        kinds["real"][emotion] = own
        kinds["noise"][emotion] = [rng.integers(0, 256, (32, 32), dtype=np.uint8) for _ in own]
        kinds["collapsed"][emotion] = [own[0]] * len(own)
    reports = {}
    for kind, images in kinds.items():
        folder = write_folder(tmp_path / kind, images)
        for emotion in CLASSES:
            merge_manifest(folder, emotion, {"files": [], "seen_subjects": seen, "generator": kind})
        cfg = compose_cfg(
            [
                "task=gan_eval",
                "logger=none",
                "faces=none",
                f"dataset.root={kdef_root}",
                f"paths.root_dir={tmp_path}",
                f"paths.cache_dir={tmp_path / 'cache'}",
                f"gan_eval.checkpoint={classifier_ckpt}",
                f"gan_eval.samples_dir={folder}",
                "gan_eval.kid_subset_size=50",
                "gan_eval.min_held_out=8",
                f"out_dir={tmp_path / 'eval' / kind}",
            ],
            config_name="generate.yaml",
        )
        gan_eval.run(cfg)
        reports[kind] = json.loads((tmp_path / "eval" / kind / "gan_eval.json").read_text())
    real, noise, collapsed = (reports[k]["overall"] for k in ("real", "noise", "collapsed"))
    assert real["reference"] == "held_out" and real["real_images"] == 7 * 8  # 4 held-out subjects x 2 series
    assert real["kid"] < noise["kid"] and real["kid"] < collapsed["kid"]
    assert collapsed["recall"] < real["recall"]  # collapse loses coverage
    happy = reports["real"]["classes"]["happy"]
    assert {"kid", "kid_std", "precision", "recall"} <= set(happy) and happy["generator"] == "real"
    # No local ImageNet weights in the tests: the classifier's features, and the report says so.
    assert reports["real"]["feature_network"].startswith("classifier:")
