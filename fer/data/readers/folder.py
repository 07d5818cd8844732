"""Face folders: PFA face swaps, web faces ("Q"), generated samples.

Two layouts:
- per-emotion folders `<root>/<class>/**/*.jpg`, class folders named with our names, KDEF/JAFFE codes or
  common synonyms (case-insensitive: anger, disgusted, fearful, happiness, neutrality, normal, sadness,
  surprised, ...); `<root>/train|val|test/<class>/*` is an official split (`meta["split"]`, protocol=official);
- any folders, with the class taken from the file name by `label_pattern` (a regex with a `label` group
  holding a class name or code), e.g. PFA's two identity folders whose names keep the source KDEF file name.

The subject comes from `subject_pattern` (a regex whose `subject` group is applied to the file name, e.g. the
source KDEF subject of a PFA image, `[AB](?P<subject>[FM]\\d{2})` with `subject_prefix: kdef`), otherwise each
image is its own subject.
"""

from __future__ import annotations

import re
from pathlib import Path

from fer.classes import class_index
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

EXPECTED = (
    "expected `<root>/<class>/*.jpg` with one folder per emotion named e.g. angry, happy (or KDEF codes "
    "AN, HA), or set label_pattern to take the class from the file names"
)


SPLITS = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}


def _class_dirs(d: Path) -> list[Path]:
    return [p for p in sorted(d.iterdir()) if p.is_dir() and p.name.lower() in FOLDER_ALIASES]


def _split_dirs(d: Path) -> list[Path]:
    """`train/`, `val/`, `test/` folders that hold class folders: an official split."""
    return [p for p in sorted(d.iterdir()) if p.is_dir() and p.name.lower() in SPLITS and _class_dirs(p)]


def read_folder(
    root: str | Path,
    name: str = "folder",
    origin: str = "web",
    subject_pattern: str | None = None,
    subject_prefix: str | None = None,
    label_pattern: str | None = None,
) -> list[Sample]:
    """`origin`: what the images are (`original` for a dataset of your own, `web`, `pfa`, `gan`); the subject
    from `subject_pattern` (with `subject_prefix`, default the source name), else one subject per image."""
    root = existing_dir(root, name)
    subj_re = re.compile(subject_pattern) if subject_pattern else None
    label_re = re.compile(label_pattern) if label_pattern else None
    if subj_re is not None and "subject" not in subj_re.groupindex:
        raise ValueError(f"{name}: subject_pattern {subject_pattern!r} needs a named group (?P<subject>...)")
    if label_re is not None and "label" not in label_re.groupindex:
        raise ValueError(f"{name}: label_pattern {label_pattern!r} needs a named group (?P<label>...)")
    prefix = subject_prefix or name
    split_dirs = _split_dirs(root)
    class_dirs = [(d, SPLITS[s.name.lower()]) for s in split_dirs for d in _class_dirs(s)] or [
        (d, None) for d in _class_dirs(root)
    ]
    if class_dirs:
        parents = split_dirs or [root]
        others = [
            d.relative_to(root).as_posix()
            for p in parents
            for d in p.iterdir()
            if d.is_dir() and d.name.lower() not in FOLDER_ALIASES and not is_junk(Path(d.name)) and d not in split_dirs
        ]
        warn_skipped(
            f"{name} {root}",
            others,
            why="folders that name no emotion (not read)",
            remedy=f"rename them to one of {', '.join(sorted(set(FOLDER_ALIASES.values())))}",
        )
        files = [(p, FOLDER_ALIASES[d.name.lower()], split) for d, split in class_dirs for p in image_files(d)]
    elif label_re is not None:
        files = [(p, None, None) for p in image_files(root)]
    else:
        if root.name.lower() in FOLDER_ALIASES:
            raise DatasetLayoutError(
                f"{name} root {root} is itself one emotion's folder (one level too low); point "
                f"the root at its parent {root.parent}. {EXPECTED}"
            )
        found = search_below(root, lambda d: bool(_class_dirs(d)), depth=2)
        hint = f"; per-emotion folders were found in {found}: point the root there" if found else ""
        raise DatasetLayoutError(f"{name} root {root}: no per-emotion folders found{hint}. {EXPECTED}")

    samples, skipped = [], []
    for path, cls, split in files:
        if cls is None:  # class from the file name
            m = label_re.search(path.name)
            cls = FOLDER_ALIASES.get(m["label"].lower()) if m else None
            if cls is None:
                why = "no class in the file name" if m is None else f"unknown expression code {m['label']!r}"
                skipped.append({"file": str(path), "reason": f"{why} (label_pattern {label_pattern!r})"})
                continue
        if subj_re is not None:
            m = subj_re.search(path.name)
            if m is None:
                skipped.append(
                    {"file": str(path), "reason": f"no subject in the file name (subject_pattern {subject_pattern!r})"}
                )
                continue
            subject = f"{prefix}:{m['subject'].upper() if prefix == 'kdef' else m['subject']}"
        else:
            subject = f"{prefix}:{path.relative_to(root).as_posix()}"
        meta = {"folder": path.parent.relative_to(root).as_posix(), **({"split": split} if split else {})}
        samples.append(Sample(str(path), class_index(cls), subject, name, origin=origin, meta=meta))
    warn_skipped_records(f"{name} {root}", skipped, remedy="rename them or adjust label_pattern / subject_pattern")
    if not samples:
        raise DatasetLayoutError(f"{name} root {root}: no usable images in its folders. {EXPECTED}")
    return SampleList(samples, skipped)
