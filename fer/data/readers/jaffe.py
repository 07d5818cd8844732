"""JAFFE reader: one folder of `<poser>.<EXPR><k>.<number>.tiff`; subject = poser."""

from __future__ import annotations

import re
from pathlib import Path

from fer.classes import JAFFE_CODES, class_index
from fer.data.readers._common import existing_dir, warn_skipped
from fer.data.samples import DatasetLayoutError, Sample

EXPR = re.compile(r"^(?P<code>[A-Z]{2})(?P<k>\d+)$")


def read_jaffe(root: str | Path, **_: object) -> list[Sample]:
    root = existing_dir(root, "JAFFE")
    samples, skipped = [], []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.suffix.lower() not in {".tiff", ".tif"}:
            continue  # README and other files in the download
        parts = path.name.split(".")  # numbers have 1 to 3 digits: split on dots, never on fixed offsets
        m = EXPR.match(parts[1].upper()) if len(parts) == 4 else None
        if m is None or m["code"] not in JAFFE_CODES:
            skipped.append(path.name)
            continue
        samples.append(Sample(
            path=str(path), label=class_index(JAFFE_CODES[m["code"]]), subject=f"jaffe:{parts[0].upper()}",
            dataset="jaffe", meta={"number": int(parts[2]) if parts[2].isdigit() else parts[2]},
        ))
    warn_skipped(f"JAFFE {root}", skipped)
    if not samples:
        raise DatasetLayoutError(
            f"JAFFE root {root}: no `<poser>.<EXPR><k>.<number>.tiff` images found; expected the folder of TIFFs"
        )
    return samples
