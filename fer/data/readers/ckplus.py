"""CK+ reader: `cohn-kanade-images/S005/001/S005_001_00000011.png` with `Emotion/.../*_emotion.txt` labels.

Default selection (the usual 7-class test set): the last (peak) frame of every labelled sequence except
contempt, plus the first frame of those same sequences as neutral. Sequences without a label file, or with
an empty one, are unlabelled and not used. Frames are marked grey (`meta["gray"]`): the few RGB frames are
converted to grey before the model's channels.
"""

from __future__ import annotations

import re
from pathlib import Path

from fer.classes import CKPLUS_CODES, CLASSES, class_index
from fer.data.readers._common import (
    IMAGE_SUFFIXES,
    SampleList,
    existing_dir,
    image_files,
    is_junk,
    warn_skipped_records,
)
from fer.data.samples import Sample
from fer.errors import DatasetLayoutError

NEUTRAL_MODES = ("per_sequence", "per_subject", "none")
SUBJECT = re.compile(r"^S\d{3}$")
EXPECTED = (
    "expected a folder holding the unpacked extended-cohn-kanade-images.zip (cohn-kanade-images/) and "
    "Emotion_labels.zip (Emotion/) side by side"
)


def _find_dirs(root: Path, name: str, depth: int = 3) -> list[Path]:
    """Every `name` folder at or below root (unzipping sometimes adds a level, e.g. `Emotion_labels/Emotion`)."""
    found, frontier = [], [root]
    for _ in range(depth + 1):
        nxt = []
        for d in frontier:
            if d.name.lower() == name.lower():
                found.append(d)
                continue
            if SUBJECT.match(d.name):  # never descend into the 593 sequence folders
                continue
            nxt.extend(sorted(p for p in d.iterdir() if p.is_dir() and not is_junk(Path(p.name))))
        frontier = nxt
    return found


def _find_dir(root: Path, name: str, depth: int = 3) -> Path | None:
    """The one `name` folder at or below root; two of them (copies of the dataset side by side) are refused."""
    found = _find_dirs(root, name, depth)
    if len(found) > 1:
        raise DatasetLayoutError(
            f"CK+ root {root} holds {len(found)} {name}/ folders ({', '.join(map(str, found))}): copies of the "
            "dataset side by side; point the root at the one folder that holds cohn-kanade-images/ and Emotion/"
        )
    return found[0] if found else None


def read_label(path: Path) -> int:
    """A label file holds one float in scientific notation (`3.0000000e+00`). An unlabelled sequence has no label
    file; an empty one is a damaged file (reported, like an unparsable one)."""
    text = path.read_text(errors="replace").strip()
    if not text:
        raise DatasetLayoutError(f"{path}: empty CK+ emotion label file; expected e.g. 3.0000000e+00")
    try:
        value = float(text.split()[0])
    except ValueError:
        raise DatasetLayoutError(
            f"{path}: cannot parse CK+ emotion label {text!r}; expected e.g. 3.0000000e+00"
        ) from None
    if not value.is_integer():  # 3.5 is no code: refuse it rather than truncate it to 3
        raise DatasetLayoutError(
            f"{path}: CK+ emotion label {text!r} is not a whole number; expected e.g. 3.0000000e+00"
        )
    return int(value)


def _locate(root: Path) -> tuple[Path, Path]:
    if SUBJECT.match(root.name) or root.name.lower() in ("cohn-kanade-images", "emotion"):
        above = root.parent.parent if SUBJECT.match(root.name) else root.parent
        raise DatasetLayoutError(
            f"CK+ root {root} points inside the dataset (one level too low); point it at the folder that holds "
            f"cohn-kanade-images/ and Emotion/ (here probably {above}). " + EXPECTED
        )
    images, labels = _find_dir(root, "cohn-kanade-images"), _find_dir(root, "Emotion")
    if images is None or labels is None:
        missing = [n for n, d in (("cohn-kanade-images", images), ("Emotion", labels)) if d is None]
        raise DatasetLayoutError(
            f"CK+ root {root}: no {' or '.join(missing)} folder found at or up to 3 levels below it. {EXPECTED}"
        )
    return images, labels


def read_ckplus(
    root: str | Path,
    peak_frames: int = 1,
    neutral: str = "per_sequence",
    keep_contempt: bool = False,
) -> list[Sample]:
    """`peak_frames`: last N frames as the emotion (1 or 3 in the literature); `neutral`: the first frame of each
    used sequence as neutral (`per_sequence`), only the first sequence's per subject (`per_subject`), or `none`;
    `keep_contempt`: keep contempt sequences as an 8th class (label 7)."""
    if neutral not in NEUTRAL_MODES:
        raise ValueError(f"CK+ neutral={neutral!r}; expected one of {NEUTRAL_MODES}")
    if int(peak_frames) < 1:
        raise ValueError(f"CK+ peak_frames={peak_frames}; expected >= 1")
    peak_frames = int(peak_frames)
    root = existing_dir(root, "CK+")
    images, labels = _locate(root)
    samples: list[Sample] = []
    skipped: list[dict] = []
    neutral_subjects: set[str] = set()
    for seq_dir in sorted(p for p in labels.glob("*/*") if p.is_dir() and not is_junk(p.relative_to(labels))):
        label_files = sorted(f for f in seq_dir.glob("*_emotion.txt") if not f.name.startswith("."))
        if not label_files:
            continue  # an empty label folder: unlabelled sequence
        label_file = label_files[-1]
        try:
            code = read_label(label_file)
        except DatasetLayoutError as e:
            skipped.append({"file": str(label_file), "reason": str(e)})
            continue
        name = CKPLUS_CODES.get(code)
        if name is None:
            skipped.append({"file": str(label_file), "reason": f"unknown CK+ emotion code {code}; expected 0..7"})
            continue
        if name == "contempt" and not keep_contempt:
            continue
        subject, seq = seq_dir.parent.name, seq_dir.name
        frame_dir = images / subject / seq
        frames = image_files(frame_dir, IMAGE_SUFFIXES, recursive=False) if frame_dir.is_dir() else []
        if len(frames) < 2:
            skipped.append(
                {
                    "file": str(label_file),
                    "reason": f"labelled sequence needs a first and a last frame; "
                    f"{len(frames)} image(s) in {frame_dir}",
                }
            )
            continue
        label = len(CLASSES) if name == "contempt" else class_index(name)
        sid, meta = f"ckplus:{subject}", {"sequence": f"{subject}/{seq}", "gray": True}
        # Very short sequences: the neutral first frame is never also a peak frame.
        peaks = frames[-peak_frames:] if len(frames) > peak_frames else frames[1:]
        for frame in peaks:
            samples.append(Sample(str(frame), label, sid, "ckplus", meta={**meta, "frame": "peak"}))
        if neutral == "per_sequence" or (neutral == "per_subject" and subject not in neutral_subjects):
            neutral_subjects.add(subject)
            samples.append(
                Sample(str(frames[0]), class_index("neutral"), sid, "ckplus", meta={**meta, "frame": "first"})
            )
    warn_skipped_records(f"CK+ {labels}", skipped)
    if not samples:
        raise DatasetLayoutError(
            f"CK+ root {root}: no usable labelled sequences found under {labels} "
            f"(label files must sit at Emotion/Sxxx/NNN/*_emotion.txt). {EXPECTED}"
        )
    return SampleList(samples, skipped)
