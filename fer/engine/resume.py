"""Resuming a run: which checkpoint to resume from, and the record of a run's parts.

A run killed at any instant is rerun with the same command. Its `checkpoints/last.ckpt` may be unreadable
(a crash of an older writer, a disk that filled up, a copy cut short): such a file is set aside as
`last.ckpt.corrupt-<n>` with a warning, and the run resumes from the newest readable checkpoint in that
folder, or starts over; never a dead end. Each part of the run (the first and each resumption) is recorded
in `<run dir>/resumes.json`, so `results.json` can say whether and from where the run was resumed and how
long it trained in all.
"""

from __future__ import annotations

import json
import logging
import time
import zipfile
from pathlib import Path

from fer.utils.io import atomic_write_json

log = logging.getLogger(__name__)
HISTORY = "resumes.json"


def readable_checkpoint(path: str | Path) -> bool:
    """Whether `path` is a complete torch checkpoint: a zip archive (torch.save's format) whose every member
    passes its CRC check. Reads the file once; unpickles nothing."""
    try:
        with zipfile.ZipFile(path) as zf:
            return zf.testzip() is None and any(n.endswith("data.pkl") for n in zf.namelist())
    except (OSError, zipfile.BadZipFile, EOFError, ValueError):
        return False


def set_aside(path: Path) -> Path:
    """Rename an unreadable checkpoint to `<name>.corrupt-<n>` (the first free n) and return the new path."""
    n = 1
    while path.with_name(f"{path.name}.corrupt-{n}").exists():
        n += 1
    target = path.with_name(f"{path.name}.corrupt-{n}")
    path.rename(target)
    return target


def resume_checkpoint(out: str | Path, enabled: bool = True) -> str | None:
    """The checkpoint to resume the run in `out` from: `checkpoints/last.ckpt` when readable, else the newest
    readable checkpoint of that folder, else None (start over). Unreadable ones are set aside with a warning."""
    folder = Path(out) / "checkpoints"
    if not enabled or not folder.is_dir():
        return None
    for tmp in folder.glob(".*.tmp*"):  # a killed writer's temporary file (AtomicCheckpointIO)
        tmp.unlink(missing_ok=True)
    last = folder / "last.ckpt"
    others = sorted((p for p in folder.glob("*.ckpt") if p != last), key=lambda p: p.stat().st_mtime, reverse=True)
    for path in ([last] if last.is_file() else []) + others:
        if readable_checkpoint(path):
            if path != last:
                log.warning("resuming from %s, the newest readable checkpoint", path)
            return str(path)
        moved = set_aside(path)
        log.warning("checkpoint %s is truncated or unreadable; set aside as %s", path, moved.name)
    if last.exists() or others:
        log.warning("no readable checkpoint in %s: training starts over", folder)
    return None


# ------------------------------------------------------------------------------------------ run parts


def start_part(out: str | Path, resumed_from: str | None, new_run: bool = False) -> None:
    """Record the start of a part of the run in `out` (its first part, or a resumption); `new_run` forgets the
    parts of an earlier run in that folder (`resume=false`)."""
    path = Path(out) / HISTORY
    parts = [] if new_run else _read(path)
    if parts and parts[-1].get("seconds") is None:  # the previous part was killed: it ran until its last write
        parts[-1]["seconds"] = round(max(0.0, _last_write(Path(out)) - parts[-1]["started"]), 1)
        parts[-1]["interrupted"] = True
    parts.append({"started": time.time(), "resumed_from": resumed_from, "seconds": None})
    atomic_write_json(path, {"parts": parts})


def finish_part(out: str | Path, seconds: float) -> dict:
    """Close the current part; returns `{"resumed": [...], "seconds_total": ...}` for results.json: one entry
    per resumption (the checkpoint and when), and the seconds of all parts together."""
    path = Path(out) / HISTORY
    parts = _read(path) or [{"started": time.time() - seconds, "resumed_from": None}]
    parts[-1]["seconds"] = round(seconds, 1)
    atomic_write_json(path, {"parts": parts})
    resumed = [
        {"from": p["resumed_from"], "at": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(p["started"]))}
        for p in parts[1:]
    ]
    return {"resumed": resumed, "seconds_total": round(sum(p.get("seconds") or 0.0 for p in parts), 1)}


def _read(path: Path) -> list[dict]:
    try:
        return list(json.loads(path.read_text())["parts"])
    except (OSError, ValueError, KeyError, TypeError):
        return []


def _last_write(out: Path) -> float:
    """When a killed part last wrote into the run folder (its checkpoints and metrics; not Hydra's files and job
    log, which the current part has written to already)."""
    times = [
        p.stat().st_mtime
        for p in out.rglob("*")
        if p.is_file() and p.name != HISTORY and p.suffix != ".log" and ".hydra" not in p.relative_to(out).parts
    ]
    return max(times, default=time.time())
