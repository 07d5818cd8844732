"""Mistakes a new user makes, each answered with one `error: ...` line naming the file or key and the fix, exit
status 2 and no traceback; and commands that are refused leave nothing changed behind them.

Subprocess tests where the message is the point (Hydra's own error handling runs before the framework's);
in-process ones where the command's `main` is the whole path.
"""

from __future__ import annotations

import errno
import json
import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from fer.data.cache import prepare
from fer.deploy.predict import main as predict_main
from fer.errors import UserError
from fer.faces.detection import FaceOptions
from fer.runs.record import RunRecord
from tests.conftest import synthetic_overrides
from tests.helpers.cli import run_cli
from tests.helpers.data_trees import face, write

ROOT = Path(__file__).resolve().parents[2]


def _run(args: list[str], **env) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "WANDB_MODE": "offline", **env}
    env.pop("HYDRA_FULL_ERROR", None)
    env.pop("FER_DEBUG", None)
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def _one_error(r: subprocess.CompletedProcess, *words: str) -> str:
    """The single `error:` message of a refused command (status 2, no traceback), holding `words`; a list of
    problems continues on indented lines."""
    out = r.stdout + r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert r.returncode == 2 and "Traceback" not in out and len(errors) == 1, out
    message = r.stderr[r.stderr.index("error:") :]
    for w in words:
        assert w in message, out
    return message


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------------------------------- run folders
def test_a_run_folder_under_a_file_is_one_error(tmp_path):
    (tmp_path / "notes").write_text("x")
    r = _run(["train.py", "experiment=demo", "logger=none", f"hydra.run.dir={tmp_path}/notes/run"])
    _one_error(r, f"hydra.run.dir={tmp_path}/notes/run", f"{tmp_path}/notes is a file", "writable folder")


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs /proc")
def test_a_run_folder_that_cannot_be_made_is_one_error():
    r = _run(["generate.py", "task=augment", "logger=none", "hydra.run.dir=/proc/fer-test/run"])
    _one_error(r, "hydra.run.dir=/proc/fer-test/run", "cannot make this folder")


def test_a_sweep_folder_under_a_file_is_one_error(tmp_path):
    (tmp_path / "notes").write_text("x")
    r = _run(["train.py", "-m", "experiment=demo", "logger=none", f"hydra.sweep.dir={tmp_path}/notes/s", "seed=1,2"])
    _one_error(r, f"hydra.sweep.dir={tmp_path}/notes/s", "is a file")


