"""Helpers shared by the readers."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from pathlib import Path

from fer.data.samples import DatasetLayoutError, Sample

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".pgm", ".ppm"}
JUNK_NAMES = {".DS_Store", "Thumbs.db", "desktop.ini", "__MACOSX"}


class SampleList(list):
    """A reader's samples (a plain list), plus what it skipped: `skipped` = [{"file", "reason"}]."""

    def __init__(self, samples: Iterable[Sample] = (), skipped: list[dict] | None = None):
        super().__init__(samples)
        self.skipped: list[dict] = list(skipped or [])


def is_junk(path: Path) -> bool:
    """macOS/Windows droppings (`.DS_Store`, `._x.jpg` AppleDouble files, `__MACOSX/`) and hidden files."""
    return any(part in JUNK_NAMES or part.startswith(".") for part in path.parts[-3:])


def image_files(root: Path, suffixes: set[str] = IMAGE_SUFFIXES, recursive: bool = True) -> list[Path]:
    """Image files below root (extension matched case-insensitively), junk excluded, sorted."""
    it = root.rglob("*") if recursive else root.iterdir()
    return sorted(p for p in it if p.is_file() and p.suffix.lower() in suffixes and not is_junk(p.relative_to(root)))


def existing_dir(root: str | Path, what: str) -> Path:
    root = Path(root).expanduser()
    if not root.exists():
        raise DatasetLayoutError(f"{what} root {root} does not exist; {_hint(what)}")
    if not root.is_dir():
        raise DatasetLayoutError(f"{what} root {root} is a file, not a folder; {_hint(what)}")
    if not any(p for p in root.iterdir() if not is_junk(Path(p.name))):
        raise DatasetLayoutError(f"{what} root {root} is an empty folder; {_hint(what)}")
    return root


def _hint(what: str) -> str:
    return f"point the {what} root (e.g. `paths.<dataset>=...` or the summary/prepare <root> argument) at the unpacked download"


def search_below(root: Path, accept: Callable[[Path], bool], depth: int = 2) -> Path | None:
    """The first folder below root (breadth first, up to `depth` levels) that `accept`s; used for hints."""
    frontier = [root]
    for _ in range(depth):
        nxt = []
        for d in frontier:
            try:
                subs = sorted(p for p in d.iterdir() if p.is_dir() and not is_junk(Path(p.name)))
            except OSError:
                continue
            for s in subs:
                if accept(s):
                    return s
            nxt.extend(subs)
        frontier = nxt
    return None


def warn_skipped(what: str, names: list[str], why: str = "unparseable names", remedy: str = "") -> None:
    """One warning listing every skipped file name (never one warning per file)."""
    if names:
        shown = ", ".join(sorted(names)[:20]) + (f" ... ({len(names) - 20} more)" if len(names) > 20 else "")
        log.warning("%s: skipped %d item(s) with %s: %s%s", what, len(names), why, shown, f"; {remedy}" if remedy else "")
