"""Helpers shared by the readers."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

from fer.classes import FOLDER_ALIASES
from fer.data.samples import Sample
from fer.errors import DatasetLayoutError
from fer.faces.images import IMAGE_SUFFIXES

log = logging.getLogger(__name__)

JUNK_NAMES = {".DS_Store", "Thumbs.db", "desktop.ini", "__MACOSX"}
SHOWN = 5  # skipped files named in a warning; the full list is in the reader's `.skipped` (and JSON reports)
# Class-folder names: ours, the KDEF/JAFFE codes, and the spellings found in shared datasets (case-insensitive).
CLASS_ALIASES = {
    **FOLDER_ALIASES,
    "anger": "angry",
    "disgusted": "disgust",
    "fearful": "fear",
    "afraid": "fear",
    "scared": "fear",
    "happiness": "happy",
    "joy": "happy",
    "neutrality": "neutral",
    "normal": "neutral",
    "sadness": "sad",
    "surprised": "surprise",
}


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
    return (
        f"point the {what} root (e.g. `paths.<dataset>=...` or the summary/prepare <root> argument) "
        "at the unpacked download"
    )


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
    """One warning for a kind of skipped file: the count and the first few names (never one line per file)."""
    if names:
        more = (
            f" ... ({len(names) - SHOWN} more; the full list is in the reader's report)" if len(names) > SHOWN else ""
        )
        shown = ", ".join(sorted(names)[:SHOWN]) + more
        log.warning(
            "%s: skipped %d item(s) with %s: %s%s", what, len(names), why, shown, f"; {remedy}" if remedy else ""
        )


def reason_kind(reason: str) -> str:
    """The kind of a skip reason, without its particulars (`bad row (3 pixel values...)` -> `bad row`)."""
    return reason.split(" (")[0].split(":")[0].split(";")[0].strip()


def warn_skipped_records(what: str, skipped: list[dict], remedy: str = "") -> None:
    """One warning for a reader's skipped records: counts per kind of reason, then the first few files."""
    if not skipped:
        return
    kinds = Counter(reason_kind(d["reason"]) for d in skipped)
    counts = ", ".join(f"{n} {kind}" for kind, n in kinds.most_common())
    first = "; ".join(f"{d['file']} ({d['reason']})" for d in skipped[:SHOWN])
    more = f"; ... ({len(skipped) - SHOWN} more in the reader's report)" if len(skipped) > SHOWN else ""
    log.warning(
        "%s: skipped %d item(s): %s. First: %s%s%s",
        what,
        len(skipped),
        counts,
        first,
        more,
        f". {remedy}" if remedy else "",
    )
