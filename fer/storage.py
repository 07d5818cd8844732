"""Disk space: one clear message when a folder cannot hold what the framework is about to write.

Writing into a memory-mapped file on a full filesystem kills the process with SIGBUS, without a word; so
the space a memory-mapped file needs is checked and reserved (`posix_fallocate`) before it is mapped.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

from fer.errors import UserError

MARGIN_BYTES = 16 << 20  # room kept for manifests, logs and the temporary files of other writers


class DiskFullError(UserError):
    """A folder's filesystem cannot hold a file the framework has to write."""


def human(nbytes: float) -> str:
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
