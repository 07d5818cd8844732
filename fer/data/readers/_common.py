"""Helpers shared by the readers."""

from __future__ import annotations

import logging
from pathlib import Path

from fer.data.samples import DatasetLayoutError

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}


def existing_dir(root: str | Path, what: str) -> Path:
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetLayoutError(f"{what} root {root} does not exist or is not a folder; {_hint(what)}")
    return root


def _hint(what: str) -> str:
    return f"point the {what} root (e.g. `paths.data.<name>=...` or the dataset's `root=`) at the unpacked download"


def warn_skipped(what: str, names: list[str]) -> None:
    """One warning listing every skipped file name (never one warning per file)."""
    if names:
        shown = ", ".join(sorted(names)[:20]) + (" ..." if len(names) > 20 else "")
        log.warning("%s: skipped %d file(s) with unparseable names: %s", what, len(names), shown)
