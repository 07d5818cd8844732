"""KDEF reader: `KDEF_and_AKDEF/KDEF/<AF01..BM35>/<AF01ANS.JPG>`; subject = gender + number across series A/B."""

from __future__ import annotations

import re
from pathlib import Path

from fer.classes import KDEF_CODES, class_index
from fer.data.readers._common import existing_dir, warn_skipped
from fer.data.samples import DatasetLayoutError, Sample

NAME = re.compile(r"^(?P<series>[AB])(?P<gender>[FM])(?P<num>\d{2})(?P<expr>AF|AN|DI|HA|NE|SA|SU)(?P<angle>FL|HL|S|HR|FR)$")
FOLDER = re.compile(r"^[AB][FM]\d{2}$")
ANGLES = ("FL", "HL", "S", "HR", "FR")
# Misnamed files in the official download (reported by several loaders).
MISNAMED = {"AF31V": "AF31SAHL", "AM31H": "AM31SUHR"}


def find_kdef_dir(root: str | Path) -> Path:
    """The folder holding the images: the zip's top folder, the `KDEF/` folder itself, or a flat copy."""
    root = existing_dir(root, "KDEF")
    for cand in (root, root / "KDEF", root / "KDEF_and_AKDEF" / "KDEF"):
        if cand.is_dir() and (_has_subject_folders(cand) or _has_kdef_files(cand)):
            return cand
    raise DatasetLayoutError(
        f"KDEF root {root} holds neither subject folders (AF01..BM35) nor KDEF images (e.g. AF01ANS.JPG); "
        "expected the unpacked KDEF_and_AKDEF folder, its KDEF/ subfolder, or a flat folder of KDEF images"
    )


def _has_subject_folders(d: Path) -> bool:
    return any(p.is_dir() and FOLDER.match(p.name) for p in d.iterdir())


def _has_kdef_files(d: Path) -> bool:
    return any(p.is_file() and p.suffix.lower() == ".jpg" and _parse(p.stem) for p in d.iterdir())


def _parse(stem: str) -> re.Match | None:
    return NAME.match(MISNAMED.get(stem.upper(), stem.upper()))


def read_kdef(root: str | Path, angles: tuple[str, ...] | list[str] = ("S",), **_: object) -> list[Sample]:
    """Frontal images by default (`angles=("S",)`); any of FL, HL, S, HR, FR selectable."""
    bad_angles = set(angles) - set(ANGLES)
    if bad_angles:
        raise ValueError(f"KDEF angles {sorted(bad_angles)} unknown; expected a subset of {ANGLES}")
    base = find_kdef_dir(root)
    samples, skipped = [], []
    for path in sorted(base.rglob("*")):
        if not path.is_file() or path.suffix.lower() != ".jpg" or "AKDEF" in path.relative_to(base).parts[:-1]:
            continue
        m = _parse(path.stem)
        if m is None:
            skipped.append(str(path.relative_to(base)))
            continue
        if m["angle"] not in angles:
            continue
        samples.append(Sample(
            path=str(path), label=class_index(KDEF_CODES[m["expr"]]), subject=f"kdef:{m['gender']}{m['num']}",
            dataset="kdef", meta={"series": m["series"], "angle": m["angle"]},
        ))
    warn_skipped(f"KDEF {base}", skipped)
    if not samples:
        raise DatasetLayoutError(f"KDEF root {base}: no images with angles {list(angles)} found")
    return samples
