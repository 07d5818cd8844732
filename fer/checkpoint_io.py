"""Checkpoints written atomically: a temporary file in the target's folder, flushed to disk, then renamed.

A job killed while saving, or a full disk, then leaves the previous checkpoint intact instead of a truncated
one, and a full disk gives one message naming the folder and the space needed. Set in `conf/trainer`
(`plugins:`); Lightning's default writer keeps everything else (loading, removal, remote paths).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from pytorch_lightning.plugins.io import TorchCheckpointIO

from fer.storage import disk_full_error, is_disk_full


def tensor_bytes(obj: Any) -> int:
    """The bytes of all tensors in a nested checkpoint (about the size of the file torch.save writes)."""
    if isinstance(obj, torch.Tensor):
        return obj.numel() * obj.element_size()
    if isinstance(obj, dict):
        return sum(tensor_bytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(tensor_bytes(v) for v in obj)
    return 0


class AtomicCheckpointIO(TorchCheckpointIO):
    """`TorchCheckpointIO` whose local saves are atomic and durable (write, flush, fsync, rename)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        if "://" in str(path):  # remote storage: Lightning's own writer
            return super().save_checkpoint(checkpoint, path, storage_options)
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__}.save_checkpoint takes no storage_options ({storage_options!r})")
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                torch.save(checkpoint, fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException as e:
            Path(tmp).unlink(missing_ok=True)
            if is_disk_full(e):
                raise disk_full_error(path.parent, tensor_bytes(checkpoint), f"checkpoint {path.name}") from None
            raise
