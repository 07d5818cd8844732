"""fer.deploy.predict: one JSON line per face from a train.py checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest
from skimage import data as skdata

from fer.deploy.predict import main


@pytest.fixture
def checkpoint(trained_run) -> Path:
    return trained_run[1]  # conftest: one demo run per session


def test_predict_prints_one_line_per_face_and_reports_bad_files(checkpoint, tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    cv2.imwrite(str(photos / "astronaut.png"), cv2.cvtColor(skdata.astronaut(), cv2.COLOR_RGB2BGR))
    (photos / "broken.jpg").write_bytes(b"")
    assert main(["--checkpoint", str(checkpoint), "--detector", "haar", str(photos)]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    faces = [r for r in rows if "probs" in r]
    assert len(faces) == 1 and faces[0]["face_found"]
    x, y, w, h = faces[0]["box"]
    assert 150 < x + w / 2 < 300 and 60 < y + h / 2 < 200  # the astronaut's face
    assert abs(sum(faces[0]["probs"].values()) - 1) < 1e-4 and faces[0]["label"] in faces[0]["probs"]
    (bad,) = [r for r in rows if "error" in r]
    assert "broken.jpg" in bad["error"]


def test_predict_names_a_missing_path(checkpoint, tmp_path, capsys):
    assert main(["--checkpoint", str(checkpoint), str(tmp_path / "nowhere")]) == 2
    assert "nowhere" in capsys.readouterr().err


def test_predict_exits_non_zero_when_every_input_fails(checkpoint, tmp_path, capsys):
    (tmp_path / "broken.jpg").write_bytes(b"")
    assert main(["--checkpoint", str(checkpoint), str(tmp_path / "broken.jpg")]) == 1
    assert "no face was predicted" in capsys.readouterr().err


def test_a_truncated_or_foreign_checkpoint_is_a_clear_error_that_never_suggests_unsafe_loading(checkpoint, tmp_path):
    import subprocess
    import sys

    for name, payload in [("truncated.ckpt", checkpoint.read_bytes()[:5000]), ("notes.ckpt", b"not a checkpoint")]:
        bad = tmp_path / name
        bad.write_bytes(payload)
        p = subprocess.run(
            [sys.executable, "-m", "fer.predict", "--checkpoint", str(bad), str(tmp_path)],
            capture_output=True,
            text=True,
            cwd=Path(__file__).resolve().parents[3],
        )
        assert p.returncode != 0 and "Traceback" not in p.stderr, p.stderr
        assert f"--checkpoint={bad} is not a readable train.py checkpoint" in p.stderr
        assert "weights_only=False" not in p.stderr and "gan_eval" not in p.stderr
