"""`python generate.py task=variants data=kdef_pfa_q` from an empty data folder: the plan first, every derived
source built once in dependency order; a second run builds nothing; a run killed with SIGKILL finishes on rerun.
train.py's preflight names this one command when only derived sources are missing."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.helpers.data_trees import folder_tree

TINY_KDEF = "++sources.kdef.synthetic_options={subjects:6,angles:[S],akdef:false}"
GAN_Q = ("data", "generated", "kdef_gan_q")


def _cmd(root: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        str(ROOT / "generate.py"),
        "task=variants",
        "data=kdef_pfa_q",
        "sources=synthetic",
        TINY_KDEF,
        f"paths.pfa={root / 'pfa'}",
        "++sources.pfa.faces={detector:none}",  # the helper's PFA faces fill their images
        "backbone=resnet10t",
        "backbone.input_size=32",
        "gan.max_epochs=1",
        "gan.samples_per_class=3",
        "trainer=cpu",
        "logger=none",
        *extra,
    ]


def _env(root: Path) -> dict:
    return {**os.environ, "FER_ROOT": str(root), "HYDRA_FULL_ERROR": "0"}


def _run(root: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(_cmd(root, *extra), cwd=root, env=_env(root), capture_output=True, text=True, timeout=900)


def _manifest(root: Path) -> dict:
    path = root.joinpath(*GAN_Q, "manifest.json")
    return json.loads(path.read_text()) if path.is_file() else {"classes": {}}


def test_one_command_builds_what_kdef_pfa_q_needs_and_a_second_run_builds_nothing(tmp_path):
    folder_tree(tmp_path, "pfa")  # a download: named by the plan, never produced
    first = _run(tmp_path)
    out = first.stdout + first.stderr
    assert first.returncode == 0, out[-3000:]
    # The plan, before anything is built: face caches at the training and GAN sizes, then the seven GANs.
    assert "variants kdef_pfa_q: 10 step(s) to build, 0 current" in out, out[-3000:]
    steps = [m[1] for line in out.splitlines() if (m := re.match(r"\[\d+/10\] ([^:]+):", line))]
    assert steps[:3] == ["faces kdef at 32 px gray", "faces pfa at 32 px gray", "faces kdef at 64 px gray"]
    assert [s.split(" ->")[0] for s in steps[3:]] == [
        f"gan {c}" for c in ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
    ]
    classes = _manifest(tmp_path)["classes"]
    assert len(classes) == 7 and all(len(e["files"]) == 3 for e in classes.values())
    assert all(tmp_path.joinpath(*GAN_Q, f).is_file() for e in classes.values() for f in e["files"])
    checkpoints = {c: os.stat(e["checkpoint"]).st_mtime_ns for c, e in classes.items()}

    second = _run(tmp_path)
    out = second.stdout + second.stderr
    assert second.returncode == 0, out[-3000:]
    assert "variants kdef_pfa_q: 0 step(s) to build, 10 current" in out, out[-3000:]
    assert not re.search(r"^\[1/\d+\] ", out, re.M)
    assert {c: os.stat(e["checkpoint"]).st_mtime_ns for c, e in _manifest(tmp_path)["classes"].items()} == checkpoints


def test_without_a_variant_or_with_a_missing_download_one_error_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "generate.py"), "task=variants", "logger=none"],
        cwd=tmp_path,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2 and "error: task=variants needs data=<variant>" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    proc = _run(tmp_path)  # no PFA folder: a download the task cannot make
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert f"training source pfa: {tmp_path / 'pfa'} does not exist" in proc.stderr
    assert not tmp_path.joinpath(*GAN_Q).exists()  # nothing built before the plan holds


def test_train_preflight_names_the_one_command_when_only_derived_sources_are_missing(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "train.py"), "experiment=demo", "data=kdef_q", "logger=none", TINY_KDEF],
        cwd=tmp_path,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "training source gan_q:" in proc.stderr
    assert "python generate.py task=variants data=kdef_q" in proc.stderr and "produce_missing=true" in proc.stderr


@pytest.mark.slow
def test_a_killed_build_finishes_on_rerun_without_redoing_finished_gans(tmp_path):
    folder_tree(tmp_path, "pfa")
    proc = subprocess.Popen(
        _cmd(tmp_path),
        cwd=tmp_path,
        env=_env(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 600
    while len(_manifest(tmp_path)["classes"]) < 2 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # kill -9 the whole command, in the middle of the GANs
    proc.wait()
    done = dict(_manifest(tmp_path)["classes"])
    assert 2 <= len(done) < 7, "the kill came too late to test a resume"
    rerun = _run(tmp_path)
    out = rerun.stdout + rerun.stderr
    assert rerun.returncode == 0, out[-3000:]
    for emotion in done:  # finished before the kill: current, not retrained
        assert f"current gan {emotion} ->" in out
    classes = _manifest(tmp_path)["classes"]
    assert len(classes) == 7 and all(classes[e]["checkpoint"] == done[e]["checkpoint"] for e in done)
    assert "0 step(s) to build" in (_run(tmp_path).stdout)
