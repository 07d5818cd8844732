"""Offline augmentation: transforms, determinism, the generate.py task, resume, idempotence, settings guard."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from omegaconf import open_dict
from PIL import Image

import fer.data.offline_aug as A
from fer.classes import CLASSES
from fer.data.catalogue import load_source, read_dataset
from fer.data.offline_aug import AugmentSettings, AugmentSettingsError, augment_to_folder, draw_params
from fer.data.readers.augmented import read_augmented
from tests.conftest import ROOT, compose_cfg

SYNTH_CROP = [0.14, 0.159, 0.86, 0.691]  # where the synthetic renderer puts KDEF faces
IDENTITY = {"rotation": 0.0, "zoom": 1.0, "flip": False, "height": 1.0, "width": 1.0, "contrast": 1.0}


@pytest.fixture(scope="module")
def kdef_root(tmp_path_factory) -> Path:
    """A small synthetic KDEF tree (3 subjects, frontal only: 42 images)."""
    from fer.synthetic import render

    root = tmp_path_factory.mktemp("kdef") / "KDEF_and_AKDEF"
    render("kdef", root, subjects=3, angles=("S",), akdef=False)
    return root


@pytest.fixture(scope="module")
def prepared(kdef_root, tmp_path_factory):
    """Its face crops at 40 px, grey, through the real source loader and cache."""
    src = {"reader": "kdef", "root": str(kdef_root), "options": {"angles": ["S"]}}
    return load_source(
        "kdef", src, {"detector": "none", "crop": SYNTH_CROP}, 40, "gray", tmp_path_factory.mktemp("cache")
    )


SMALL = AugmentSettings(copies=2)


def files_of(out: Path) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*.png")) if p.name != A.PREVIEW}


# --- the transforms -------------------------------------------------------------------------------------


def test_params_are_deterministic_and_within_ranges():
    s = AugmentSettings(rotation=7, zoom=(0.8, 1.2), height=(0.95, 1.05), width=(0.9, 1.0), contrast=(0.5, 1.5))
    assert draw_params(s, "KDEF/AF01/AF01ANS.JPG", 3) == draw_params(s, "KDEF/AF01/AF01ANS.JPG", 3)
    draws = [draw_params(s, f"img{i}", c) for i in range(300) for c in range(5)]
    assert len({json.dumps(d, sort_keys=True) for d in draws}) == len(draws)  # every copy differs
    for name, (lo, hi) in {
        "rotation": (-7, 7),
        "zoom": s.zoom,
        "height": s.height,
        "width": s.width,
        "contrast": s.contrast,
    }.items():
        v = np.array([d[name] for d in draws])
        assert lo <= v.min() and v.max() <= hi, name
        assert v.max() - v.min() > 0.8 * (hi - lo), f"{name} does not cover its range"
    assert 0.45 < np.mean([d["flip"] for d in draws]) < 0.55
    assert draw_params(AugmentSettings(seed=1), "x", 0) != draw_params(AugmentSettings(seed=0), "x", 0)


def test_identity_parameters_return_the_crop_and_flip_mirrors_it():
    img = np.random.default_rng(0).integers(0, 256, (40, 40, 1), dtype=np.uint8)
    for fill in ("reflect", 0):
        s = AugmentSettings(fill=fill)
        np.testing.assert_array_equal(A.apply_params(img, IDENTITY, s), img)  # the warp is centred, no shift
        np.testing.assert_array_equal(A.apply_params(img, {**IDENTITY, "flip": True}, s), img[:, ::-1])
    rgb = np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    assert A.apply_params(rgb, {**IDENTITY, "rotation": 9.0}, AugmentSettings()).shape == rgb.shape


def test_each_kind_changes_the_image_as_named():
    y, x = np.mgrid[0:64, 0:64]
    img = (((x // 8 + y // 8) % 2) * 140 + 60).astype(np.uint8)[:, :, None]  # a checkerboard
    s = AugmentSettings()
    high = A.apply_params(img, {**IDENTITY, "contrast": 1.5}, s).astype(float)
    low = A.apply_params(img, {**IDENTITY, "contrast": 0.6}, s).astype(float)
    assert high.std() > img.std() > low.std()
    band = np.zeros((64, 64, 1), np.uint8)
    band[28:36] = 255  # a horizontal bar 8 rows thick
    tall = A.apply_params(band, {**IDENTITY, "height": 1.25}, s)[:, :, 0]
    wide = A.apply_params(band, {**IDENTITY, "width": 1.25}, s)[:, :, 0]
    thickness = lambda line: line.astype(float).sum() / 255  # noqa: E731  (sub-pixel: area, not a threshold)
    assert abs(thickness(tall[:, 32]) - 10) < 0.3 and abs(thickness(wide[:, 32]) - 8) < 0.3  # height resize: x1.25
    flat = A.apply_params(band.transpose(1, 0, 2).copy(), {**IDENTITY, "width": 1.25}, s)[:, :, 0]
    assert abs(thickness(flat[32]) - 10) < 0.3  # width resize thickens a vertical bar
    rot = A.apply_params(img, {**IDENTITY, "rotation": 10.0}, AugmentSettings(fill=255))
    assert rot.min() < 200 and not np.array_equal(rot, img)
    flat_grey, zoom_out = np.full((40, 40, 1), 100, np.uint8), {**IDENTITY, "rotation": 10.0, "zoom": 0.9}
    assert A.apply_params(flat_grey, zoom_out, AugmentSettings()).min() == 100  # reflected border: no empty corners
    assert A.apply_params(flat_grey, zoom_out, AugmentSettings(fill=255)).max() == 255  # constant border shows


def test_invalid_settings_are_rejected():
    with pytest.raises(ValueError, match="zoom"):
        AugmentSettings(zoom=(1.2, 0.8))
    with pytest.raises(ValueError, match="copies"):
        AugmentSettings(copies=0)
    with pytest.raises(ValueError, match="fill"):
        AugmentSettings(fill="mirror")


# --- writing a folder -----------------------------------------------------------------------------------


def test_folder_layout_manifest_and_reader(prepared, kdef_root, tmp_path):
    out = tmp_path / "aug"
    summary = augment_to_folder(prepared, SMALL, out, kdef_root, name="kdef", workers=1, preview=3)
    n = len(prepared.samples)
    assert summary["images"] == summary["written"] == 2 * n
    manifest = json.loads((out / A.MANIFEST).read_text())
    assert manifest["complete"] and len(manifest["rows"]) == 2 * n
    by_path = {s.path: s for s in prepared.samples}
    for row in manifest["rows"]:
        src = by_path[row["source_path"]]
        assert row["file"].startswith(CLASSES[src.label] + "/") and (out / row["file"]).is_file()
        assert row["subject"] == src.subject and row["label"] == src.label
        assert row["source"] == Path(src.path).relative_to(kdef_root).as_posix()
        assert set(row["params"]) == {"rotation", "zoom", "flip", "height", "width", "contrast"}
        assert row["params"] == draw_params(SMALL, row["source"], row["copy"])
    # read back: source subject, origin offline_aug, source = the original's path; pixels as written
    samples = read_dataset("augmented", out, source_root=str(kdef_root))
    assert len(samples) == 2 * n and {s.origin for s in samples} == {"offline_aug"}
    for s in samples:
        assert s.source in by_path and s.subject == by_path[s.source].subject and s.label == by_path[s.source].label
    i = next(i for i, s in enumerate(prepared.samples) if s.path == samples[0].source)
    expect = A.apply_params(np.asarray(prepared.images[i]), samples[0].meta["params"], SMALL)
    np.testing.assert_array_equal(np.asarray(Image.open(samples[0].path))[:, :, None], expect)
    grid = np.asarray(Image.open(out / A.PREVIEW))
    assert len(manifest["preview"]) == 3 and grid.shape[:2] == (4 + 3 * 44, 4 + 3 * 44)  # 3 rows, 1 + 2 columns


def test_same_images_with_any_workers_and_any_root(prepared, kdef_root, tmp_path):
    augment_to_folder(prepared, SMALL, tmp_path / "w1", kdef_root, workers=1, preview=0)
    augment_to_folder(prepared, SMALL, tmp_path / "w2", kdef_root, workers=2, preview=0)
    one = files_of(tmp_path / "w1")
    assert one == files_of(tmp_path / "w2") and len(one) == 2 * len(prepared.samples)
    # the same dataset at another path (another machine): same images, seeded by paths relative to the root
    moved = tmp_path / "elsewhere"
    shutil.copytree(kdef_root, moved)
    other = load_source(
        "kdef",
        {"reader": "kdef", "root": str(moved)},
        {"detector": "none", "crop": SYNTH_CROP},
        40,
        "gray",
        tmp_path / "cache",
    )
    augment_to_folder(other, SMALL, tmp_path / "moved", moved, workers=1, preview=0)
    assert files_of(tmp_path / "moved") == one
    augment_to_folder(prepared, AugmentSettings(copies=2, seed=1), tmp_path / "seed1", kdef_root, workers=1, preview=0)
    assert files_of(tmp_path / "seed1") != one


def test_interrupted_run_resumes_where_it_stopped(prepared, kdef_root, tmp_path, monkeypatch):
    reference = tmp_path / "ref"
    augment_to_folder(prepared, SMALL, reference, kdef_root, workers=1, preview=0)
    out = tmp_path / "aug"
    real_save, calls = A._save_png, {"n": 0}

    def dying_save(img, path):
        if calls["n"] == 30:
            path.with_name(f".{path.name}.tmp999").write_bytes(b"half a png")  # as a killed writer leaves it
            raise KeyboardInterrupt("killed")
        calls["n"] += 1
        real_save(img, path)

    monkeypatch.setattr(A, "_save_png", dying_save)
    with pytest.raises(KeyboardInterrupt):
        augment_to_folder(prepared, SMALL, out, kdef_root, workers=1, preview=0)
    assert not (out / A.MANIFEST).exists()
    with pytest.raises(FileNotFoundError, match="interrupted"):
        read_augmented(out)
    done = {p: p.stat().st_mtime_ns for p in out.rglob("*.png")}
    assert len(done) == 30
    monkeypatch.setattr(A, "_save_png", real_save)
    summary = augment_to_folder(prepared, SMALL, out, kdef_root, workers=1, preview=0)
    assert summary["written"] == 2 * len(prepared.samples) - 30
    assert all(p.stat().st_mtime_ns == t for p, t in done.items()), "finished images were redone"
    assert not list(out.rglob(".*.tmp*"))
    assert files_of(out) == files_of(reference)


def test_second_run_changes_nothing(prepared, kdef_root, tmp_path, monkeypatch):
    out = tmp_path / "aug"
    first = augment_to_folder(prepared, SMALL, out, kdef_root, workers=1, preview=2)

    def snapshot():
        return {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in out.rglob("*")}

    before = snapshot()
    monkeypatch.setattr(A, "apply_params", lambda *a: pytest.fail("a complete folder was augmented again"))
    again = augment_to_folder(prepared, SMALL, out, kdef_root, workers=1, preview=2)
    assert again["written"] == 0 and again["key"] == first["key"] and again["images"] == first["images"]
    assert snapshot() == before


def test_other_settings_fail_clearly_or_go_to_their_own_folder(prepared, kdef_root, tmp_path):
    out = tmp_path / "aug"
    augment_to_folder(prepared, SMALL, out, kdef_root, workers=1, preview=0)
    with pytest.raises(AugmentSettingsError, match=r"copies: 2 -> 3.*choose another out_dir"):
        augment_to_folder(prepared, AugmentSettings(copies=3), out, kdef_root, workers=1, preview=0)
    with pytest.raises(AugmentSettingsError, match="source crops"):
        augment_to_folder(prepared.subset(range(10)), SMALL, out, kdef_root, workers=1, preview=0)
    assert len(files_of(out)) == 2 * len(prepared.samples)  # the failed runs touched nothing
    # keyed folders (the training-time cache): each setting its own folder, both kept
    a = augment_to_folder(prepared, SMALL, None, kdef_root, name="kdef", workers=1, preview=0, base_dir=tmp_path / "c")
    b = augment_to_folder(
        prepared, AugmentSettings(copies=1), None, kdef_root, name="kdef", workers=1, preview=0, base_dir=tmp_path / "c"
    )
    assert a["out_dir"] != b["out_dir"] and Path(a["out_dir"]).parent == Path(b["out_dir"]).parent
    assert len(files_of(Path(a["out_dir"]))) == 2 * len(prepared.samples) and len(files_of(Path(b["out_dir"]))) == len(
        prepared.samples
    )


def test_a_foreign_folder_is_never_written_into(prepared, kdef_root, tmp_path):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "holiday.jpg").write_bytes(b"not ours")
    with pytest.raises(AugmentSettingsError, match=r"not empty \(holiday.jpg\).*not an offline-augmentation folder"):
        augment_to_folder(prepared, SMALL, tmp_path / "photos", kdef_root, workers=1, preview=0)
    assert [p.name for p in (tmp_path / "photos").iterdir()] == ["holiday.jpg"]


def test_reader_errors_name_the_folder_and_the_command(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no manifest.json.*python generate.py task=augment"):
        read_augmented(tmp_path)


class ImageLogger:
    """Stands in for an image-capable logger (W&B's `log_image`); records its calls in a JSON file."""

    def __init__(self, record: str):
        self.record = Path(record)

    def log_metrics(self, metrics, step=None):
        pass

    def log_image(self, key, images):
        self.record.write_text(json.dumps([key, images]))

    def save(self):
        pass


# --- the generate.py task -------------------------------------------------------------------------------


def test_generate_task_through_the_config(kdef_root, tmp_path):
    from generate import generate

    cfg = compose_cfg(
        [
            "task=augment",
            "dataset=kdef",
            f"dataset.root={kdef_root}",
            f"out_dir={tmp_path / 'out'}",
            "faces=none",
            f"faces.crop=[{','.join(map(str, SYNTH_CROP))}]",
            "image_size=32",
            "augment.copies=1",
            "augment.workers=1",
            "logger=csv",
            f"paths.root_dir={tmp_path}",
            "+logger.images._target_=tests.unit.data.test_offline_aug.ImageLogger",
            f"+logger.images.record={tmp_path / 'logged.json'}",
        ],
        config_name="generate.yaml",
    )
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path / "run")
    result = generate(cfg)
    assert result["images"] == result["sources"] == 42 and result["dataset"] == "kdef"
    img = np.asarray(Image.open(next((tmp_path / "out" / "happy").glob("*.png"))))
    assert img.shape == (32, 32)
    assert json.loads((tmp_path / "logged.json").read_text()) == [
        "augment/preview",
        [str(tmp_path / "out" / A.PREVIEW)],
    ]
    assert "augment/images" in (tmp_path / "run" / "csv" / "version_0" / "metrics.csv").read_text()
    # the task's ranges are the training-time switch's ranges (one file)
    train = compose_cfg(["data=kdef", f"paths.root_dir={tmp_path}"])
    task = compose_cfg(["task=augment", f"paths.root_dir={tmp_path}"], config_name="generate.yaml")
    ranges = {k: v for k, v in train.data.offline_aug.items() if k not in ("enabled", "dir")}
    assert ranges == {k: v for k, v in task.augment.items() if k != "preview"} and ranges["copies"] == 5
    assert AugmentSettings.from_config(cfg.augment) == AugmentSettings(copies=1)


def test_generate_command_line_exact_form(kdef_root, tmp_path):
    """The form outside scripts call, in a fresh process, with the default face detector and 224 px."""
    small = tmp_path / "kdef2"
    from fer.synthetic import render

    render("kdef", small, subjects=1, angles=("S",), akdef=False)
    env = {**os.environ, "FER_ROOT": str(tmp_path), "FER_CACHE_DIR": str(tmp_path / "cache")}
    cmd = [
        sys.executable,
        str(ROOT / "generate.py"),
        "task=augment",
        "dataset=kdef",
        f"dataset.root={small}",
        f"out_dir={tmp_path / 'out'}",
    ]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads((tmp_path / "out" / A.MANIFEST).read_text())["rows"]
    assert len(rows) == 14 * 5 and {r["subject"] for r in rows} == {"kdef:F01"}
    assert Image.open(tmp_path / "out" / rows[0]["file"]).size == (224, 224)
    assert (tmp_path / "out" / A.PREVIEW).is_file()
