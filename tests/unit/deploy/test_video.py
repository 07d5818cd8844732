"""fer.deploy.predict on videos: per-frame rows, sampled frames, CSV, an annotated copy, and clear errors."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from fer.deploy.predict import main

ROOT = Path(__file__).resolve().parents[3]
FPS, FRAMES, BLANK = 8, 12, {3, 7, 11}


@pytest.fixture(scope="module")
def video(trained_run, tmp_path_factory) -> Path:
    """12 frames at 8 fps: a synthetic JAFFE face, slightly moving, with blank frames 3, 7 and 11."""
    face = cv2.imread(str(sorted((Path(trained_run[0].paths.synthetic_dir) / "jaffe").rglob("*.tiff"))[0]))
    path = tmp_path_factory.mktemp("video") / "clip.mp4"
    h, w = face.shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (w, h))
    for i in range(FRAMES):
        writer.write(np.zeros_like(face) if i in BLANK else np.roll(face, i, axis=1))
    writer.release()
    return path


@pytest.fixture
def checkpoint(trained_run) -> Path:
    return trained_run[1]


def rows_of(capsys) -> list[dict]:
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_one_line_per_face_per_frame_with_blank_frames_reported(checkpoint, video, capsys):
    assert main(["--checkpoint", str(checkpoint), "--detector", "haar", "--on-no-face", "skip", str(video)]) == 0
    rows = rows_of(capsys)
    assert [r["frame"] for r in rows] == list(range(FRAMES))  # one face per frame, in order, none skipped
    for r in rows:
        assert r["file"] == str(video) and r["time"] == pytest.approx(r["frame"] / FPS)
        if r["frame"] in BLANK:
            assert r == {
                "file": str(video),
                "frame": r["frame"],
                "time": r["time"],
                "faces": 0,
                "error": "no face found",
            }
        else:
            assert r["face_found"] and len(r["box"]) == 4 and r["label"] in r["probs"]
            assert abs(sum(r["probs"].values()) - 1) < 1e-4
    # The training pipeline's policy (centre crop): blank frames are predicted, marked face_found false
    assert main(["--checkpoint", str(checkpoint), "--detector", "haar", str(video)]) == 0
    assert {r["frame"] for r in rows_of(capsys) if not r["face_found"]} == BLANK


def test_every_nth_frame_and_batches_of_any_size_give_the_same_rows(checkpoint, video, capsys):
    base = ["--checkpoint", str(checkpoint), "--detector", "haar", "--every", "3", str(video)]
    assert main(base) == 0
    rows = rows_of(capsys)
    assert [(r["frame"], r["time"]) for r in rows] == [(0, 0.0), (3, 0.375), (6, 0.75), (9, 1.125)]
    assert main([*base, "--batch", "1"]) == 0
    for a, b in zip(rows, rows_of(capsys), strict=True):
        assert a["frame"] == b["frame"] and a["box"] == b["box"]
        assert max(abs(a["probs"][c] - b["probs"][c]) for c in a["probs"]) < 1e-5


def test_csv_rows_hold_the_same_fields(checkpoint, video, capsys):
    assert (
        main(["--checkpoint", str(checkpoint), "--detector", "haar", "--on-no-face", "skip", "--csv", str(video)]) == 0
    )
    table = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(table) == FRAMES and [int(r["frame"]) for r in table] == list(range(FRAMES))
    first = table[0]
    assert {"time", "x", "y", "w", "h", "face_found", "label", "p_happy", "p_surprise"} <= set(first)
    assert (
        abs(
            sum(float(first[f"p_{c}"]) for c in ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")) - 1
        )
        < 1e-4
    )
    assert table[3]["error"] == "no face found" and table[3]["label"] == ""


def test_annotate_writes_a_readable_video_of_the_predicted_frames(checkpoint, video, tmp_path, capsys):
    out = tmp_path / "out" / "annotated.mp4"
    assert main(["--checkpoint", str(checkpoint), "--every", "2", "--annotate", str(out), str(video)]) == 0
    assert len(rows_of(capsys)) == FRAMES // 2
    cap = cv2.VideoCapture(str(out))
    frames = []
    while (frame := cap.read())[0]:
        frames.append(frame[1])
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(FPS / 2)
    cap.release()
    assert len(frames) == FRAMES // 2 and frames[0].shape[:2] == (256, 256)
    assert [p.name for p in out.parent.iterdir()] == ["annotated.mp4"]  # no temporary file left behind


def test_a_corrupt_or_empty_video_is_one_clear_error(checkpoint, video, tmp_path, capsys):
    truncated, empty = tmp_path / "truncated.mp4", tmp_path / "empty.avi"
    truncated.write_bytes(video.read_bytes()[:3000])
    empty.write_bytes(b"")
    for bad in (truncated, empty):
        assert main(["--checkpoint", str(checkpoint), str(bad)]) == 2
        assert f"error: {bad}: OpenCV cannot open this video" in capsys.readouterr().err
    junk = tmp_path / "junk.mov"
    junk.write_bytes(b"\x00\x01 not a video" * 100)
    p = subprocess.run(
        [sys.executable, "-m", "fer.predict", "--checkpoint", str(checkpoint), str(junk)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert p.returncode == 2 and "Traceback" not in p.stderr and f"{junk}: OpenCV cannot open" in p.stderr, p.stderr


def test_annotate_needs_exactly_one_video(checkpoint, video, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--checkpoint", str(checkpoint), "--annotate", str(tmp_path / "a.mp4"), str(video), str(video)])
    assert "--annotate writes one video" in capsys.readouterr().err
