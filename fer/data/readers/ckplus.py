"""CK+ reader: `cohn-kanade-images/S005/001/S005_001_00000011.png` with `Emotion/.../*_emotion.txt` labels.

Default selection (the usual 7-class test set): the last (peak) frame of every labelled sequence except
contempt, plus the first frame of those same sequences as neutral.
"""

from __future__ import annotations

from pathlib import Path

from fer.classes import CKPLUS_CODES, CLASSES, class_index
from fer.data.readers._common import existing_dir
from fer.data.samples import DatasetLayoutError, Sample

NEUTRAL_MODES = ("per_sequence", "per_subject", "none")


def _find_dir(root: Path, name: str, depth: int = 3) -> Path | None:
    """`name` at or below root (unzipping sometimes adds a level, e.g. `Emotion_labels/Emotion`)."""
    frontier = [root]
    for _ in range(depth + 1):
        nxt = []
        for d in frontier:
            if d.name == name:
                return d
            nxt.extend(sorted(p for p in d.iterdir() if p.is_dir() and not p.name.startswith(".")))
        frontier = nxt
    return None


def read_label(path: Path) -> int | None:
    """A label file holds one float in scientific notation (`3.0000000e+00`); empty means unlabelled."""
    text = path.read_text().strip()
    if not text:
        return None
    try:
        return int(float(text))
    except ValueError:
        raise DatasetLayoutError(f"{path}: cannot parse CK+ emotion label {text!r}; expected e.g. 3.0000000e+00") from None


def read_ckplus(
    root: str | Path,
    peak_frames: int = 1,
    neutral: str = "per_sequence",
    keep_contempt: bool = False,
    **_: object,
) -> list[Sample]:
    """`peak_frames`: last N frames as the emotion; `neutral`: first frames as neutral per sequence, one per
    subject, or none; `keep_contempt`: keep contempt sequences as an 8th class (label 7)."""
    if neutral not in NEUTRAL_MODES:
        raise ValueError(f"CK+ neutral={neutral!r}; expected one of {NEUTRAL_MODES}")
    root = existing_dir(root, "CK+")
    images = _find_dir(root, "cohn-kanade-images")
    labels = _find_dir(root, "Emotion")
    if images is None or labels is None:
        missing = [n for n, d in (("cohn-kanade-images", images), ("Emotion", labels)) if d is None]
        raise DatasetLayoutError(
            f"CK+ root {root}: no {' or '.join(missing)} folder found at or below it; expected the unpacked "
            "extended-cohn-kanade-images.zip and Emotion_labels.zip side by side under one root"
        )
    samples: list[Sample] = []
    neutral_subjects: set[str] = set()
    for label_file in sorted(labels.glob("S*/*/*_emotion.txt")):
        code = read_label(label_file)
        if code is None:
            continue
        name = CKPLUS_CODES.get(code)
        if name is None:
            raise DatasetLayoutError(f"{label_file}: unknown CK+ emotion code {code}; expected 0..7")
        if name == "contempt" and not keep_contempt:
            continue
        subject, seq = label_file.parent.parent.name, label_file.parent.name
        frames = sorted(p for p in (images / subject / seq).glob("*.png") if not p.name.startswith("."))
        if not frames:
            raise DatasetLayoutError(f"{label_file}: labelled sequence has no frames in {images / subject / seq}")
        label = len(CLASSES) if name == "contempt" else class_index(name)
        sid = f"ckplus:{subject}"
        for frame in frames[-peak_frames:]:
            samples.append(Sample(str(frame), label, sid, "ckplus", meta={"sequence": f"{subject}/{seq}"}))
        if neutral == "per_sequence" or (neutral == "per_subject" and subject not in neutral_subjects):
            neutral_subjects.add(subject)
            samples.append(Sample(str(frames[0]), class_index("neutral"), sid, "ckplus",
                                  meta={"sequence": f"{subject}/{seq}"}))
    if not samples:
        raise DatasetLayoutError(f"CK+ root {root}: no labelled sequences found under {labels}")
    return samples
