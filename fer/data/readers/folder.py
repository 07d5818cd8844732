"""Per-emotion folders (`<root>/<class>/*.jpg`): PFA face swaps, web faces, generated samples.

Class folders may use our names or KDEF/JAFFE codes. The subject comes from `subject_pattern` (a regex
whose `subject` group is applied to the file name, e.g. the source KDEF subject of a PFA image), otherwise
each image is its own subject.
"""

from __future__ import annotations

import re
from pathlib import Path

from fer.classes import FOLDER_ALIASES, class_index
from fer.data.readers._common import IMAGE_SUFFIXES, existing_dir, warn_skipped
from fer.data.samples import DatasetLayoutError, Sample


def read_folder(
    root: str | Path,
    name: str = "folder",
    origin: str = "web",
    subject_pattern: str | None = None,
    subject_prefix: str | None = None,
    **_: object,
) -> list[Sample]:
    root = existing_dir(root, name)
    pattern = re.compile(subject_pattern) if subject_pattern else None
    prefix = subject_prefix or name
    samples, skipped = [], []
    class_dirs = [d for d in sorted(root.iterdir()) if d.is_dir() and d.name.lower() in FOLDER_ALIASES]
    if not class_dirs:
        raise DatasetLayoutError(
            f"{name} root {root}: no per-emotion folders found; expected `<root>/<class>/*.jpg` with class "
            f"folders named e.g. angry, happy (or KDEF codes AN, HA)"
        )
    for d in class_dirs:
        label = class_index(FOLDER_ALIASES[d.name.lower()])
        for path in sorted(d.rglob("*")):
            if not path.is_file() or path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            if pattern is not None:
                m = pattern.search(path.name)
                if m is None:
                    skipped.append(path.name)
                    continue
                subject = f"{prefix}:{m['subject']}"
            else:
                subject = f"{prefix}:{path.relative_to(root).as_posix()}"
            samples.append(Sample(str(path), label, subject, name, origin=origin))
    warn_skipped(f"{name} {root}", skipped)
    if not samples:
        raise DatasetLayoutError(f"{name} root {root}: the class folders hold no images")
    return samples
