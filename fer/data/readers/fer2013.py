"""FER2013 reader: the CSV form (`emotion,pixels,Usage`) or the folder form (`train/<class>`, `test/<class>`).

The CSV's pixel rows are decoded once into 48 x 48 PNGs under `decode_dir` (keyed by the CSV's path, size and
modification time; built under a lock, into a temporary folder renamed into place), so every later step
(face cache, previews, prediction) sees ordinary image files. The CSV's own class order
(angry, disgust, fear, happy, sad, surprise, neutral) is mapped to ours. `Usage` (Training, PublicTest,
PrivateTest), or the folder name (train, test), is kept in `meta["usage"]` for splits and can be selected
with `usage=`. There are no subject ids: each image is its own subject.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

from fer.classes import FER2013_CODES, class_index
from fer.data.readers._common import CLASS_ALIASES as FOLDER_ALIASES
from fer.data.readers._common import (
    SampleList,
    existing_dir,
    image_files,
    is_junk,
    search_below,
    warn_skipped,
    warn_skipped_records,
)
from fer.data.samples import Sample
from fer.errors import DatasetLayoutError
from fer.utils.io import atomic_path, leftovers
from fer.utils.procs import file_lock

EXPECTED = (
    "expected fer2013.csv (columns emotion,pixels,Usage), a folder holding it, or a folder with "
    "train/<class>/ and test/<class>/ image folders"
)
SPLIT_DIRS = ("train", "test", "val", "validation", "publictest", "privatetest")
# Official split of each Usage value / split folder (train / val / test), for protocol=official.
SPLITS = {
    "training": "train",
    "train": "train",
    "publictest": "val",
    "val": "val",
    "validation": "val",
    "privatetest": "test",
    "test": "test",
}
DEFAULT_DECODE_DIR = Path(os.environ.get("FER_DECODE_DIR", Path.home() / ".cache" / "ferlab" / "fer2013"))


def _is_fer_csv(p: Path) -> bool:
    if not (p.is_file() and p.suffix.lower() == ".csv"):
        return False
    with open(p, newline="", errors="replace") as fh:
        header = [h.strip().lower() for h in fh.readline().split(",")]
    return "emotion" in header and "pixels" in header


def _split_dirs(d: Path) -> list[Path]:
    return [
        p
        for p in sorted(d.iterdir())
        if p.is_dir()
        and p.name.lower() in SPLIT_DIRS
        and any(c.is_dir() and c.name.lower() in FOLDER_ALIASES for c in p.iterdir())
    ]


def _usage_filter(usage) -> set[str] | None:
    if usage is None:
        return None
    return {u.lower() for u in ([usage] if isinstance(usage, str) else usage)}


def read_fer2013(
    root: str | Path, usage: str | list[str] | None = None, decode_dir: str | Path | None = None
) -> list[Sample]:
    """`usage`: keep only these Usage values / split folders (e.g. `Training` or `[train]`), case-insensitive."""
    path = Path(root).expanduser()
    wanted = _usage_filter(usage)
    if path.is_file():
        if not _is_fer_csv(path):
            raise DatasetLayoutError(f"FER2013 file {path} is not a CSV with emotion and pixels columns. {EXPECTED}")
        return _read_csv(path, wanted, decode_dir)
    root = existing_dir(path, "FER2013")
    csvs = [p for p in sorted(root.glob("*.csv")) if _is_fer_csv(p)]
    if csvs:
        return _read_csv(csvs[0], wanted, decode_dir)
    splits = _split_dirs(root)
    if splits:
        return _read_folders(root, splits, wanted)
    if root.name.lower() in SPLIT_DIRS or any(p.is_dir() and p.name.lower() in FOLDER_ALIASES for p in root.iterdir()):
        raise DatasetLayoutError(
            f"FER2013 root {root} is a split folder (one level too low); point the root at its "
            f"parent {root.parent}. {EXPECTED}"
        )
    found = search_below(root, lambda d: bool(_split_dirs(d)) or any(_is_fer_csv(p) for p in d.glob("*.csv")), depth=2)
    hint = f"; FER2013 data were found in {found}: point the root there" if found else ""
    raise DatasetLayoutError(
        f"FER2013 root {root}: no fer2013.csv and no train/ or test/ class folders{hint}. {EXPECTED}"
    )


def _read_folders(root: Path, splits: list[Path], wanted: set[str] | None) -> list[Sample]:
    samples, others = [], []
    for split in splits:
        if wanted is not None and split.name.lower() not in wanted:
            continue
        for d in sorted(split.iterdir()):
            if not d.is_dir() or is_junk(Path(d.name)):
                continue
            if d.name.lower() not in FOLDER_ALIASES:
                others.append(f"{split.name}/{d.name}")
                continue
            label = class_index(FOLDER_ALIASES[d.name.lower()])
            for p in image_files(d):
                rel = p.relative_to(root).as_posix()
                samples.append(
                    Sample(
                        str(p),
                        label,
                        f"fer2013:{rel}",
                        "fer2013",
                        meta={"usage": split.name.lower(), "split": SPLITS[split.name.lower()], "gray": True},
                    )
                )
    warn_skipped(f"FER2013 {root}", others, why="folders that name no emotion (not read)")
    if not samples:
        raise DatasetLayoutError(
            f"FER2013 root {root}: no images in the selected split folders (usage={sorted(wanted or [])}). {EXPECTED}"
        )
    return SampleList(samples)


def decode_csv(csv_path: Path, decode_dir: str | Path | None = None) -> Path:
    """Decode every pixel row to `<decode_dir>/<key>/<Usage>/<class>/<row>.png` once; returns that folder."""
    st = csv_path.stat()
    key = hashlib.sha256(f"{csv_path.resolve()}\0{st.st_size}\0{st.st_mtime_ns}".encode()).hexdigest()[:16]
    base = Path(decode_dir or DEFAULT_DECODE_DIR).expanduser()
    out = base / key
    with file_lock(base / f".{key}.lock"):
        if (out / "index.json").is_file():
            return out
        for stale in leftovers(out):  # left by an interrupted run
            shutil.rmtree(stale, ignore_errors=True)
        with atomic_path(out, what="the decoded FER2013 images") as tmp:
            tmp.mkdir(parents=True)
            rows, skipped = [], []
            with open(csv_path, newline="", errors="replace") as fh:
                reader = csv.DictReader(fh)
                fields = {f.strip().lower(): f for f in reader.fieldnames or []}
                for i, row in enumerate(reader):
                    line = i + 2  # 1-based, after the header
                    try:
                        if None in row or any(v is None for v in row.values()):
                            raise ValueError("wrong number of fields")
                        code = int(row[fields["emotion"]])
                        if code not in FER2013_CODES:
                            raise ValueError(f"unknown emotion code {code}, expected 0..6")
                        cls = FER2013_CODES[code]
                        pixels = np.array(row[fields["pixels"]].split(), dtype=np.float64)
                        if pixels.size != 48 * 48:
                            raise ValueError(f"{pixels.size} pixel values, expected 2304 (48 x 48)")
                        if pixels.min() < 0 or pixels.max() > 255:
                            raise ValueError(f"pixel values {pixels.min():g}..{pixels.max():g}, expected 0..255")
                    except (KeyError, ValueError, TypeError) as e:
                        skipped.append({"file": f"{csv_path}:{line}", "reason": f"bad row ({e})"})
                        continue
                    use = (row.get(fields.get("usage", ""), "") or "all").strip() or "all"
                    rel = f"{use}/{cls}/{line:05d}.png"
                    (tmp / use / cls).mkdir(parents=True, exist_ok=True)
                    if not cv2.imwrite(str(tmp / rel), pixels.reshape(48, 48).astype(np.uint8)):
                        raise OSError(f"could not write {tmp / rel}")
                    rows.append([line, code, use, rel])
            (tmp / "index.json").write_text(json.dumps({"csv": str(csv_path), "rows": rows, "skipped": skipped}))
    return out


def _read_csv(csv_path: Path, wanted: set[str] | None, decode_dir) -> list[Sample]:
    out = decode_csv(csv_path, decode_dir)
    index = json.loads((out / "index.json").read_text())
    samples = [
        Sample(
            str(out / rel),
            class_index(FER2013_CODES[code]),
            f"fer2013:{line}",
            "fer2013",
            meta={"usage": use, "split": SPLITS.get(use.lower()), "row": line, "gray": True},
        )
        for line, code, use, rel in index["rows"]
        if wanted is None or use.lower() in wanted
    ]
    warn_skipped_records(f"FER2013 {csv_path}", index["skipped"])
    if not index["rows"]:  # every row rejected: say why, by reason (the detail of each row stays with the row)
        reasons = Counter(r["reason"] for r in index["skipped"]).most_common()
        counts = "; ".join(f"{n} x {why}" for why, n in reasons[:3]) + (
            f"; {len(reasons) - 3} other reasons" if len(reasons) > 3 else ""
        )
        raise DatasetLayoutError(
            f"FER2013 {csv_path}: every row was rejected ({len(index['skipped'])} rows: {counts or 'no data rows'}); "
            "expected columns emotion (0..6), pixels (2304 values 0..255) and Usage"
        )
    if not samples:
        raise DatasetLayoutError(
            f"FER2013 {csv_path}: no rows with usage in {sorted(wanted or [])}; the file has "
            f"{sorted({r[2] for r in index['rows']})}"
        )
    return SampleList(samples, index["skipped"])
