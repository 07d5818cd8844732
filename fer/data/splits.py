"""Subject-independent splits and the leakage guard that every run passes through.

Derived images (offline augmentation, GAN samples, PFA swaps) carry their source subject, so splitting on
subjects keeps each of them on its source's side.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections import defaultdict
from pathlib import Path

import numpy as np

from fer.data.samples import Sample


class LeakageError(RuntimeError):
    """A subject (or a derived image's source) appears on both the training and the evaluation side."""


def subjects_of(samples: list[Sample]) -> set[str]:
    """The distinct subject ids of `samples`."""
    return {s.subject for s in samples}


def _by_dataset(subjects) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = defaultdict(list)
    for subj in sorted(subjects):
        groups[subj.split(":", 1)[0]].append(subj)
    return groups


def _rng(seed: int, dataset: str) -> np.random.Generator:
    """One generator per dataset, so adding a source (GAN samples, PFA, another dataset) never changes
    which subjects of the other datasets are held out: variants are compared on the same validation subjects."""
    return np.random.default_rng([seed, zlib.crc32(dataset.encode())])


def holdout_subjects(subjects, fraction: float, seed: int, min_count: int = 1) -> set[str]:
    """A random `fraction` of the subjects of each dataset (at least `min_count` each, never all)."""
    held: set[str] = set()
    for dataset, subj in sorted(_by_dataset(subjects).items()):
        if len(subj) < 2:
            continue
        n = min(len(subj) - 1, max(min_count, int(round(fraction * len(subj)))))
        held.update(_rng(seed, dataset).permutation(subj)[:n].tolist())
    return held


def kfold_subjects(subjects, n_folds: int, seed: int) -> list[set[str]]:
    """Subjects dealt into `n_folds` folds, each dataset spread evenly across folds."""
    folds: list[set[str]] = [set() for _ in range(n_folds)]
    offset = 0
    for dataset, subj in sorted(_by_dataset(subjects).items()):
        if len(subj) < n_folds:
            raise ValueError(
                f"k-fold with {n_folds} folds needs at least {n_folds} subjects per dataset; "
                f"{subj[0].split(':')[0]} has {len(subj)}"
            )
        for i, s in enumerate(_rng(seed, dataset).permutation(subj).tolist()):
            folds[(i + offset) % n_folds].add(s)
        offset += len(subj)
    return folds


def check_no_leakage(train: list[Sample], **held_out: list[Sample]) -> None:
    """Fail the run when the sides of a split share a subject, an image, or an image's source.

    Checked for every pair of sides (train/val, train/test:*, val/test:*, ...), derived images included:
    - no subject on two sides;
    - no image path on two sides, and no image on one side derived (`source`) from an image on another;
    - a derived image carries the subject of its source whenever that source is among the samples.
    """
    sides = {"train": train, **held_out}
    subject_of_path = {s.path: s.subject for samples in sides.values() for s in samples}
    for name, samples in sides.items():
        for s in samples:
            if s.source and s.source in subject_of_path and subject_of_path[s.source] != s.subject:
                raise LeakageError(
                    f"{name} image {s.path} ({s.origin}) carries subject {s.subject} but its source {s.source} "
                    f"belongs to {subject_of_path[s.source]}; derived images must carry their source's subject"
                )
    # What each side touches: its subjects, its image paths and the paths its derived images come from.
    subjects = {name: subjects_of(samples) for name, samples in sides.items()}
    images = {
        name: {s.path for s in samples} | {s.source for s in samples if s.source} for name, samples in sides.items()
    }
    names = list(sides)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            shared = subjects[a] & subjects[b]
            if shared:
                raise LeakageError(
                    f"{len(shared)} subject(s) appear on both the {a} and the {b} side: "
                    f"{sorted(shared)[:10]}; splits must be subject-independent"
                )
            shared = images[a] & images[b]
            if shared:
                raise LeakageError(
                    f"{len(shared)} image(s) are shared by, or derived across, the {a} and the {b} "
                    f"side, e.g. {sorted(shared)[0]}; derived images must follow their source subject"
                )


def gan_exposure(seen_by_source: dict[str, set[str] | None], **sides: set[str]) -> dict:
    """How many subjects of each evaluation side the GAN(s) feeding training were trained on.

    `seen_by_source` maps each GAN source to its seen subjects (None: no manifest, exposure unknown).
    """
    if not seen_by_source:
        return {}
    unknown = sorted(n for n, seen in seen_by_source.items() if seen is None)
    seen = set().union(*(s for s in seen_by_source.values() if s is not None))
    out: dict = {"sources": sorted(seen_by_source), "unknown": unknown}
    for side, subjects in sides.items():
        out[f"{side}_subjects_seen"] = len(seen & subjects)
    return out


def split_record(**parts: list[Sample]) -> dict:
    """The subject lists of each side and a digest of the whole split, saved in the run folder."""
    record = {name: sorted(subjects_of(samples)) for name, samples in parts.items()}
    counts = {name: len(samples) for name, samples in parts.items()}
    digest = hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:16]
    return {"subjects": record, "images": counts, "digest": digest}


def save_split(path: str | Path, record: dict) -> None:
    """Write a `split_record` to `path` as JSON, atomically."""
    from fer.utils.io import atomic_write_json  # unique temporary name: DDP ranks may save the same split at once

    atomic_write_json(path, record)
