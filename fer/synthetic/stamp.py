"""The render cache: a `.synthetic.json` stamp per output folder records, per style, the arguments, the summary
and the file count of a complete render; a `.synthetic.partial.<style>` marker flags one in progress. A call
with the same arguments whose files are all there returns the stamped summary without drawing anything."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from fer.utils.io import atomic_write_text

RENDER_VERSION = 1  # bump when the drawing changes, so cached renders are redone

STAMP = ".synthetic.json"
PARTIAL = ".synthetic.partial"


def _json_args(args: dict) -> dict:
    return json.loads(json.dumps(args))


def _count_files(root: Path, suffixes: tuple[str, ...]) -> int:
    n = 0
    stack = [root]
    while stack:
        d = stack.pop()
        try:
            with os.scandir(d) as it:
                for e in it:
                    if e.is_dir(follow_symlinks=False):
                        stack.append(e.path)
                    elif e.name.lower().endswith(suffixes):
                        n += 1
        except FileNotFoundError:
            return -1
    return n


def _read_stamp(out: Path) -> dict:
    try:
        return json.loads((out / STAMP).read_text())
    except (OSError, ValueError):
        return {}


def cached(out: Path, style: str, args: dict, tops: tuple[str, ...], suffixes) -> dict | None:
    """The stamped summary when `out` holds a complete render of `style` with these arguments, else None."""
    entry = _read_stamp(out).get(style)
    if not entry or entry.get("args") != _json_args(args) or entry.get("version") != RENDER_VERSION:
        return None
    n = sum(max(_count_files(out / t, suffixes), 0) for t in tops)
    if n != entry.get("files"):
        return None
    return {**entry["summary"], "root": str(out), "cached": True}


def begin(out: Path, style: str, tops: tuple[str, ...]) -> None:
    """Remove a previous (stamped or interrupted) synthetic render of this style, then mark this one partial."""
    out.mkdir(parents=True, exist_ok=True)
    stamp = _read_stamp(out)
    partial = out / f"{PARTIAL}.{style}"
    if style in stamp or partial.exists():
        for t in tops:
            shutil.rmtree(out / t, ignore_errors=True)
    if style in stamp:
        stamp.pop(style)
        _write_json(out / STAMP, stamp)
    partial.write_text("rendering\n")


def finish(out: Path, style: str, args: dict, summary: dict, tops, suffixes) -> dict:
    """Stamp a complete render (written last, so an interrupted one is never taken for complete)."""
    stamp = _read_stamp(out)
    n = sum(max(_count_files(out / t, suffixes), 0) for t in tops)
    seconds = summary.pop("seconds", None)  # kept out of the stamp, so renders stay byte-identical
    stamp[style] = {"version": RENDER_VERSION, "args": _json_args(args), "summary": summary, "files": n}
    _write_json(out / STAMP, stamp)
    (out / f"{PARTIAL}.{style}").unlink(missing_ok=True)
    return {**summary, "root": str(out), "cached": False, "seconds": seconds}


def _write_json(path: Path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=1, sort_keys=True) + "\n")
