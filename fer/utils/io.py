"""Writing files and folders so that a reader never sees half of one, and one clear message when a disk is full.

Every file the framework publishes goes through `atomic_path` (or the helpers built on it): the content is
written under a temporary name beside the target and renamed into place, so a job killed mid-write, or a full
disk, leaves the previous version intact. Folders are published the same way (`publish`).

Writing into a memory-mapped file on a full filesystem kills the process with SIGBUS, without a word; so the
space a memory-mapped file needs is checked and reserved (`posix_fallocate`) before it is mapped (`reserve`).
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from fer.errors import UserError

__all__ = [
    "DiskFullError",
    "FolderError",
    "atomic_path",
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "check_folder",
    "disk_full_error",
    "human",
    "is_disk_full",
    "leftovers",
    "make_folder",
    "publish",
    "require_free_space",
    "reserve",
    "save_figure",
]

MARGIN_BYTES = 16 << 20  # room kept for manifests, logs and the temporary files of other writers


class DiskFullError(UserError):
    """A folder's filesystem cannot hold a file the framework has to write."""


def human(nbytes: float) -> str:
    """A byte count for people (`1.5 GiB`)."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(nbytes) < 1024 or unit == "TiB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1024
    return f"{nbytes} B"  # pragma: no cover


def disk_full_error(folder: str | Path, needed: int | None, what: str) -> DiskFullError:
    """The message for a full disk: the folder, what was being written, and the space needed if known."""
    folder = Path(folder)
    try:
        free = f"; {human(shutil.disk_usage(folder).free)} free"
    except OSError:
        free = ""
    need = f" needs {human(needed)}" if needed else " could not be written"
    return DiskFullError(
        f"no space left for {what} in {folder}: it{need}{free}; free some space there or point the folder "
        f"to a larger disk",
    )


def is_disk_full(exc: BaseException) -> bool:
    """Whether `exc` is the operating system's "no space left" (or "quota exceeded")."""
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def require_free_space(folder: str | Path, nbytes: int, what: str) -> None:
    """Raise DiskFullError unless `folder`'s filesystem has `nbytes` free (plus a small margin)."""
    if shutil.disk_usage(folder).free < nbytes + MARGIN_BYTES:
        raise disk_full_error(folder, nbytes, what)


def reserve(path: str | Path, what: str) -> None:
    """Allocate the blocks of the existing file at `path` (sparse until now), so later writes through a memory
    map cannot hit a full disk. Filesystems without allocation support are left to the free-space check."""
    path = Path(path)
    if not hasattr(os, "posix_fallocate"):
        return
    fd = os.open(path, os.O_RDWR)
    try:
        os.posix_fallocate(fd, 0, os.fstat(fd).st_size)
    except OSError as e:
        if is_disk_full(e):
            raise disk_full_error(path.parent, os.fstat(fd).st_size, what) from None
        if e.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
            raise
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(tmp: str | Path, final: str | Path) -> None:
    """Rename the finished file or folder `tmp` to `final`, replacing what is there. A folder already at
    `final` is moved aside first and removed after, so `final` is always either the old or the new one whole."""
    tmp, final = Path(tmp), Path(final)
    if tmp.is_dir() and final.is_dir():
        old = final.with_name(f".{final.name}.old{os.getpid()}-{secrets.token_hex(4)}")
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)


@contextmanager
def atomic_path(
    path: str | Path, what: str | None = None, needed: int | None = None, durable: bool = False
) -> Iterator[Path]:
    """A temporary name beside `path` (same suffix, so writers that choose a format by it still do) to write a
    file or folder to; published at `path` when the block ends, removed when it raises. A full disk becomes
    `DiskFullError` naming the folder, `what` was written (default: the file's name) and `needed` bytes if known.
    `durable`: flush the file to disk before the rename (checkpoints)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}-{secrets.token_hex(4)}.tmp{path.suffix}")
    try:
        yield tmp
        if durable and tmp.is_file():
            _fsync(tmp)
        publish(tmp, path)
    except BaseException as e:
        _remove(tmp)
        if is_disk_full(e):
            raise disk_full_error(path.parent, needed, what or path.name) from None
        raise


@contextmanager
def atomic_write(path: str | Path, mode: str = "w", **kwargs: Any) -> Iterator[IO]:
    """`open(path, mode)` whose content appears at `path` only once the block ends without error."""
    with atomic_path(path, kwargs.pop("what", None)) as tmp, open(tmp, mode, **kwargs) as fh:
        yield fh


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write `text` to `path` atomically (never a half-written file)."""
    with atomic_write(path, "w") as fh:
        fh.write(text)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` atomically."""
    with atomic_write(path, "wb") as fh:
        fh.write(data)


def atomic_write_json(path: str | Path, obj: Any) -> None:
    """`obj` as indented JSON at `path`, atomically (values JSON cannot hold are written as strings)."""
    atomic_write_text(path, json.dumps(obj, indent=1, default=str))


class FolderError(UserError, OSError):
    """A folder the framework has to write into cannot be made."""


def make_folder(path: str | Path, key: str) -> Path:
    """Make the folder `path` (and its parents), or raise FolderError naming the setting `key` and the cause."""
    path = Path(path).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        if is_disk_full(e):
            raise disk_full_error(path.parent, None, f"the folder {path.name}") from None
        reason = e.strerror or type(e).__name__
        ro = " (a read-only file system)" if e.errno == errno.EROFS else ""
        raise _folder_error(path, key, reason + ro) from None
    return path


def check_folder(path: str | Path, key: str) -> None:
    """Raise FolderError when the folder `path` could not be made there (makes nothing: a command that fails
    later on its input leaves no empty folder behind)."""
    path = Path(path).expanduser().absolute()
    existing = next(p for p in [path, *path.parents] if p.exists() or p == p.parent)
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise _folder_error(path, key, f"{existing} is not writable")


def _folder_error(path: Path, key: str, reason: str) -> FolderError:
    blocker = next((p for p in [path, *path.parents] if p.exists() and not p.is_dir()), None)
    why = f"{blocker} is a file, not a folder" if blocker is not None else reason
    return FolderError(f"{key}={path}: cannot make this folder ({why}); set {key} to a writable folder")


def leftovers(path: str | Path) -> list[Path]:
    """The temporaries `atomic_path(path)` left behind in a job that was killed mid-write."""
    path = Path(path)
    return sorted(path.parent.glob(f".{path.stem}.*.tmp{path.suffix}"))


def save_figure(fig: Any, path: str | Path, dpi: int = 100) -> Path:
    """Save a matplotlib figure as a whole file (never a half-written image) and close it."""
    import matplotlib.pyplot as plt

    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=dpi)
    finally:
        plt.close(fig)
    return path
