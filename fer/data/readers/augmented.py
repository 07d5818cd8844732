"""Reader for a folder of offline-augmented images (`generate.py task=augment`, fer/data/offline_aug.py): each
image follows its source subject, named in the folder's manifest."""

from __future__ import annotations

import json
from pathlib import Path

from fer.data.samples import Sample
from fer.errors import DatasetLayoutError

STAMP, MANIFEST = "augment.json", "manifest.json"  # the settings of a run; its rows, written last


def read_augmented(root: str | Path, name: str = "augmented", source_root: str | Path | None = None) -> list[Sample]:
    """Reader for a folder written by `augment_to_folder`: Samples with origin `offline_aug`, each carrying its
    SOURCE subject and dataset (so splits keep it with its source) and `source` = the source image's path
    (under `source_root` when given, else as it was read at generation time)."""
    root = Path(root).expanduser()
    path = root / MANIFEST
    if not path.is_file():
        partial = (
            " (augment.json is there: an interrupted run; rerun the same command to finish it)"
            if (root / STAMP).is_file()
            else ""
        )
        raise DatasetLayoutError(
            f"{name} root {root}: no {MANIFEST}{partial}; produce it with "
            f"`python generate.py task=augment dataset=<dataset> out_dir={root}`"
        )
    manifest = json.loads(path.read_text())
    samples = []
    for r in manifest["rows"]:
        src = (
            str(Path(source_root).expanduser() / r["source"])
            if source_root and not r["source"].startswith("sha256:")
            else r["source_path"]
        )
        samples.append(
            Sample(
                str(root / r["file"]),
                int(r["label"]),
                r["subject"],
                r["dataset"],
                origin="offline_aug",
                source=src,
                meta={"copy": r["copy"], "params": r["params"]},
            )
        )
    if not samples:
        raise DatasetLayoutError(f"{name} root {root}: the manifest lists no images")
    return samples
