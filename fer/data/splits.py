"""Subject-independent splits and the leakage guard that every run passes through.

Derived images (offline augmentation, GAN samples, PFA swaps) carry their source subject, so splitting on
subjects keeps each of them on its source's side.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from fer.data.samples import Sample


class LeakageError(RuntimeError):
    """A subject (or a derived image's source) appears on both the training and the evaluation side."""


def subjects_of(samples: list[Sample]) -> set[str]:
    return {s.subject for s in samples}


def _by_dataset(subjects) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = defaultdict(list)
    for subj in sorted(subjects):
        groups[subj.split(":", 1)[0]].append(subj)
    return groups


def holdout_subjects(subjects, fraction: float, seed: int, min_count: int = 1) -> set[str]:
    """A random `fraction` of the subjects of each dataset (at least `min_count` each, never all)."""
    rng = np.random.default_rng(seed)
    held: set[str] = set()
    for _, subj in sorted(_by_dataset(subjects).items()):
        if len(subj) < 2:
            continue
        n = min(len(subj) - 1, max(min_count, int(round(fraction * len(subj)))))
        held.update(rng.permutation(subj)[:n].tolist())
    return held


def kfold_subjects(subjects, n_folds: int, seed: int) -> list[set[str]]:
    """Subjects dealt into `n_folds` folds, each dataset spread evenly across folds."""
    rng = np.random.default_rng(seed)
    folds: list[set[str]] = [set() for _ in range(n_folds)]
    offset = 0
    for _, subj in sorted(_by_dataset(subjects).items()):
        if len(subj) < n_folds:
            raise ValueError(f"k-fold with {n_folds} folds needs at least {n_folds} subjects per dataset; "
                             f"{subj[0].split(':')[0]} has {len(subj)}")
        for i, s in enumerate(rng.permutation(subj).tolist()):
            folds[(i + offset) % n_folds].add(s)
        offset += len(subj)
    return folds


def check_no_leakage(train: list[Sample], **held_out: list[Sample]) -> None:
    """Fail the run when any held-out subject, or the source of a derived training image, reaches training."""
    train_subjects = subjects_of(train)
    train_sources = {s.source for s in train if s.source}
    for name, samples in held_out.items():
        shared = train_subjects & subjects_of(samples)
        if shared:
            raise LeakageError(f"{len(shared)} subject(s) of the {name} side are also in training: "
                               f"{sorted(shared)[:10]}; splits must be subject-independent")
        paths = {s.path for s in samples}
        derived = train_sources & paths
        if derived:
            raise LeakageError(f"{len(derived)} training image(s) are derived from {name} images, e.g. "
                               f"{sorted(derived)[0]}; derived images must follow their source subject")


def split_record(**parts: list[Sample]) -> dict:
    """The subject lists of each side and a digest of the whole split, saved in the run folder."""
    record = {name: sorted(subjects_of(samples)) for name, samples in parts.items()}
    counts = {name: len(samples) for name, samples in parts.items()}
    digest = hashlib.sha256(json.dumps(record, sort_keys=True).encode()).hexdigest()[:16]
    return {"subjects": record, "images": counts, "digest": digest}


def save_split(path: str | Path, record: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1))
    tmp.replace(path)
