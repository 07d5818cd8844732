"""How sure a figure is: the statistics behind `fer.reporting.report`, computed from per-image predictions.

- `bootstrap_scores`: accuracy and macro-F1 of one test set with a 95% bootstrap interval. Images of one
  subject are not independent (the same face, seven expressions), so when subjects have several images the
  bootstrap resamples subjects with all their images (a cluster bootstrap), else single images.
- `summarize`: across runs (seeds, folds): n, mean, standard deviation and variance (sample, ddof=1, as the
  paper's tables) and a 95% Student-t interval of the mean.
- `compare_paired` / `compare_images` / `compare_unpaired`: is B better than A? Over matched runs (same seed,
  split seed, fold): mean paired difference, t-interval, Wilcoxon signed-rank test (the paired t-test for 5 pairs
  or fewer, where Wilcoxon cannot reach p < 0.05). One matched pair: a paired
  bootstrap over the shared test images and McNemar's exact test. Unmatched runs: Welch's t-test (and
  Mann-Whitney U). Each result says itself in plain words (`Comparison.sentence`).
- `group_report`: per-group images, accuracy, macro-F1 and recall per class (fairlearn's `MetricFrame`), the
  worst-group accuracy and the largest gap between groups, with cluster-bootstrap intervals.
Calibration (ECE, temperature scaling) is fer/evaluation/calibration.py's.

Every bootstrap is vectorised (one matrix of resampling counts, then matrix products) and seeded.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from functools import partial

import numpy as np
from scipy import stats as sps

LEVEL = 0.95
N_BOOT = 2000
ALPHA = 1 - LEVEL


# ------------------------------------------------------------------------------------------ resampling
@dataclass
class Interval:
    """A point estimate (in %, or in the unit of the input) with its 95% interval."""

    estimate: float
    low: float | None = None
    high: float | None = None

    def text(self, digits: int = 1) -> str:
        """`estimate [low, high]` with `digits` decimals; the estimate alone without an interval; `n/a` for NaN."""
        if self.estimate is None or math.isnan(self.estimate):
            return "n/a"
        if self.low is None or math.isnan(self.low):
            return f"{self.estimate:.{digits}f}"
        return f"{self.estimate:.{digits}f} [{self.low:.{digits}f}, {self.high:.{digits}f}]"


def clusters(subjects) -> tuple[np.ndarray, str]:
    """Cluster index per image, and the unit resampled: subjects when some subject has several images (an
    unknown subject, "", is an image of its own), else images."""
    subjects = list(subjects)
    n = len(subjects)
    named = [s for s in subjects if s]
    if len(set(named)) == len(named):
        return np.arange(n), "image"
    keys = [s if s else f"\0{i}" for i, s in enumerate(subjects)]
    _, ids = np.unique(np.asarray(keys, dtype=str), return_inverse=True)
    return ids.reshape(-1), "subject"


def resample_counts(n_units: int, n_boot: int = N_BOOT, seed: int = 0) -> np.ndarray:
    """(n_boot, n_units) counts: how often each unit is drawn in each bootstrap sample (n_units draws)."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n_units, np.full(n_units, 1.0 / n_units), size=n_boot).astype(np.float64)


def per_cluster(ids: np.ndarray, n_clusters: int, values: np.ndarray) -> np.ndarray:
    """Sum `values` (n, ...) over the images of each cluster: (n_clusters, ...)."""
    out = np.zeros((n_clusters, *values.shape[1:]), dtype=np.float64)
    np.add.at(out, ids, values)
    return out


def _percentile(samples: np.ndarray) -> tuple[float, float]:
    samples = samples[~np.isnan(samples)]
    if not len(samples):
        return float("nan"), float("nan")
    low, high = np.quantile(samples, [ALPHA / 2, 1 - ALPHA / 2])
    return float(low), float(high)


def _confusion_parts(labels: np.ndarray, preds: np.ndarray, n_classes: int) -> np.ndarray:
    """Per image: [correct, tp_k (K), predicted_k (K), labelled_k (K)] as one (n, 1 + 3K) array."""
    eye = np.eye(n_classes)
    is_label, is_pred = eye[labels], eye[preds]
    correct = (labels == preds).astype(np.float64)
    return np.concatenate([correct[:, None], is_label * is_pred, is_pred, is_label], axis=1)


