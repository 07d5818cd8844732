"""Worker pools that die with their parent, and file locks that no dead or forked process can keep.

A job may be killed at any instant (`kill -9`, an out-of-memory killer, a cluster's time limit). Two things
must then not outlive it:

- its pool's worker processes: they would go on writing into the cache and hold its lock. Each worker asks
  the kernel for SIGKILL when its parent dies (`prctl(PR_SET_PDEATHSIG)` on Linux; elsewhere a thread that
  watches the parent's pid), and exits at once if the parent died before it started;
- its file locks: `flock` locks belong to an open file description, which `fork` shares with the child, so
  a forked worker would hold its parent's lock after the parent died. Every lock taken here is closed in
  forked children (`os.register_at_fork`), so only its taker holds it, and the kernel frees it when that
  process dies. The lock file carries the holder's pid and host, for the message of whoever waits.
"""

from __future__ import annotations

import ctypes
import fcntl
import logging
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path

log = logging.getLogger(__name__)
PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
WAIT_NOTICE_S = 5.0  # how long a wait for a lock stays silent

_held_lock_fds: set[int] = set()


def _close_inherited_locks() -> None:
    # In a forked child: drop the parent's lock descriptors. Closing (never LOCK_UN, which would release the
    # parent's lock too) leaves the lock to the parent alone.
    for fd in list(_held_lock_fds):
        with suppress(OSError):
            os.close(fd)
    _held_lock_fds.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_close_inherited_locks)


@contextmanager
def file_lock(path: str | Path):
    """An exclusive advisory lock (flock) on `path` held while the block runs; other processes wait for it.

    The kernel releases it when the holder exits, however it dies; forked children never hold it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
    _held_lock_fds.add(fd)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            _wait_for_lock(fd, path)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        _held_lock_fds.discard(fd)
        os.close(fd)


def lock_holder(path: str | Path) -> str:
    """Who holds (or last held) the lock file at `path`: "pid <n> on <host>", or "unknown"."""
    try:
        pid, host = Path(path).read_text().split()[:2]
        return f"pid {pid} on {host}"
    except (OSError, ValueError):
        return "unknown"


def _wait_for_lock(fd: int, path: Path) -> None:
    deadline = time.monotonic() + WAIT_NOTICE_S
    while time.monotonic() < deadline:
        time.sleep(0.05)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
    log.warning("waiting for %s, held by %s (another job building the same entry)", path, lock_holder(path))
    fcntl.flock(fd, fcntl.LOCK_EX)


# ------------------------------------------------------------------------------------------ worker pools


def die_with_parent(parent_pid: int) -> None:
    """Make this (worker) process die as soon as `parent_pid`, its parent, does."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            _watch_parent(parent_pid)
    else:
        _watch_parent(parent_pid)
    if os.getppid() != parent_pid:  # the parent died before the request above: nobody will signal us
        os._exit(1)


def _watch_parent(parent_pid: int) -> None:
    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _init_worker(parent_pid: int, initializer: Callable | None, initargs: tuple) -> None:
    die_with_parent(parent_pid)
    if initializer is not None:
        initializer(*initargs)


@contextmanager
def worker_pool(
    workers: int, initializer: Callable | None = None, initargs: tuple = ()
) -> Iterator[ProcessPoolExecutor]:
    """A process pool whose workers die with this process; on leaving the block, queued work is cancelled.

    Forked where the platform allows: no re-import of `__main__`, which forkserver/spawn do and which breaks
    inside Hydra's joblib (loky) workers. The workers must not use the parent's torch or OpenCV thread state.
    """
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    pool = ProcessPoolExecutor(
        max_workers=workers, mp_context=ctx, initializer=_init_worker, initargs=(os.getpid(), initializer, initargs)
    )
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
