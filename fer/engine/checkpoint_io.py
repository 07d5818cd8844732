"""Checkpoints written atomically: a temporary file in the target's folder, flushed to disk, then renamed.

A job killed while saving, or a full disk, then leaves the previous checkpoint intact instead of a truncated
one, and a full disk gives one message naming the folder and the space needed (torch.save reports a failed write
as a RuntimeError, "unexpected pos ..."; the writer keeps the operating system's error and raises that instead).
Set in `conf/trainer`
(`plugins:`); Lightning's default writer keeps everything else (loading, removal, remote paths).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from pytorch_lightning.plugins.io import TorchCheckpointIO

from fer.utils.io import atomic_path


def tensor_bytes(obj: Any) -> int:
    """The bytes of all tensors in a nested checkpoint (about the size of the file torch.save writes)."""
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, dict):
        return sum(tensor_bytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(tensor_bytes(v) for v in obj)
    return 0


class _KeepWriteError:
    """A binary file whose failed write is remembered: torch.save swallows it into a RuntimeError."""

    def __init__(self, fh):
        self.fh, self.error = fh, None

    def write(self, data) -> int:
        try:
            return self.fh.write(data)
        except OSError as e:
            self.error = e
            raise

    def flush(self) -> None:
        self.fh.flush()


class AtomicCheckpointIO(TorchCheckpointIO):
    """`TorchCheckpointIO` whose local saves are atomic and durable (write, flush, fsync, rename)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        """Save atomically and durably (a full disk names the bytes needed); remote paths go to Lightning's writer."""
        if "://" in str(path):  # remote storage: Lightning's own writer
            return super().save_checkpoint(checkpoint, path, storage_options)
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__}.save_checkpoint takes no storage_options ({storage_options!r})")
        path = Path(path)
        needed = tensor_bytes(checkpoint)
        with (
            atomic_path(path, what=f"checkpoint {path.name}", needed=needed, durable=True) as tmp,
            open(tmp, "wb") as fh,
        ):
            out = _KeepWriteError(fh)
            try:
                torch.save(checkpoint, out)
            except RuntimeError:
                if out.error is None:
                    raise
                raise out.error from None  # e.g. ENOSPC: atomic_path turns it into the disk-full message
