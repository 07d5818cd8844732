"""Face folders: PFA face swaps, web faces ("Q"), generated samples.

Two layouts:
- per-emotion folders `<root>/<class>/**/*.jpg`, class folders named with our names, KDEF/JAFFE codes or
  common synonyms (case-insensitive);
- any folders, with the class taken from the file name by `label_pattern` (a regex with a `label` group
  holding a class name or code), e.g. PFA's two identity folders whose names keep the source KDEF file name.

The subject comes from `subject_pattern` (a regex whose `subject` group is applied to the file name, e.g. the
source KDEF subject of a PFA image, `[AB](?P<subject>[FM]\\d{2})` with `subject_prefix: kdef`), otherwise each
image is its own subject.
"""

from __future__ import annotations

import re
from pathlib import Path

from fer.classes import FOLDER_ALIASES, class_index
from fer.data.readers._common import SampleList, existing_dir, image_files, is_junk, search_below, warn_skipped
from fer.data.samples import DatasetLayoutError, Sample

EXPECTED = ("expected `<root>/<class>/*.jpg` with one folder per emotion named e.g. angry, happy (or KDEF codes "
            "AN, HA), or set label_pattern to take the class from the file names")


def _class_dirs(d: Path) -> list[Path]:
    return [p for p in sorted(d.iterdir()) if p.is_dir() and p.name.lower() in FOLDER_ALIASES]


def read_folder(
    root: str | Path,
    name: str = "folder",
    origin: str = "web",
    subject_pattern: str | None = None,
    subject_prefix: str | None = None,
    label_pattern: str | None = None,
    **_: object,
) -> list[Sample]:
    root = existing_dir(root, name)
    subj_re = re.compile(subject_pattern) if subject_pattern else None
    label_re = re.compile(label_pattern) if label_pattern else None
    if subj_re is not None and "subject" not in subj_re.groupindex:
        raise ValueError(f"{name}: subject_pattern {subject_pattern!r} needs a named group (?P<subject>...)")
    if label_re is not None and "label" not in label_re.groupindex:
        raise ValueError(f"{name}: label_pattern {label_pattern!r} needs a named group (?P<label>...)")
    prefix = subject_prefix or name
    class_dirs = _class_dirs(root)
    if class_dirs:
        others = [p.name for p in root.iterdir() if p.is_dir() and p not in class_dirs and not is_junk(Path(p.name))]
        warn_skipped(f"{name} {root}", others, why="folders that name no emotion (not read)",
                     remedy=f"rename them to one of {', '.join(sorted(set(FOLDER_ALIASES.values())))}")
        files = [(p, FOLDER_ALIASES[d.name.lower()]) for d in class_dirs for p in image_files(d)]
    elif label_re is not None:
        files = [(p, None) for p in image_files(root)]
    else:
        if root.name.lower() in FOLDER_ALIASES:
            raise DatasetLayoutError(f"{name} root {root} is itself one emotion's folder (one level too low); point "
                                     f"the root at its parent {root.parent}. {EXPECTED}")
        found = search_below(root, lambda d: bool(_class_dirs(d)), depth=2)
        hint = f"; per-emotion folders were found in {found}: point the root there" if found else ""
        raise DatasetLayoutError(f"{name} root {root}: no per-emotion folders found{hint}. {EXPECTED}")

    samples, skipped = [], []
    for path, cls in files:
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
                skipped.append({"file": str(path), "reason": f"no subject in the file name (subject_pattern {subject_pattern!r})"})
                continue
            subject = f"{prefix}:{m['subject'].upper() if prefix == 'kdef' else m['subject']}"
        else:
            subject = f"{prefix}:{path.relative_to(root).as_posix()}"
        meta = {"folder": path.parent.relative_to(root).as_posix()}
        samples.append(Sample(str(path), class_index(cls), subject, name, origin=origin, meta=meta))
    warn_skipped(f"{name} {root}", [f"{Path(d['file']).name} ({d['reason']})" for d in skipped], why="problems",
                 remedy="rename them or adjust label_pattern / subject_pattern")
    if not samples:
        raise DatasetLayoutError(f"{name} root {root}: no usable images in its folders. {EXPECTED}")
    return SampleList(samples, skipped)
