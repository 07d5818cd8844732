"""AffectNet reader, in its two common forms.

- Official: `training.csv` and `validation.csv` (columns `subDirectory_filePath, face_x, face_y, face_width,
  face_height, facial_landmarks, expression, valence, arousal`) beside `Manually_Annotated_Images/<dir>/<file>`.
  The face box is kept as `meta["box"]` (x, y, w, h).
- Re-distributed: `train_set/images/<n>.jpg` with `train_set/annotations/<n>_exp.npy`, and `val_set/` alike
  (images already cropped to the face).

Expression codes: 0 neutral, 1 happy, 2 sad, 3 surprise, 4 fear, 5 disgust, 6 anger, 7 contempt, 8 none,
9 uncertain, 10 no-face. Contempt is dropped unless `keep_contempt` (then label 7, as CK+'s); codes 8..10 are
always dropped (counted in the log). The training part is the official `train` split; the validation part,
the de-facto test set (the test set is not public), is `meta["split"] = "test"`. No subject ids: each image is
its own subject.
"""

from __future__ import annotations

import csv
import logging
from collections import Counter
from pathlib import Path

import numpy as np

from fer.classes import CLASSES, class_index
from fer.data.readers._common import SampleList, existing_dir, search_below, warn_skipped_records
from fer.data.samples import Sample
from fer.errors import DatasetLayoutError

log = logging.getLogger(__name__)

AFFECTNET_CODES = {
    0: "neutral",
    1: "happy",
    2: "sad",
    3: "surprise",
    4: "fear",
    5: "disgust",
    6: "angry",
    7: "contempt",
}
NON_EMOTION = {8: "none", 9: "uncertain", 10: "no-face"}
CSVS = {"training.csv": ("train", "training"), "validation.csv": ("test", "validation")}
NPY_SETS = {"train_set": ("train", "training"), "val_set": ("test", "validation")}
IMAGES = "Manually_Annotated_Images"
EXPECTED = (
    "expected AffectNet's training.csv / validation.csv beside Manually_Annotated_Images/, or the "
    "train_set/ and val_set/ folders (images/<n>.jpg, annotations/<n>_exp.npy)"
)


def _csv_form(d: Path) -> bool:
    return any((d / name).is_file() for name in CSVS)


def _npy_form(d: Path) -> bool:
    return any((d / name / "annotations").is_dir() for name in NPY_SETS)


def read_affectnet(root: str | Path, keep_contempt: bool = False) -> list[Sample]:
    """AffectNet in either form (see the module docstring); `keep_contempt` keeps contempt as label 7."""
    root = existing_dir(root, "AffectNet")
    if not (_csv_form(root) or _npy_form(root)):
        found = search_below(root, lambda d: _csv_form(d) or _npy_form(d), depth=2)
        hint = f"; AffectNet was found in {found}: point the root there" if found else ""
        raise DatasetLayoutError(f"AffectNet root {root}: neither form found{hint}. {EXPECTED}")
    rows = _csv_rows(root) if _csv_form(root) else _npy_rows(root)
    samples, skipped, dropped = [], [], Counter()
    for where, path, code, split, usage, meta in rows:
        if isinstance(code, str):  # an unreadable code: the reason
            skipped.append({"file": where, "reason": code})
            continue
        if code in NON_EMOTION or (code == 7 and not keep_contempt):
            dropped[NON_EMOTION.get(code, "contempt")] += 1
            continue
        if code not in AFFECTNET_CODES:
            skipped.append({"file": where, "reason": f"unknown AffectNet expression code {code}, expected 0..10"})
            continue
        if not path.is_file():
            skipped.append({"file": str(path), "reason": "missing image (listed in the annotations)"})
            continue
        name = AFFECTNET_CODES[code]
        label = len(CLASSES) if name == "contempt" else class_index(name)
        subject = f"affectnet:{path.relative_to(root).as_posix()}"
        samples.append(Sample(str(path), label, subject, "affectnet", meta={"split": split, "usage": usage, **meta}))
    if dropped:
        log.info("AffectNet %s: dropped %s (not among the classes used)", root, dict(dropped))
    warn_skipped_records(f"AffectNet {root}", skipped)
    if not samples:
        raise DatasetLayoutError(f"AffectNet root {root}: no usable images. {EXPECTED}")
    return SampleList(samples, skipped)


def _csv_rows(root: Path):
    images = root / IMAGES
    for name, (split, usage) in CSVS.items():
        path = root / name
        if not path.is_file():
            continue
        with open(path, newline="", errors="replace") as fh:
            reader = csv.DictReader(fh)
            for number, row in enumerate(reader, 2):
                where = f"{path}:{number}"
                try:
                    if None in row or any(v is None for v in row.values()):
                        raise ValueError("wrong number of fields")
                    code = int(float(row["expression"]))
                    box = [int(float(row[k])) for k in ("face_x", "face_y", "face_width", "face_height")]
                    rel = row["subDirectory_filePath"].strip()
                except (KeyError, ValueError) as e:
                    yield where, None, f"bad row ({e})", split, usage, {}
                    continue
                yield where, images / rel, code, split, usage, {"box": box}


def _npy_rows(root: Path):
    for name, (split, usage) in NPY_SETS.items():
        annotations = root / name / "annotations"
        if not annotations.is_dir():
            continue
        for ann in sorted(annotations.glob("*_exp.npy")):
            n = ann.name[: -len("_exp.npy")]
            try:
                code = int(np.load(ann).item())  # stored as a 0-d array of the code, often as a string
            except (ValueError, OSError, TypeError) as e:
                yield str(ann), None, f"unreadable annotation ({e})", split, usage, {}
                continue
            image = next((p for p in (root / name / "images").glob(f"{n}.*")), root / name / "images" / f"{n}.jpg")
            yield str(ann), image, code, split, usage, {}
