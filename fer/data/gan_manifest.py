"""The manifest of a folder of GAN samples (`<folder>/manifest.json`): per class, the files, the checkpoint and
seed that made them, and the subjects whose faces trained that class's GAN. Written by `generate.py task=gan`;
read by the leakage guard of every run that trains on the samples, and by GAN evaluation.

    {"origin": "gan", "classes": {class: {"files": [...], "seen_subjects": [...], "checkpoint": ..., ...}}}
"""

from __future__ import annotations

import json
from pathlib import Path

from fer.utils.io import atomic_write_json
from fer.utils.procs import file_lock

__all__ = ["MANIFEST", "leaked_subjects", "merge_manifest", "read_gan_seen_subjects", "read_manifest"]

MANIFEST = "manifest.json"


def read_manifest(out_dir: str | Path) -> dict:
    """The manifest of `out_dir` (an empty one when there is none yet)."""
    out_dir = Path(out_dir)
    path = out_dir / MANIFEST
    if not path.is_file():
        return {"classes": {}}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON ({e}); delete it and re-run task=gan for every emotion") from e


def merge_manifest(out_dir: Path, emotion: str, entry: dict) -> Path:
    """Set one class's entry in `<out_dir>/manifest.json` under a file lock (parallel emotions), atomically."""
    path = out_dir / MANIFEST
    with file_lock(out_dir / f".{MANIFEST}.lock"):
        manifest = read_manifest(out_dir)
        manifest.setdefault("classes", {})[emotion] = entry
        manifest["files_relative_to"] = "the folder of this manifest"
        manifest["origin"] = "gan"
        atomic_write_json(path, manifest)
    return path


def leaked_subjects(out_dir: str | Path, test_subjects) -> dict[str, list[str]]:
    """Per class, the test subjects whose faces trained that class's GAN (from the manifest). A k-fold run that
    trains on these samples while testing on such subjects leaks; train those GANs per fold instead
    (`gan.exclude_subjects=<the fold's test subjects>`, one out_dir per fold)."""
    test = set(test_subjects)
    classes = read_manifest(Path(out_dir)).get("classes", {})
    return {
        c: sorted(test & set(e.get("seen_subjects") or []))
        for c, e in classes.items()
        if test & set(e.get("seen_subjects") or [])
    }


def read_gan_seen_subjects(root: str | Path) -> set[str] | None:
    """Subjects whose images trained the GAN of a sample folder (`<root>/manifest.json`); None when unknown.

    The manifest holds `{"classes": {cls: {"seen_subjects": [...], ...}}}`; ids without a dataset prefix
    are taken as the manifest's `dataset` (default kdef), e.g. `F01` -> `kdef:F01`.
    """
    path = Path(root) / MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text())
        prefix = manifest.get("dataset", "kdef")
        seen = set()
        for entry in manifest["classes"].values():
            seen.update(
                s if ":" in s else f"{entry.get('dataset', prefix)}:{s}" for s in entry.get("seen_subjects", [])
            )
    except (ValueError, KeyError, AttributeError, TypeError) as e:
        raise ValueError(
            f"{path}: unreadable GAN manifest ({e}); expected "
            '{"classes": {class: {"seen_subjects": [...]}}}; regenerate it with generate.py'
        ) from e
    return seen