def test_a_read_only_file_system_is_named(tmp_path, monkeypatch):
    from fer.utils.io import FolderError, make_folder

    def read_only(self, *args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(Path, "mkdir", read_only)
    with pytest.raises(FolderError, match=r"out_dir=.*read-only file system.*set out_dir to a writable folder"):
        make_folder(tmp_path / "new", "out_dir")


def test_augment_into_a_folder_under_a_file_is_one_error(tmp_path):
    (tmp_path / "notes").write_text("x")
    args = ["generate.py", "task=augment", "logger=none", f"paths.root_dir={tmp_path}", f"hydra.run.dir={tmp_path}/r"]
    r = _run([*args, f"dataset.root={tmp_path}/kdef", f"out_dir={tmp_path}/notes/aug"])
    _one_error(r, f"out_dir={tmp_path}/notes/aug", "is a file")


def test_negative_augment_copies_is_one_error(tmp_path):
    args = ["generate.py", "task=augment", "logger=none", f"paths.root_dir={tmp_path}", f"hydra.run.dir={tmp_path}/r"]
    _one_error(_run([*args, f"out_dir={tmp_path}/aug", "augment.copies=-2"]), "augment.copies=-2", "positive")


def test_a_gan_without_its_data_leaves_no_output_folder(tmp_path):
    args = ["generate.py", "task=gan", "emotion=happy", "logger=none", f"paths.root_dir={tmp_path}"]
    r = _run([*args, f"dataset.root={tmp_path}/nowhere", f"out_dir={tmp_path}/gan", f"hydra.run.dir={tmp_path}/r"])
    _one_error(r, f"{tmp_path}/nowhere")
    assert not (tmp_path / "gan").exists()


def test_a_refused_run_leaves_the_finished_run_byte_identical(tmp_path, synthetic_dir):
    """A finished run of another configuration in the folder: refused before Hydra writes `.hydra/` or the log,
    and without a failure marker beside its results."""
    run = tmp_path / "run"
    RunRecord(task_name="demo", variant="kdef", backbone="resnet10t", protocol="cross_db", seed=99, split_seed=0,
              metrics={"val/acc": 0.5}).save(run)  # fmt: skip
    for name, text in (("config.yaml", "seed: 99\n"), ("overrides.yaml", "- seed=99\n"), ("hydra.yaml", "h: 1\n")):
        write_text(run / ".hydra" / name, text)
    write_text(run / "train.log", "the finished run's log\n")
    (run / "checkpoints").mkdir()
    torch.save({"state_dict": {}}, run / "checkpoints" / "last.ckpt")
    before = _snapshot(run)
    args = ["train.py", "experiment=demo", "logger=none", *synthetic_overrides(synthetic_dir), "seed=1"]
    r = _run([*args, f"paths.root_dir={tmp_path}", f"hydra.run.dir={run}"])
    _one_error(r, f"{run}/results.json belongs to another configuration", "seed: 99 there, 1 now")
    assert _snapshot(run) == before


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


# ----------------------------------------------------------------------------------------- unclear messages
def test_a_typo_in_a_key_suggests_the_nearest_key_never_an_append(tmp_path):
    r = _run(["train.py", "experiment=demo", "logger=none", "trainer.max_epoch=2", f"hydra.run.dir={tmp_path}/r"])
    line = _one_error(r, "trainer.max_epoch=2", "did you mean trainer.max_epochs?")
    assert "+trainer" not in r.stderr + line and not (tmp_path / "r").exists()
    r = _run(["generate.py", "task=gan", "emotion=happy", "gan.batchsize=4", f"hydra.run.dir={tmp_path}/r"])
    _one_error(r, "gan.batchsize=4", "did you mean gan.batch_size?")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_a_gpu_trainer_without_a_gpu_says_so(tmp_path, synthetic_dir):
    args = ["train.py", "experiment=demo", "trainer=gpu", "logger=none", *synthetic_overrides(synthetic_dir)]
    r = _run([*args, f"paths.root_dir={tmp_path}", f"hydra.run.dir={tmp_path}/r"])
    _one_error(r, "trainer.accelerator=gpu", "no GPU was found", "trainer=cpu")


# ----------------------------------------------------------------------------------------- fer.predict
FOREIGN = {
    "text": b"just some notes\n",  # torch: KeyError
    "stop": b"(.",  # torch's unpickler: IndexError (pop from empty list)
    "empty": b"",
    "pickled_class": pickle.dumps({"state_dict": UserError}),  # torch's advice: reload with weights_only=False
    "json": b'{"state_dict": {}}',
}


@pytest.mark.parametrize("kind", [*FOREIGN, "zip", "no_state_dict"])
def test_a_foreign_checkpoint_is_one_error_that_never_suggests_unsafe_loading(kind, tmp_path, capsys):
    bad = tmp_path / "notes.ckpt"
    if kind == "zip":
        with zipfile.ZipFile(bad, "w") as z:
            z.writestr("x.txt", "hi")
    elif kind == "no_state_dict":
        torch.save([torch.zeros(2)], bad)
    else:
        bad.write_bytes(FOREIGN[kind])
    assert run_cli(predict_main, ["--checkpoint", str(bad), str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"--checkpoint={bad} is not a readable train.py checkpoint" in err and "weights_only" not in err
    assert len(err.strip().splitlines()) == 1


def test_a_checkpoint_folder_is_called_a_folder_with_the_checkpoint_inside(tmp_path, capsys):
    (tmp_path / "run" / "checkpoints").mkdir(parents=True)
    assert run_cli(predict_main, ["--checkpoint", str(tmp_path / "run"), str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err
    torch.save({"state_dict": {}}, tmp_path / "run" / "checkpoints" / "best.ckpt")
    assert run_cli(predict_main, ["--checkpoint", str(tmp_path / "run"), str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert f"--checkpoint={tmp_path / 'run'} is a folder" in err and str(tmp_path / "run/checkpoints/best.ckpt") in err
    assert "does not exist" not in err


def test_predict_on_a_folder_without_images_says_so(trained_checkpoint, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("x")
    assert run_cli(predict_main, ["--checkpoint", str(trained_checkpoint), str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'empty'}: the folder holds no images" in err and "no face was predicted" not in err


def test_a_dnn_detector_without_its_model_names_the_predict_option(trained_checkpoint, tmp_path, capsys):
    write(tmp_path / "a.png", face())
    args = ["--checkpoint", str(trained_checkpoint), "--detector", "yunet", str(tmp_path / "a.png")]
    assert run_cli(predict_main, args) == 2
    err = capsys.readouterr().err
    assert "--detector yunet needs its model file: pass --detector-model <file>" in err and "faces.model" not in err
    assert run_cli(predict_main, [*args, "--detector-model", str(tmp_path / "missing.onnx")]) == 2
    assert "missing.onnx: not found" in capsys.readouterr().err


@pytest.fixture
def trained_checkpoint(trained_run) -> Path:
    return trained_run[1]  # conftest: one demo run per session


# ------------------------------------------------------------------------------------------- data
def test_an_unwritable_cache_folder_names_what_moves_it(tmp_path, monkeypatch):
    from fer.data.samples import Sample
    from fer.utils.io import FolderError

    sample = Sample(str(write(tmp_path / "a.png", face())), 3, "web:1", "web")
    monkeypatch.setattr(os, "access", lambda *a, **k: False)  # as on a read-only file system
    with pytest.raises(FolderError) as err:
        prepare([sample], FaceOptions(detector="none"), 32, "gray", tmp_path / "cache")
    assert "paths.cache_dir" in str(err.value) and "FER_CACHE_DIR" in str(err.value) and "--cache-dir" in str(err.value)


def test_prepare_refuses_a_negative_worker_count(tmp_path):
    write(tmp_path / "faces" / "happy" / "a.png", face())
    cmd = ["-m", "fer.data", "prepare", "folder", str(tmp_path / "faces"), "--workers", "-3"]
    _one_error(_run([*cmd, "--cache-dir", str(tmp_path / "c")]), "--workers=-3", "positive")
    assert not (tmp_path / "c").exists()


def test_prepare_takes_the_catalogue_face_options_by_default(tmp_path, capsys):
    from fer.data.__main__ import main as data_main
    from tests.helpers.data_trees import fer2013_csv

    root = fer2013_csv(tmp_path / "fer2013")
    assert data_main(["prepare", "fer2013", str(root), "--cache-dir", str(tmp_path / "c"), "--size", "48"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["faces"]["detector"] == "none" and report["no_face"] == 0  # FER2013: face crops, no detector
    assert data_main(["prepare", "fer2013", str(root), "--cache-dir", str(tmp_path / "c"), "--detector", "haar"]) == 0
    assert json.loads(capsys.readouterr().out)["faces"]["detector"] == "haar"  # the command line still wins
