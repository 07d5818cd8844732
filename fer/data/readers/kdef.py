"""KDEF reader: `KDEF_and_AKDEF/KDEF/<AF01..BM35>/<AF01ANS.JPG>`; subject = gender + number across series A/B.

The root may be the zip's top folder (`KDEF_and_AKDEF/`), the `KDEF/` folder itself or a flat folder of
KDEF images. `AKDEF/` (averaged faces) and documentation folders beside `KDEF/` are ignored.
"""

from __future__ import annotations

import re
from pathlib import Path

from fer.classes import KDEF_CODES, class_index
from fer.data.readers._common import SampleList, existing_dir, image_files, is_junk, search_below, warn_skipped
from fer.data.samples import Sample
from fer.errors import DatasetLayoutError

NAME = re.compile(
    r"^(?P<series>[AB])(?P<gender>[FM])(?P<num>\d{2})(?P<expr>AF|AN|DI|HA|NE|SA|SU)(?P<angle>FL|HL|S|HR|FR)$"
)
FOLDER = re.compile(r"^[AB][FM]\d{2}$")
ANGLES = ("FL", "HL", "S", "HR", "FR")
SUFFIXES = {".jpg", ".jpeg"}
# Misnamed files in the official download (reported by several loaders).
MISNAMED = {"AF31V": "AF31SAHL", "AM31H": "AM31SUHR"}
EXPECTED = (
    "expected the unpacked KDEF_and_AKDEF folder, its KDEF/ subfolder (holding AF01..BM35), "
    "or a flat folder of KDEF images named like AF01ANS.JPG"
)


def _has_subject_folders(d: Path) -> bool:
    return any(p.is_dir() and FOLDER.match(p.name.upper()) for p in d.iterdir())


def _has_kdef_files(d: Path) -> bool:
    return any(p.is_file() and p.suffix.lower() in SUFFIXES and _parse(p.stem) for p in d.iterdir())


def _looks_like_kdef(d: Path) -> bool:
    return d.is_dir() and d.name.upper() != "AKDEF" and (_has_subject_folders(d) or _has_kdef_files(d))


def _parse(stem: str) -> re.Match | None:
    stem = stem.upper()
    return NAME.match(MISNAMED.get(stem, stem))


def find_kdef_dir(root: str | Path) -> Path:
    """The folder holding the images: the zip's top folder, the `KDEF/` folder itself, or a flat copy."""
    root = existing_dir(root, "KDEF")
    if FOLDER.match(root.name.upper()) and _has_subject_folders(root.parent):
        raise DatasetLayoutError(
            f"KDEF root {root} is a single subject's folder (one level too low); point the root at its parent "
            f"{root.parent}. {EXPECTED}"
        )
    for cand in (root, root / "KDEF", root / "KDEF_and_AKDEF" / "KDEF"):
        if _looks_like_kdef(cand):
            return cand
    found = search_below(root, _looks_like_kdef, depth=3)
    hint = f"; KDEF images were found in {found}: point the root there" if found else ""
    raise DatasetLayoutError(
        f"KDEF root {root} holds neither subject folders (AF01..BM35) nor KDEF images (e.g. AF01ANS.JPG)"
        f"{hint}. {EXPECTED}"
    )


def read_kdef(root: str | Path, angles: tuple[str, ...] | list[str] | str = ("S",)) -> list[Sample]:
    """Frontal images by default (`angles=("S",)`); any of FL, HL, S, HR, FR (or "all") selectable.
    `meta["sex"]` (F/M) comes from the file code, for per-group reports.

    Unparseable names are skipped with one warning listing them; they are also in the result's `.skipped`.
    """
    if isinstance(angles, str):
        angles = ANGLES if angles.lower() == "all" else (angles,)
    angles = tuple(a.upper() for a in angles)
    bad_angles = set(angles) - set(ANGLES)
    if bad_angles:
        raise ValueError(f"KDEF angles {sorted(bad_angles)} unknown; expected a subset of {ANGLES} or 'all'")
    base = find_kdef_dir(root)
    samples, skipped, seen = [], [], {}
    for path in image_files(base, SUFFIXES):
        rel = path.relative_to(base)
        if any(p.upper() == "AKDEF" for p in rel.parts[:-1]) or is_junk(rel):
            continue
        m = _parse(path.stem)
        if m is None:
            skipped.append({"file": str(path), "reason": "unparseable KDEF name"})
            continue
        if m["angle"] not in angles:
            continue
        canonical = f"{m['series']}{m['gender']}{m['num']}{m['expr']}{m['angle']}"
        if canonical in seen:  # e.g. a flattened copy beside the subject folders
            skipped.append({"file": str(path), "reason": f"duplicate of {seen[canonical]}"})
            continue
        seen[canonical] = str(rel)
        samples.append(
            Sample(
                path=str(path),
                label=class_index(KDEF_CODES[m["expr"]]),
                subject=f"kdef:{m['gender']}{m['num']}",
                dataset="kdef",
                meta={"series": m["series"], "angle": m["angle"], "name": canonical, "sex": m["gender"]},
            )
        )
    warn_skipped(
        f"KDEF {base}",
        [str(Path(d["file"]).relative_to(base)) for d in skipped if d["reason"].startswith("unparse")],
        remedy="rename them like AF01ANS.JPG ([A|B][F|M]NN<expr><angle>) or remove them",
    )
    warn_skipped(
        f"KDEF {base}",
        [str(Path(d["file"]).relative_to(base)) for d in skipped if d["reason"].startswith("dup")],
        why="duplicate images (same KDEF name twice)",
        remedy="the first copy is used",
    )
    if not samples:
        raise DatasetLayoutError(f"KDEF root {base}: no images with angles {list(angles)} found. {EXPECTED}")
    return SampleList(samples, skipped)
