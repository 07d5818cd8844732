"""Faults: jobs killed at any instant, full disks, truncated checkpoints; and a resumed run that equals the
uninterrupted one."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from fer.data import cache as cache_mod
from fer.data.catalogue import read_dataset
from fer.faces.detection import FaceOptions
from fer.utils.io import DiskFullError
from fer.utils.procs import file_lock, lock_holder
from tests.helpers.data_trees import face, write

ROOT = Path(__file__).resolve().parents[2]


def _children(pid: int) -> list[int]:
    """The live child processes of `pid` (from /proc: no psutil needed)."""
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            kids.append(int(stat.parent.name))
    return kids


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


# ------------------------------------------------------------------------------------- processes and locks


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_kill_9_during_cache_build_leaves_no_workers_and_rerun_completes(tmp_path):
    root = tmp_path / "faces"
    for i in range(160):
        write(root / ("happy" if i % 2 else "sad") / f"im{i:03d}.png", face(240, 300, seed=i))
    cmd = [sys.executable, "-m", "fer.data", "prepare", "folder", str(root), "--detector", "haar", "--size", "32",
           "--workers", "2", "--cache-dir", str(tmp_path / "cache")]  # fmt: skip
    job = subprocess.Popen(cmd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    workers: list[int] = []
    try:
        _wait(lambda: len(_children(job.pid)) >= 2, 60, "the pool's workers")
        time.sleep(0.5)  # the workers are cropping, the parent holds the entry's lock
        workers = _children(job.pid)
        os.kill(job.pid, signal.SIGKILL)
        job.wait(timeout=10)
        _wait(lambda: not any(_alive(w) for w in workers), 10, f"workers {workers} to die with their parent")
    finally:  # never leave processes behind, even when the test fails
        for pid in [job.pid, *workers]:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
    assert not list((tmp_path / "cache").glob("folder-*/manifest.json"))  # killed before the end
    rerun = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    report = json.loads(rerun.stdout.strip().splitlines()[-1])
    assert report["prepared"] == 160 and report["from_cache"] is False
    assert not list((tmp_path / "cache").glob("*.tmp*"))  # the killed build's leftovers are gone


def _hold_lock_then_fork(path: str, ready, release) -> None:
    with file_lock(path):
        pid = os.fork()
        if pid == 0:  # a forked child of the holder, outliving it (as an orphaned pool worker would)
            time.sleep(30)
            os._exit(0)
        ready.send(pid)
        release.recv()
    os._exit(0)


def _try_flock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def test_a_lock_is_not_kept_by_the_holders_forked_children(tmp_path):
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    lock = tmp_path / ".x.lock"
    ready_r, ready_w = ctx.Pipe(duplex=False)
    release_r, release_w = ctx.Pipe(duplex=False)
    holder = ctx.Process(target=_hold_lock_then_fork, args=(str(lock), ready_w, release_r))
    holder.start()
    grandchild = ready_r.recv()
    try:
        assert f"pid {holder.pid}" in lock_holder(lock)
        os.kill(holder.pid, signal.SIGKILL)  # dies holding the lock; its forked child lives on
        holder.join(10)
        assert _alive(grandchild) or not sys.platform.startswith("linux")
        fd = os.open(lock, os.O_RDWR)
        try:  # free within moments, though the holder's child still runs
            _wait(lambda: _try_flock(fd), 5, "the dead holder's lock to be released")
        finally:
            os.close(fd)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(grandchild, signal.SIGKILL)


# ------------------------------------------------------------------------------------------- full disks


def _folder(root: Path, n: int = 6) -> list:
    for i in range(n):
        write(root / ("happy" if i % 2 else "sad") / f"im{i}.png", face(56, 76, seed=i))
    return read_dataset("folder", root, name="t")


def test_cache_build_on_a_full_disk_is_one_clear_error(tmp_path, monkeypatch):
    samples = _folder(tmp_path / "faces")
    usage = type("Usage", (), {"total": 1 << 30, "used": 1 << 30, "free": 1000})
    monkeypatch.setattr("fer.utils.io.shutil.disk_usage", lambda _path: usage)
    with pytest.raises(DiskFullError) as err:
        cache_mod.prepare(samples, FaceOptions(detector="none"), 32, "gray", tmp_path / "c", name="t")
    msg = str(err.value)
    assert str(tmp_path / "c") in msg and "no space left" in msg and "1000 B free" in msg
    assert [p.name for p in (tmp_path / "c").iterdir() if not p.name.startswith(".")] == []


def test_cache_reservation_failing_with_enospc_is_one_clear_error(tmp_path, monkeypatch):
    samples = _folder(tmp_path / "faces")

    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("fer.utils.io.os.posix_fallocate", full)
    with pytest.raises(DiskFullError, match="face cache of t"):
        cache_mod.prepare(samples, FaceOptions(detector="none"), 32, "gray", tmp_path / "c", name="t")
    assert [p.name for p in (tmp_path / "c").iterdir() if not p.name.startswith(".")] == []
    monkeypatch.undo()
    p = cache_mod.prepare(samples, FaceOptions(detector="none"), 32, "gray", tmp_path / "c", name="t")
    assert p.report["prepared"] == 6 and np.asarray(p.images).shape == (6, 32, 32, 1)


# ------------------------------------------------------------------------------------------- checkpoints


def _weights(ckpt: Path) -> dict:
    import torch

    return torch.load(ckpt, map_location="cpu", weights_only=False)["state_dict"]


def _run(cfg, out: Path, epochs: int, test: bool = True):
    from omegaconf import open_dict

    from train import train

    with open_dict(cfg):
        cfg.paths.output_dir = str(out)
        cfg.hydra.runtime.output_dir = str(out)
        cfg.trainer.max_epochs = epochs
        cfg.test = test
    return train(cfg)


def test_resumed_run_equals_the_uninterrupted_one(cfg_demo, tmp_path):
    whole = _run(cfg_demo, tmp_path / "whole", 4)
    # Killed after its second epoch's checkpoint: stop there, then rerun the full command in the same folder.
    _run(cfg_demo, tmp_path / "parts", 2, test=False)
    (tmp_path / "parts" / "results.json").unlink()
    resumed = _run(cfg_demo, tmp_path / "parts", 4)
    a, b = _weights(tmp_path / "whole/checkpoints/last.ckpt"), _weights(tmp_path / "parts/checkpoints/last.ckpt")
    assert a.keys() == b.keys()
    assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a), "weights differ after resume"
    assert resumed["tests"] == whole["tests"] and resumed["metrics"] == whole["metrics"]
    assert whole["resumed"] == [] and [r["from"] for r in resumed["resumed"]] == [
        str(tmp_path / "parts/checkpoints/last.ckpt")
    ]
    assert resumed["seconds_total"] > resumed["seconds"] > 0


def test_truncated_last_checkpoint_is_set_aside(cfg_demo, tmp_path):
    from fer.engine.resume import resume_checkpoint

    out = tmp_path / "run"
    _run(cfg_demo, out, 1, test=False)
    (out / "results.json").unlink()
    last = out / "checkpoints" / "last.ckpt"
    data = last.read_bytes()
    last.write_bytes(data[: len(data) // 2])  # what a full disk or a kill left behind an older writer
    best = resume_checkpoint(out)
    assert best is not None and Path(best).name.startswith("epoch000")  # the newest readable one
    assert (out / "checkpoints" / "last.ckpt.corrupt-1").is_file() and not last.exists()
    for p in (out / "checkpoints").glob("*.ckpt"):
        p.write_bytes(b"not a checkpoint")
    assert resume_checkpoint(out) is None  # nothing readable: start over
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == [
        f"{Path(best).name}.corrupt-1",
        "last.ckpt.corrupt-1",
    ]
    results = _run(cfg_demo, out, 1, test=False)  # and the run goes through
    assert results["epochs"] == 1 and last.is_file()


def test_checkpoint_write_failure_is_atomic_and_clear(tmp_path, monkeypatch):
    import torch

    from fer.engine.checkpoint_io import AtomicCheckpointIO

    io = AtomicCheckpointIO()
    path = tmp_path / "ckpts" / "last.ckpt"
    io.save_checkpoint({"w": torch.zeros(1000)}, path)
    before = path.read_bytes()

    def full(obj, fh, *args, **kwargs):
        fh.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("fer.engine.checkpoint_io.torch.save", full)
    with pytest.raises(DiskFullError) as err:
        io.save_checkpoint({"w": torch.zeros(1000)}, path)
    assert str(tmp_path / "ckpts") in str(err.value) and "3.9 KiB" in str(err.value)
    assert path.read_bytes() == before  # the previous checkpoint is intact
    assert [p.name for p in path.parent.iterdir()] == ["last.ckpt"]  # no temporary file left
    monkeypatch.undo()
    assert torch.load(path, weights_only=True)["w"].shape == (1000,)


class _FillsUp:
    """A file on a disk that fills after `room` bytes: writes past it fail with ENOSPC, as the OS reports it."""

    def __init__(self, path, mode, room: int = 2048):
        self.fh, self.room = open(path, mode), room  # noqa: SIM115  (closed in __exit__)

    def write(self, data) -> int:
        if self.fh.tell() + len(data) > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        return self.fh.write(data)

    def __getattr__(self, name):
        return getattr(self.fh, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.fh.close()


def test_a_disk_filling_during_torch_save_is_the_disk_full_message(tmp_path, monkeypatch):
    """torch.save reports the failed write as a RuntimeError ("unexpected pos ..."); the user gets the folder,
    the space needed and the space free, and the previous checkpoint stays."""
    import torch

    from fer.engine import checkpoint_io

    io = checkpoint_io.AtomicCheckpointIO()
    path = tmp_path / "ckpts" / "last.ckpt"
    io.save_checkpoint({"w": torch.zeros(1000)}, path)
    before = path.read_bytes()
    monkeypatch.setattr(checkpoint_io, "open", _FillsUp, raising=False)
    with pytest.raises(DiskFullError) as err:
        io.save_checkpoint({"w": torch.ones(1000)}, path)
    msg = str(err.value)
    assert str(tmp_path / "ckpts") in msg and "needs 3.9 KiB" in msg and "free" in msg
    assert path.read_bytes() == before and [p.name for p in path.parent.iterdir()] == ["last.ckpt"]


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_kill_9_mid_epoch_then_rerun_equals_the_uninterrupted_run(tmp_path, synthetic_dir):
    from tests.conftest import synthetic_overrides

    def cmd(run: str) -> list[str]:
        return [sys.executable, "train.py", "experiment=demo", "logger=none", *synthetic_overrides(synthetic_dir),
                f"paths.cache_dir={tmp_path / 'cache'}", f"paths.root_dir={tmp_path}", "backbone.input_size=32",
                "trainer.max_epochs=3", "+trainer.limit_val_batches=1", "+trainer.limit_test_batches=1",
                "+trainer.enable_progress_bar=false", "test=false", f"hydra.run.dir={tmp_path / run}"]  # fmt: skip

    whole = subprocess.run(cmd("whole"), cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=900)
    assert whole.returncode == 0, whole.stderr[-3000:]
    job = subprocess.Popen(cmd("parts"), cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        last = tmp_path / "parts" / "checkpoints" / "last.ckpt"
        _wait(last.is_file, 600, "the first epoch's checkpoint")
        time.sleep(1.0)  # into the second epoch
        assert job.poll() is None, "the run finished before it could be killed"
        os.kill(job.pid, signal.SIGKILL)
        job.wait(10)
    finally:
        if job.poll() is None:
            os.kill(job.pid, signal.SIGKILL)
    assert not (tmp_path / "parts" / "results.json").exists()
    rerun = subprocess.run(cmd("parts"), cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=900)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    a, b = _weights(tmp_path / "whole/checkpoints/last.ckpt"), _weights(tmp_path / "parts/checkpoints/last.ckpt")
    assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a), "weights differ after kill -9 and rerun"
    results = json.loads((tmp_path / "parts" / "results.json").read_text())
    assert len(results["resumed"]) == 1 and results["seconds_total"] > results["seconds"]
    assert results["metrics"] == json.loads((tmp_path / "whole" / "results.json").read_text())["metrics"]


def test_run_parts_record_resumptions_and_the_time_of_killed_parts(tmp_path):
    from fer.engine.resume import HISTORY, finish_part, start_part

    start_part(tmp_path, None)
    started = json.loads((tmp_path / HISTORY).read_text())["parts"][0]["started"]
    ckpt = tmp_path / "checkpoints" / "last.ckpt"
    ckpt.parent.mkdir()
    ckpt.write_bytes(b"x")
    os.utime(ckpt, (started + 5, started + 5))  # the killed part's last write, 5 s after it started
    (tmp_path / ".hydra").mkdir()
    (tmp_path / ".hydra" / "config.yaml").write_text("written by the next part")
    start_part(tmp_path, str(ckpt))
    summary = finish_part(tmp_path, 3.0)
    parts = json.loads((tmp_path / HISTORY).read_text())["parts"]
    assert parts[0]["interrupted"] and parts[0]["seconds"] == pytest.approx(5, abs=0.2)
    assert summary["seconds_total"] == pytest.approx(8, abs=0.2)
    assert [r["from"] for r in summary["resumed"]] == [str(ckpt)]


def _augment_forever(prepared, out: str) -> None:
    from fer.data.offline_aug import AugmentSettings, augment_to_folder

    augment_to_folder(prepared, AugmentSettings(copies=5), out, None, name="t", workers=2, preview=0)
    os._exit(0)


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_kill_9_during_augmentation_leaves_no_workers_and_rerun_completes(tmp_path):
    import multiprocessing

    from fer.data.cache import PreparedSet
    from fer.data.offline_aug import AugmentSettings, augment_to_folder
    from fer.data.samples import Sample

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (240, 96, 96, 1), dtype=np.uint8)
    prepared = PreparedSet([Sample(f"/x/{i}.png", i % 7, f"s:{i % 9}", "s") for i in range(240)], images)
    job = multiprocessing.get_context("fork").Process(target=_augment_forever, args=(prepared, str(tmp_path / "a")))
    job.start()
    workers: list[int] = []
    try:
        _wait(lambda: len(list((tmp_path / "a").glob("*/*.png"))) >= 20, 120, "the pool to write images")
        workers = _children(job.pid)
        assert len(workers) >= 2
        os.kill(job.pid, signal.SIGKILL)
        job.join(10)
        _wait(lambda: not any(_alive(w) for w in workers), 10, f"workers {workers} to die with their parent")
    finally:
        for pid in [job.pid, *workers]:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
    assert not (tmp_path / "a" / "manifest.json").exists()
    done = len(list((tmp_path / "a").glob("*/*.png")))
    summary = augment_to_folder(prepared, AugmentSettings(copies=5), tmp_path / "a", None, name="t", workers=1,
                                preview=0)  # fmt: skip
    assert summary["images"] == 1200 and summary["written"] == 1200 - done
    assert not list((tmp_path / "a").glob("*/.*.tmp*"))


def _hold_lock(path: str, ready, release) -> None:
    with file_lock(path):
        ready.send(os.getpid())
        release.recv()


def test_a_waiting_job_says_who_holds_the_lock(tmp_path, monkeypatch, caplog):
    import multiprocessing

    import fer.utils.procs

    ctx = multiprocessing.get_context("fork")
    ready_r, ready_w = ctx.Pipe(duplex=False)
    release_r, release_w = ctx.Pipe(duplex=False)
    holder = ctx.Process(target=_hold_lock, args=(str(tmp_path / ".x.lock"), ready_w, release_r))
    holder.start()
    pid = ready_r.recv()
    monkeypatch.setattr(fer.utils.procs, "WAIT_NOTICE_S", 0.2)
    threading.Timer(1.0, release_w.send, args=(1,)).start()  # the holder finishes a second later
    with caplog.at_level("WARNING", logger="fer.utils.procs"), file_lock(tmp_path / ".x.lock"):
        pass
    holder.join(10)
    assert f"held by pid {pid}" in caplog.text
