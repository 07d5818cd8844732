"""RAF-DB (basic) reader: `EmoLabel/list_patition_label.txt` with `Image/aligned/*_aligned.jpg` or `Image/original/`.

The label file holds one line per image (`train_00001.jpg 5`, the original name even for the aligned image);
the name's prefix is the official split (`train_` / `test_`, kept as `meta["split"]`). Codes 1..7 are RAF's
own order (surprise, fear, disgust, happiness, sadness, anger, neutral), mapped to ours. When
`Annotation/manual/<name>_manu_attri.txt` exists, its gender (0 male, 1 female, 2 unsure), race (0 Caucasian,
1 African-American, 2 Asian) and age group (0: 0-3, 1: 4-19, 2: 20-39, 3: 40-69, 4: 70+) become
`meta["gender"]`, `meta["race"]`, `meta["age"]`. Copies split into `train/<1..7>/` and `test/<1..7>/`
folders (RAF's numeric codes as folder names) are read too. No subject ids: each image is its own subject.
"""

from __future__ import annotations

from pathlib import Path

from fer.classes import class_index
from fer.data.readers._common import (
    IMAGE_SUFFIXES,
    SampleList,
    existing_dir,
    image_files,
    search_below,
    warn_skipped_records,
)
from fer.data.samples import Sample
from fer.errors import DatasetLayoutError

RAF_CODES = {1: "surprise", 2: "fear", 3: "disgust", 4: "happy", 5: "sad", 6: "angry", 7: "neutral"}
LABELS = Path("EmoLabel") / "list_patition_label.txt"
IMAGE_KINDS = ("aligned", "original")
GENDER = {0: "male", 1: "female", 2: "unsure"}
RACE = {0: "caucasian", 1: "african_american", 2: "asian"}
AGE = {0: "0-3", 1: "4-19", 2: "20-39", 3: "40-69", 4: "70+"}
EXPECTED = (
    "expected RAF-DB's basic/ folder (EmoLabel/list_patition_label.txt and Image/aligned/ or Image/original/), "
    "or train/<1..7>/ and test/<1..7>/ folders"
)


def _is_raf(d: Path) -> bool:
    return (d / LABELS).is_file()


def _split_folders(d: Path) -> list[Path]:
    return [
        p
        for p in sorted(d.iterdir())
        if p.is_dir()
        and p.name.lower() in ("train", "test")
        and any(c.is_dir() and c.name in {str(k) for k in RAF_CODES} for c in p.iterdir())
    ]


def read_attributes(path: Path) -> dict:
    """gender, race and age group from a manual attribute file: its last three single-number lines."""
    numbers = [int(t) for t in (ln.strip() for ln in path.read_text(errors="replace").splitlines()) if t.isdigit()]
    if len(numbers) < 3:
        return {}
    gender, race, age = numbers[-3:]
    return {"gender": GENDER.get(gender, str(gender)), "race": RACE.get(race, str(race)), "age": AGE.get(age, str(age))}


def read_rafdb(root: str | Path, images: str = "aligned") -> list[Sample]:
    """`images`: `aligned` (100 x 100 crops, the usual choice) or `original` (detect faces then)."""
    if images not in IMAGE_KINDS:
        raise ValueError(f"RAF-DB images={images!r}; expected one of {IMAGE_KINDS}")
    root = existing_dir(root, "RAF-DB")
    if _is_raf(root):
        return _read_label_file(root, images)
    if _split_folders(root):
        return _read_split_folders(root)
    found = search_below(root, lambda d: _is_raf(d) or bool(_split_folders(d)), depth=2)
    hint = f"; RAF-DB was found in {found}: point the root there" if found else ""
    raise DatasetLayoutError(f"RAF-DB root {root}: no {LABELS.as_posix()}{hint}. {EXPECTED}")


def _read_label_file(root: Path, images: str) -> list[Sample]:
    image_dir = root / "Image" / images
    if not image_dir.is_dir():
        raise DatasetLayoutError(
            f"RAF-DB root {root}: no Image/{images}/ folder (rafdb option images={images!r}). {EXPECTED}"
        )
    attributes = root / "Annotation" / "manual"
    samples, skipped = [], []
    for number, line in enumerate((root / LABELS).read_text(errors="replace").splitlines(), 1):
        where = f"{root / LABELS}:{number}"
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or not parts[1].isdigit():
            skipped.append({"file": where, "reason": f"bad line {line.strip()!r} (expected e.g. train_00001.jpg 5)"})
            continue
        name, code = parts[0], int(parts[1])
        split = name.split("_", 1)[0].lower()
        if code not in RAF_CODES or split not in ("train", "test"):
            why = f"unknown RAF-DB code {code}, expected 1..7" if code not in RAF_CODES else "no train_/test_ prefix"
            skipped.append({"file": where, "reason": why})
            continue
        stem = Path(name).stem
        path = image_dir / (f"{stem}_aligned{Path(name).suffix}" if images == "aligned" else name)
        if not path.is_file():
            skipped.append({"file": str(path), "reason": "missing image (listed in the label file)"})
            continue
        meta = {"split": split, "name": name}
        attr = attributes / f"{stem}_manu_attri.txt"
        if attr.is_file():
            meta.update(read_attributes(attr))
        samples.append(Sample(str(path), class_index(RAF_CODES[code]), f"rafdb:{stem}", "rafdb", meta=meta))
    warn_skipped_records(f"RAF-DB {root}", skipped)
    if not samples:
        raise DatasetLayoutError(f"RAF-DB root {root}: no usable lines in {LABELS.as_posix()}. {EXPECTED}")
    return SampleList(samples, skipped)


def _read_split_folders(root: Path) -> list[Sample]:
    """`train/<1..7>/*` and `test/<1..7>/*`: folder names are RAF's codes (never FER2013's)."""
    samples, skipped = [], []
    for split_dir in _split_folders(root):
        for d in sorted(p for p in split_dir.iterdir() if p.is_dir()):
            code = int(d.name) if d.name.isdigit() else None
            if code not in RAF_CODES:
                skipped.append({"file": str(d), "reason": "folder that names no RAF-DB code 1..7 (not read)"})
                continue
            for path in image_files(d, IMAGE_SUFFIXES):
                rel = path.relative_to(root).as_posix()
                samples.append(
                    Sample(
                        str(path),
                        class_index(RAF_CODES[code]),
                        f"rafdb:{rel}",
                        "rafdb",
                        meta={"split": split_dir.name.lower()},
                    )
                )
    warn_skipped_records(f"RAF-DB {root}", skipped)
    if not samples:
        raise DatasetLayoutError(f"RAF-DB root {root}: no images in its train/ and test/ code folders. {EXPECTED}")
    return SampleList(samples, skipped)