def _scores(sums: np.ndarray, counts: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Accuracy and macro-F1 (%) from summed confusion parts (..., 1 + 3K) and image counts (...,).
    Macro-F1 averages the classes that occur among labels or predictions (as torchmetrics and scikit-learn)."""
    k = n_classes
    with np.errstate(invalid="ignore", divide="ignore"):
        acc = 100 * sums[..., 0] / counts
        tp, npred, nlabel = sums[..., 1 : 1 + k], sums[..., 1 + k : 1 + 2 * k], sums[..., 1 + 2 * k :]
        present = (npred + nlabel) > 0
        f1 = np.where(present, 2 * tp / np.where(present, npred + nlabel, 1), 0.0)
        macro = 100 * f1.sum(-1) / present.sum(-1)
    return acc, macro


def bootstrap_scores(
    labels, preds, n_classes: int, subjects=None, n_boot: int = N_BOOT, seed: int = 0, by: str = "auto"
) -> dict:
    """Accuracy and macro-F1 (%) with 95% percentile-bootstrap intervals.

    by: "auto" (subjects when some have several images, else images), "subject" or "image".
    Returns {"acc": Interval, "f1": Interval, "unit": "subject"|"image", "units": n, "images": n}.
    """
    labels, preds = np.asarray(labels, dtype=np.int64), np.asarray(preds, dtype=np.int64)
    n = len(labels)
    if by == "image" or subjects is None:
        ids, unit = np.arange(n), "image"
    else:
        ids, unit = clusters(subjects)
    n_units = int(ids.max()) + 1 if n else 0
    if not n:
        nan = Interval(float("nan"))
        return {"acc": nan, "f1": nan, "unit": unit, "units": 0, "images": 0}
    sums = per_cluster(ids, n_units, _confusion_parts(labels, preds, n_classes))
    counts = per_cluster(ids, n_units, np.ones(n))
    acc, f1 = _scores(sums.sum(0), counts.sum(), n_classes)
    w = resample_counts(n_units, n_boot, seed)
    boot_acc, boot_f1 = _scores(w @ sums, w @ counts, n_classes)
    return {
        "acc": Interval(float(acc), *_percentile(boot_acc)),
        "f1": Interval(float(f1), *_percentile(boot_f1)),
        "unit": unit,
        "units": n_units,
        "images": n,
    }


# ------------------------------------------------------------------------------------------ across runs
def summarize(values) -> dict:
    """n, mean, sample standard deviation and variance (ddof=1; None for one value) and a 95% t-interval."""
    x = np.asarray([v for v in values if v is not None], dtype=np.float64)
    n = len(x)
    if not n:
        return {"n": 0, "mean": None, "std": None, "var": None, "low": None, "high": None}
    mean = float(x.mean())
    if n < 2:
        return {"n": 1, "mean": mean, "std": None, "var": None, "low": None, "high": None}
    var = float(x.var(ddof=1))
    half = float(sps.t.ppf(1 - ALPHA / 2, n - 1)) * math.sqrt(var / n)
    return {"n": n, "mean": mean, "std": math.sqrt(var), "var": var, "low": mean - half, "high": mean + half}


# ------------------------------------------------------------------------------------------ comparisons
def _p(p: float | None) -> str:
    if p is None or math.isnan(p):
        return "n/a"
    return "p<0.001" if p < 0.001 else f"p={p:.3f}" if p < 0.1 else f"p={p:.2f}"  # 3 digits near 0.05


@dataclass
class Comparison:
    """B against A on one test set; `diff` = B - A in accuracy points (positive: B better)."""

    a: str
    b: str
    test_set: str
    method: str  # paired runs | paired images | unpaired runs | not testable
    diff: float | None = None
    low: float | None = None
    high: float | None = None
    p: float | None = None
    test: str = ""
    n_pairs: int = 0
    n_a: int = 0
    n_b: int = 0
    images: int = 0
    diffs: list[float] = field(default_factory=list)
    note: str = ""

    @property
    def significant(self) -> bool:
        """Whether the test's p-value is below ALPHA (0.05)."""
        return self.p is not None and not math.isnan(self.p) and self.p < ALPHA

    def evidence(self) -> str:
        """What the comparison rests on: pairs or runs compared, the test and its p-value, and any note."""
        if self.method == "paired runs":
            what = f"{self.n_pairs} paired run{'s' if self.n_pairs != 1 else ''}, {self.test} {_p(self.p)}"
        elif self.method == "paired images":
            what = f"1 paired run, {self.images} shared test images, McNemar {_p(self.p)}"
        elif self.method == "unpaired runs":
            what = f"unmatched runs ({self.n_b} vs {self.n_a}), Welch t-test {_p(self.p)}"
        else:
            what = f"{self.n_b} vs {self.n_a} runs"
        return what + (f"; {self.note}" if self.note else "")

    def sentence(self) -> str:
        """The finding in one sentence: who beats whom by how many points with its interval, or no significant
        difference, or not testable."""
        if self.diff is None or self.method == "not testable":
            return f"{self.b} vs {self.a} on {self.test_set}: not testable ({self.evidence()})"
        ci = f"95% CI [{self.low:.1f}, {self.high:.1f}]" if self.low is not None else "no interval"
        if self.significant and self.diff != 0:
            win, lose, d, lo, hi = (
                (self.b, self.a, self.diff, self.low, self.high)
                if self.diff > 0
                else (self.a, self.b, -self.diff, -self.high, -self.low)
            )
            ci = f"95% CI [{lo:.1f}, {hi:.1f}]"
            return f"{win} beats {lose} on {self.test_set} by {d:.1f} points, {ci}, {self.evidence()}"
        return (
            f"no significant difference between {self.b} and {self.a} on {self.test_set}: "
            f"{self.diff:+.1f} points for {self.b}, {ci}, {self.evidence()}"
        )


def smallest_wilcoxon_p(n: int) -> float:
    """The smallest two-sided exact Wilcoxon p-value n non-zero pairs can give (all of one sign)."""
    return min(1.0, 2.0 / 2**n)


def compare_paired(a: str, b: str, test_set: str, diffs) -> Comparison:
    """Paired differences (B - A, points) of matched runs: mean and 95% t-interval; Wilcoxon's signed-rank test,
    or the paired t-test where there are too few pairs for Wilcoxon to ever reach p < 0.05 (5 or fewer)."""
    d = np.asarray(diffs, dtype=np.float64)
    s = summarize(d)
    c = Comparison(a, b, test_set, "paired runs", s["mean"], s["low"], s["high"], n_pairs=len(d), diffs=d.tolist())
    c.n_a = c.n_b = len(d)
    c.test = "Wilcoxon"
    nonzero = int(np.count_nonzero(d))
    if len(d) < 2:
        c.method, c.note = "not testable", "one pair: no spread between pairs"
    elif nonzero == 0:
        c.p, c.note = 1.0, "all paired differences are zero"
    elif smallest_wilcoxon_p(nonzero) >= ALPHA:
        c.test = "paired t-test"
        c.note = f"too few pairs for Wilcoxon (its smallest p with {nonzero} is {smallest_wilcoxon_p(nonzero):.2f})"
        if np.ptp(d) == 0:  # the same difference in every pair: no spread to test against
            c.method, c.note = "not testable", "every pair differs by the same amount: add seeds"
        else:
            c.p = float(sps.ttest_1samp(d, 0.0).pvalue)
    else:
        c.p = float(sps.wilcoxon(d).pvalue)
    return c


def compare_images(a: str, b: str, test_set: str, correct_a, correct_b, subjects=None, seed: int = 0) -> Comparison:
    """One matched pair of runs on the same test images: accuracy difference (B - A) with a paired bootstrap
    interval (resampling subjects when they have several images) and McNemar's exact test."""
    ca, cb = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    ids, unit = clusters(subjects) if subjects is not None else (np.arange(len(ca)), "image")
    n_units = int(ids.max()) + 1
    gain = per_cluster(ids, n_units, (cb.astype(float) - ca.astype(float)))
    counts = per_cluster(ids, n_units, np.ones(len(ca)))
    w = resample_counts(n_units, N_BOOT, seed)
    low, high = _percentile(100 * (w @ gain) / (w @ counts))
    only_a, only_b = int((ca & ~cb).sum()), int((~ca & cb).sum())
    p = float(sps.binomtest(only_b, only_a + only_b, 0.5).pvalue) if only_a + only_b else 1.0
    return Comparison(
        a,
        b,
        test_set,
        "paired images",
        float(100 * (cb.mean() - ca.mean())),
        low,
        high,
        p,
        "McNemar exact",
        n_pairs=1,
        n_a=1,
        n_b=1,
        images=len(ca),
        note=f"interval resamples {unit}s; seed-to-seed variation is not covered",
    )


def compare_unpaired(a: str, b: str, test_set: str, values_a, values_b) -> Comparison:
    """Runs that cannot be matched: difference of means (B - A), Welch's t-test and interval, Mann-Whitney U."""
    xa, xb = np.asarray(values_a, dtype=np.float64), np.asarray(values_b, dtype=np.float64)
    c = Comparison(a, b, test_set, "unpaired runs", n_a=len(xa), n_b=len(xb), test="Welch t-test")
    if len(xa) and len(xb):
        c.diff = float(xb.mean() - xa.mean())
    if len(xa) < 2 or len(xb) < 2:
        c.method, c.note = "not testable", "unmatched runs need at least 2 runs on each side"
        return c
    if np.ptp(np.concatenate([xa, xb])) == 0:
        c.p, c.low, c.high, c.note = 1.0, 0.0, 0.0, "all runs have the same accuracy"
        return c
    res = sps.ttest_ind(xb, xa, equal_var=False)
    ci = res.confidence_interval(LEVEL)
    c.p, c.low, c.high = float(res.pvalue), float(ci.low), float(ci.high)
    c.note = f"Mann-Whitney {_p(float(sps.mannwhitneyu(xb, xa).pvalue))}"
    return c


# ------------------------------------------------------------------------------------------ groups
UNKNOWN = "(unknown)"


def _recall_of(k: int, y_true, y_pred) -> float:
    y_true = np.asarray(y_true)
    mask = y_true == k
    return float((np.asarray(y_pred)[mask] == k).mean()) if mask.any() else float("nan")


def _accuracy(y_true, y_pred) -> float:
    return float((np.asarray(y_true) == np.asarray(y_pred)).mean())


def _macro_f1(n_classes: int, y_true, y_pred) -> float:
    parts = _confusion_parts(np.asarray(y_true), np.asarray(y_pred), n_classes).sum(0)
    return float(_scores(parts, len(y_true), n_classes)[1]) / 100


def group_report(
    labels,
    preds,
    groups,
    class_names,
    subjects=None,
    files=None,
    min_group: int = 30,
    n_boot: int = N_BOOT,
    seed: int = 0,
) -> dict:
    """Per group: images, accuracy, macro-F1 (%, with intervals) and recall per class; the worst-group accuracy
    and the largest gap between groups (over the groups the data names; images of unknown group are listed
    apart), each with a bootstrap interval that resamples subjects (images when subjects are single).

    `files`, when given, counts distinct images (predictions pooled over several runs repeat them)."""
    from fairlearn.metrics import MetricFrame

    labels, preds = np.asarray(labels, dtype=np.int64), np.asarray(preds, dtype=np.int64)
    values = np.asarray([g if g else UNKNOWN for g in groups], dtype=object)
    k = len(class_names)
    metrics = {"accuracy": _accuracy, "macro_f1": partial(_macro_f1, k)}
    metrics |= {f"recall_{c}": partial(_recall_of, i) for i, c in enumerate(class_names)}
    frame = MetricFrame(metrics=metrics, y_true=labels, y_pred=preds, sensitive_features=values.astype(str))
    by_group = frame.by_group

    # Bootstrap: per (cluster, group) sums of the confusion parts, resampled clusters -> per-group scores.
    ids, unit = clusters(subjects) if subjects is not None else (np.arange(len(labels)), "image")
    n_units = int(ids.max()) + 1 if len(ids) else 0
    names = sorted(str(g) for g in by_group.index)
    gidx = {g: i for i, g in enumerate(names)}
    col = np.asarray([gidx[str(v)] for v in values])
    parts = _confusion_parts(labels, preds, k)
    sums = np.zeros((n_units, len(names), parts.shape[1]))
    counts = np.zeros((n_units, len(names)))
    np.add.at(sums, (ids, col), parts)
    np.add.at(counts, (ids, col), 1.0)
    w = resample_counts(n_units, n_boot, seed)
    boot_acc, boot_f1 = _scores(np.einsum("bc,cgp->bgp", w, sums), w @ counts, k)

    rows = []
    for g in names:
        i = gidx[g]
        mask = values.astype(str) == g
        images = len(set(np.asarray(files)[mask])) if files is not None else int(mask.sum())
        rows.append(
            {
                "group": g,
                "images": images,
                "predictions": int(mask.sum()),
                "subjects": len({s for s in np.asarray(subjects)[mask] if s}) if subjects is not None else None,
                "acc": Interval(100 * float(by_group.loc[g, "accuracy"]), *_percentile(boot_acc[:, i])),
                "f1": Interval(100 * float(by_group.loc[g, "macro_f1"]), *_percentile(boot_f1[:, i])),
                "recall": {c: 100 * float(by_group.loc[g, f"recall_{c}"]) for c in class_names},
                "small": images < min_group,
            }
        )
    known = [gidx[g] for g in names if g != UNKNOWN]
    worst = gap = None
    if known:
        point = np.asarray([r["acc"].estimate for r in rows])[known]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN: a group absent from one resample
            b = boot_acc[:, known]
            worst_i = int(np.argmin(point))
            worst = {
                "group": names[known[worst_i]],
                "acc": Interval(float(point.min()), *_percentile(np.nanmin(b, axis=1))),
            }
            if len(known) > 1:
                gap = {
                    "between": (names[known[int(np.argmax(point))]], names[known[worst_i]]),
                    "points": Interval(
                        float(point.max() - point.min()), *_percentile(np.nanmax(b, axis=1) - np.nanmin(b, axis=1))
                    ),
                }
    return {
        "rows": rows,
        "worst": worst,
        "gap": gap,
        "unit": unit,
        "min_group": min_group,
        "small_groups": [r["group"] for r in rows if r["small"] and r["group"] != UNKNOWN],
    }
