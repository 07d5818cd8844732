"""The readers, summary and face cache on the synthetic native trees from `fer.synthetic.render`."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from fer.classes import CKPLUS_CODES, CLASSES
from fer.data.__main__ import main
from fer.data.cache import prepare
from fer.data.catalogue import read_dataset
from fer.faces.detection import FaceOptions
from fer.synthetic import FACE_CROP, render


@pytest.fixture(scope="module")
def trees(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("synthetic_trees")
    render("kdef", root / "kdef", subjects=2, angles=("S", "HL"))
    render("ckplus", root / "ckplus", subjects=3)
    render("jaffe", root / "jaffe", subjects=3)
    return {k: root / k for k in ("kdef", "ckplus", "jaffe")}


def test_summary_on_synthetic_kdef(trees, capsys):
    assert main(["summary", "kdef", str(trees["kdef"])]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["images"] == 2 * 2 * 7 and out["subjects"] == 2  # frontal only, series A + B per subject
    assert out["per_class"] == dict.fromkeys(CLASSES, 4)
    both = read_dataset("kdef", trees["kdef"], angles=["S", "HL"])
    assert len(both) == 56 and {s.meta["angle"] for s in both} == {"S", "HL"}


def test_synthetic_ckplus_matches_its_label_files(trees):
    labels = {}
    for f in (trees["ckplus"] / "Emotion").glob("S*/*/*_emotion.txt"):
        labels[f"{f.parent.parent.name}/{f.parent.name}"] = CKPLUS_CODES[int(float(f.read_text()))]
    used = {k for k, v in labels.items() if v != "contempt"}
    samples = read_dataset("ckplus", trees["ckplus"])
    assert {s.meta["sequence"] for s in samples} == used
    assert len(samples) == 2 * len(used)
    for s in samples:
        assert CLASSES[s.label] == (labels[s.meta["sequence"]] if s.meta["frame"] == "peak" else "neutral")
    seqs = {
        p.parent.relative_to(trees["ckplus"] / "cohn-kanade-images").as_posix()
        for p in (trees["ckplus"] / "cohn-kanade-images").glob("S*/*/*.png")
    }
    assert seqs - set(labels)  # the renderer's unlabelled sequences exist and are not read
    assert len(read_dataset("ckplus", trees["ckplus"], keep_contempt=True)) == 2 * len(labels)


def test_synthetic_jaffe(trees):
    samples = read_dataset("jaffe", trees["jaffe"])
    assert {s.subject for s in samples} == {"jaffe:KA", "jaffe:KL", "jaffe:KM"}
    assert set(Counter(CLASSES[s.label] for s in samples)) == set(CLASSES)


@pytest.mark.parametrize("style", ["kdef", "ckplus", "jaffe"])
def test_prepare_synthetic_with_fixed_crops(trees, tmp_path, style):
    samples = read_dataset(style, trees[style])
    p = prepare(
        samples, FaceOptions(detector="none", crop=FACE_CROP[style]), 32, "rgb", tmp_path, name=style, workers=1
    )
    assert p.report["prepared"] == len(samples) and not p.report["skipped"] and p.report["no_face"] == 0
    assert p.images.shape == (len(samples), 32, 32, 3) and p.images.dtype == np.uint8
    if style != "kdef":  # grey datasets stay grey in RGB, including CK+'s few colour frames
        assert all(np.array_equal(im[..., 0], im[..., 1]) for im in p.images)
