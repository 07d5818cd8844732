"""JAFFE reader: one folder of `<poser>.<EXPR><k>.<number>.tiff`; subject = poser.

Names are split on dots (numbers have 1 to 3 digits, and both the numbers and the per-expression index k
have gaps: normal). Non-TIFF files (README, ratings) are ignored. Images are marked grey (`meta["gray"]`).
"""

from __future__ import annotations

import re
from pathlib import Path

from fer.classes import JAFFE_CODES, class_index
from fer.data.readers._common import SampleList, existing_dir, image_files, search_below, warn_skipped
from fer.data.samples import Sample
from fer.errors import DatasetLayoutError

EXPR = re.compile(r"^(?P<code>[A-Z]{2})(?P<k>\d*)$")
POSER = re.compile(r"^[A-Z]{2}$")
SUFFIXES = {".tiff", ".tif"}
EXPECTED = "expected the folder of JAFFE TIFFs named like KA.AN1.39.tiff"


def parse_name(name: str) -> tuple[str, str, int | str] | None:
    """(poser, expression code, image number) from `KA.AN1.39.tiff`, or None."""
    parts = name.split(".")
    if len(parts) != 4 or not POSER.match(parts[0].upper()):
        return None
    m = EXPR.match(parts[1].upper())
    if m is None:
        return None
    return parts[0].upper(), m["code"], int(parts[2]) if parts[2].isdigit() else parts[2]


def read_jaffe(root: str | Path) -> list[Sample]:
    """Every `<poser>.<EXPR><k>.<number>.tiff`; the posers are all women (`meta["sex"] = "F"`)."""
    root = existing_dir(root, "JAFFE")
    files = image_files(root, SUFFIXES, recursive=False)
    if not files:
        found = search_below(root, lambda d: bool(image_files(d, SUFFIXES, recursive=False)), depth=2)
        if found is None:
            raise DatasetLayoutError(f"JAFFE root {root}: no .tiff files in it or up to 2 levels below. {EXPECTED}")
        files, root = image_files(found, SUFFIXES, recursive=False), found  # one level too high: the TIFFs are below
    samples, unparseable, unknown = [], [], []
    for path in files:
        parsed = parse_name(path.name)
        if parsed is None:
            unparseable.append(path.name)
            continue
        poser, code, number = parsed
        if code not in JAFFE_CODES:
            unknown.append(path.name)
            continue
        samples.append(
            Sample(
                path=str(path),
                label=class_index(JAFFE_CODES[code]),
                subject=f"jaffe:{poser}",
                dataset="jaffe",
                meta={"number": number, "gray": True, "sex": "F"},
            )
        )
    warn_skipped(f"JAFFE {root}", unparseable, remedy="names must look like KA.AN1.39.tiff")
    warn_skipped(
        f"JAFFE {root}",
        unknown,
        why="unknown expression codes",
        remedy=f"expected one of {', '.join(JAFFE_CODES)}; rename or remove them",
    )
    if not samples:
        raise DatasetLayoutError(f"JAFFE root {root}: no `<poser>.<EXPR><k>.<number>.tiff` images found. {EXPECTED}")
    skipped = [{"file": str(root / n), "reason": "unparseable JAFFE name"} for n in unparseable] + [
        {"file": str(root / n), "reason": "unknown JAFFE expression code"} for n in unknown
    ]
    return SampleList(samples, skipped)
