"""Fabricated run folders with per-image predictions (`results.json` + `predictions/<set>.csv`), for report tests.

`fake_predictions` draws, per subject, an accuracy around the requested one (subjects differ: images of one
subject are correlated, as real test sets), then per image whether the model is right and a probability vector
whose top class is the prediction."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from fer.classes import CLASSES
from fer.evaluation.predictions import Predictions


def fake_predictions(
    rng: np.random.Generator,
    subjects: int = 20,
    per_subject: int = 7,
    acc: float = 0.7,
    spread: float = 0.15,
    dataset: str = "ckplus",
    confidence: float = 0.8,
    correct: np.ndarray | None = None,
    groups: dict[str, list[str]] | None = None,
) -> Predictions:
    """Predictions for `subjects` x `per_subject` images; `correct` (bool per image) overrides the draw."""
    n, k = subjects * per_subject, len(CLASSES)
    subj = np.repeat(np.arange(subjects), per_subject)
    labels = np.tile(np.arange(per_subject) % k, subjects)
    if correct is None:
        p_subject = np.clip(acc + spread * rng.standard_normal(subjects), 0.02, 0.98)
        correct = rng.random(n) < p_subject[subj]
    wrong = (labels + rng.integers(1, k, n)) % k
    preds = np.where(correct, labels, wrong)
    probs = np.full((n, k), (1 - confidence) / (k - 1))
    probs[np.arange(n), preds] = confidence
    return Predictions(
        list(CLASSES),
        [f"{dataset}/s{s:03d}/img{i:03d}.png" for i, s in enumerate(subj)],
        [f"{dataset}:S{s:03d}" for s in subj],
        [dataset] * n,
        ["original"] * n,
        labels.astype(np.int64),
        probs,
        groups or {},
    )


def results_entry(p: Predictions) -> dict:
    """What results.json holds for a test set, computed from its predictions."""
    from sklearn.metrics import f1_score

    recall = {}
    for i, c in enumerate(p.class_names):
        mask = p.labels == i
        if mask.any():
            recall[c] = float((p.preds[mask] == i).mean())
    return {
        "acc": p.accuracy(),
        "f1": float(f1_score(p.labels, p.preds, average="macro")),
        "n": len(p),
        "recall": recall,
    }


def write_run(
    sweep: Path,
    overrides: list[str],
    tests: dict[str, Predictions],
    *,
    variant: str = "kdef",
    backbone: str = "resnet10t",
    seed: int = 1,
    split_seed: int = 0,
    fold: int | None = None,
    protocol: str = "cross_db",
    val: Predictions | None = None,
    synthetic: bool = True,
    extra: dict | None = None,
) -> Path:
    """A finished run folder named from its overrides, with results.json and the predictions files."""
    run = sweep / ",".join(overrides)
    (run / "predictions").mkdir(parents=True, exist_ok=True)
    for name, p in tests.items():
        p.save(run / "predictions" / f"{name}.csv")
    if val is not None:
        val.save(run / "predictions" / "val.csv")
    record = {
        "task_name": "t",
        "overrides": overrides,
        "variant": variant,
        "backbone": backbone,
        "protocol": protocol,
        "fold": fold,
        "seed": seed,
        "split_seed": split_seed,
        "metrics": {"val/acc": 0.9},
        "tests": {name: results_entry(p) for name, p in tests.items()},
        "skipped_tests": [],
        "synthetic_data": synthetic,
        "gan_saw_test_subjects": False,
        **(extra or {}),
    }
    (run / "results.json").write_text(json.dumps(record))
    return run
