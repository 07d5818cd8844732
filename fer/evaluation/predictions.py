"""Per-image predictions: the files every statistic of a run is computed from.

A run writes `predictions/<set>.csv` (one per test set, and `val.csv` for the validation side of the chosen
checkpoint), one row per image:

    file, subject, dataset, origin, label, pred, p_<class> (one column per class, in class order),
    and the group attributes the reader knows (GROUP_KEYS: sex, gender, race, age), empty when unknown.

`label` and `pred` are class names. The report, intervals, calibration and group figures are recomputed from
these files alone, so a report never needs a retraining.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fer.errors import UserError
from fer.utils.io import atomic_write_text

# What a reader may say about a person (Sample.meta), reported per group; "dataset" is always a column.
GROUP_KEYS = ("sex", "gender", "race", "age")
BASE_COLUMNS = ("file", "subject", "dataset", "origin", "label", "pred")
FOLDER = "predictions"


class PredictionsError(UserError, ValueError):
    """A predictions file is missing columns or holds values that do not parse."""


@dataclass
class Predictions:
    """One set's predictions as arrays: `probs[i]` (n_classes,) is the model's output for `files[i]`."""

    class_names: list[str]
    files: list[str]
    subjects: list[str]
    datasets: list[str]
    origins: list[str]
    labels: np.ndarray  # (n,) int class indices
    probs: np.ndarray  # (n, n_classes) float
    groups: dict[str, list[str]] = field(default_factory=dict)  # GROUP_KEYS present -> value per row ("" unknown)

    def __len__(self) -> int:
        return len(self.files)

    @property
    def preds(self) -> np.ndarray:
        """Predicted class index per image (the most probable class)."""
        return self.probs.argmax(1)

    @property
    def correct(self) -> np.ndarray:
        """Whether each image's prediction is its label (bool array)."""
        return self.preds == self.labels

    def accuracy(self) -> float:
        """Share of correct predictions in [0, 1]; NaN for an empty set."""
        return float(self.correct.mean()) if len(self) else float("nan")

    def subset(self, idx) -> Predictions:
        """The rows at indices `idx`, in that order."""
        idx = np.asarray(idx, dtype=np.int64)

        def pick(seq):
            return [seq[i] for i in idx]

        return Predictions(
            self.class_names,
            pick(self.files),
            pick(self.subjects),
            pick(self.datasets),
            pick(self.origins),
            self.labels[idx],
            self.probs[idx],
            {k: pick(v) for k, v in self.groups.items()},
        )

    @classmethod
    def from_samples(cls, samples: Sequence, probs, class_names: Sequence[str]) -> Predictions:
        """From the Samples a loader served (in order) and the model's probabilities for them."""
        probs = np.asarray(probs, dtype=np.float64)
        if probs.shape != (len(samples), len(class_names)):
            raise ValueError(
                f"probabilities of shape {probs.shape} for {len(samples)} samples, {len(class_names)} classes"
            )
        groups = {k: [str(s.meta.get(k, "") or "") for s in samples] for k in GROUP_KEYS}
        return cls(
            [str(c) for c in class_names],
            [s.path for s in samples],
            [s.subject for s in samples],
            [s.dataset for s in samples],
            [s.origin for s in samples],
            np.asarray([s.label for s in samples], dtype=np.int64),
            probs,
            {k: v for k, v in groups.items() if any(v)},  # only the attributes this set knows
        )

    def table(self) -> tuple[list[str], list[list]]:
        """The CSV's header and rows with typed values (probabilities as floats), e.g. for a logger's table."""
        keys = [k for k in GROUP_KEYS if k in self.groups]
        header = [*BASE_COLUMNS, *(f"p_{c}" for c in self.class_names), *keys]
        names, preds = self.class_names, self.preds
        rows = [
            [
                self.files[i],
                self.subjects[i],
                self.datasets[i],
                self.origins[i],
                names[self.labels[i]],
                names[preds[i]],
                *(float(p) for p in self.probs[i]),
                *(self.groups[k][i] for k in keys),
            ]
            for i in range(len(self))
        ]
        return header, rows

    def to_csv(self) -> str:
        """The predictions file's text (probabilities to 6 significant digits)."""
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        header, rows = self.table()
        w.writerow(header)
        k = len(self.class_names)
        first = len(BASE_COLUMNS)  # the probabilities follow the base columns: 6 significant digits suffice
        w.writerows([*r[:first], *(f"{p:.6g}" for p in r[first : first + k]), *r[first + k :]] for r in rows)
        return buf.getvalue()

    def save(self, path: str | Path) -> None:
        """Write `to_csv()` to `path`, atomically."""
        atomic_write_text(path, self.to_csv())

    @classmethod
    def load(cls, path: str | Path) -> Predictions:
        """Read a predictions file; an unreadable, empty or malformed file is a `PredictionsError`."""
        path = Path(path)
        try:
            with open(path, newline="") as fh:
                rows = list(csv.reader(fh))
        except OSError as e:
            raise PredictionsError(f"{path}: cannot read predictions ({e.strerror})") from None
        if not rows:
            raise PredictionsError(f"{path}: empty file; rerun the run's test to write it again")
        header, body = rows[0], rows[1:]
        missing = [c for c in BASE_COLUMNS if c not in header]
        class_names = [c[2:] for c in header if c.startswith("p_")]
        if missing or not class_names:
            raise PredictionsError(
                f"{path}: not a predictions file (missing columns {missing or ['p_<class>']}); "
                "expected the header written by train.py"
            )
        col = {c: i for i, c in enumerate(header)}
        index = {c: i for i, c in enumerate(class_names)}
        try:
            labels = np.asarray([index[r[col["label"]]] for r in body], dtype=np.int64)
            probs = np.asarray([[float(r[col[f"p_{c}"]]) for c in class_names] for r in body], dtype=np.float64)
        except (KeyError, ValueError, IndexError) as e:
            raise PredictionsError(f"{path}: a row does not parse ({type(e).__name__}: {e})") from None
        probs = probs.reshape(len(body), len(class_names))
        return cls(
            class_names,
            [r[col["file"]] for r in body],
            [r[col["subject"]] for r in body],
            [r[col["dataset"]] for r in body],
            [r[col["origin"]] for r in body],
            labels,
            probs,
            {k: [r[col[k]] for r in body] for k in GROUP_KEYS if k in col},
        )


def predictions_dir(run_dir: str | Path) -> Path:
    """The folder of a run's predictions files."""
    return Path(run_dir) / FOLDER


def load_run_predictions(run_dir: str | Path) -> dict[str, Predictions]:
    """Every set's predictions of one run folder, by set name (`val` and the test sets); {} when none."""
    folder = predictions_dir(run_dir)
    return {p.stem: Predictions.load(p) for p in sorted(folder.glob("*.csv"))} if folder.is_dir() else {}
