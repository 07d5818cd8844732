"""Calibration of a run's probabilities: expected calibration error, temperature scaling, reliability diagrams.

Each function takes plain arrays (`probs` (n, k) of class probabilities, `labels` (n,) class indices), so the same
figures come from a live run and from a predictions file (fer/evaluation/predictions.py). The ECE is torchmetrics'
top-label `multiclass_calibration_error` (equal-width confidence bins, L1), the metric the test loop logs, so a
figure recomputed from a file equals the one in `results.json`.

Temperature scaling (Guo et al., 2017) divides the log-probabilities by one scalar T > 0 fitted by the negative
log-likelihood on the validation side only; it never changes a prediction (argmax), only its confidence.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fer.utils.io import save_figure

N_BINS = 15
# The search range for T: wide enough for any trained network, bounded so that a small validation set that the
# model gets all right cannot drive T to 0 (infinite confidence).
T_BOUNDS = (0.05, 20.0)
_EPS = 1e-12


def _arrays(probs, labels) -> tuple[np.ndarray, np.ndarray]:
    probs, labels = np.asarray(probs, dtype=np.float64), np.asarray(labels, dtype=np.int64)
    if probs.ndim != 2 or labels.shape != (len(probs),):
        raise ValueError(f"probabilities of shape {probs.shape} for labels of shape {labels.shape}")
    return probs, labels


def expected_calibration_error(probs, labels, n_bins: int = N_BINS) -> float:
    """Top-label ECE (torchmetrics, L1, `n_bins` equal-width bins); NaN for no samples."""
    import torch  # loaded here: train.py answers --help and config errors before torch loads
    from torchmetrics.functional.classification import multiclass_calibration_error

    probs, labels = _arrays(probs, labels)
    if not len(labels):
        return float("nan")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a few thousand rows at most: waking a thread pool costs far more than it saves
    try:
        ece = multiclass_calibration_error(
            torch.from_numpy(probs), torch.from_numpy(labels), num_classes=probs.shape[1], n_bins=n_bins, norm="l1"
        )
    finally:
        torch.set_num_threads(threads)
    return float(ece)


def nll(probs, labels) -> float:
    """Mean negative log-likelihood of the true classes (natural log); NaN for no samples."""
    probs, labels = _arrays(probs, labels)
    if not len(labels):
        return float("nan")
    return float(-np.log(np.clip(probs[np.arange(len(labels)), labels], _EPS, None)).mean())


def apply_temperature(probs, T: float) -> np.ndarray:
    """softmax(log(p) / T): T > 1 softens, T < 1 sharpens; the argmax stays the same."""
    from scipy.special import softmax

    if not T > 0:
        raise ValueError(f"temperature {T!r}: expected a positive number")
    logp = np.log(np.clip(np.asarray(probs, dtype=np.float64), _EPS, None))
    return softmax(logp / T, axis=1)


def at_bound(temperature: float) -> bool:
    """Whether a fitted T sits at the edge of `T_BOUNDS`: the validation set did not determine it (e.g. every
    validation image right, where the NLL keeps falling as T -> 0), so scaled figures would mean nothing."""
    return not T_BOUNDS[0] * 1.01 < temperature < T_BOUNDS[1] * 0.99


def fit_temperature(probs, labels) -> float:
    """The T in `T_BOUNDS` minimising the NLL of `apply_temperature(probs, T)` (searched on log T)."""
    from scipy.optimize import minimize_scalar
    from scipy.special import log_softmax

    probs, labels = _arrays(probs, labels)
    if not len(labels):
        raise ValueError("no samples to fit a temperature on")
    logp, rows = np.log(np.clip(probs, _EPS, None)), np.arange(len(labels))

    def loss(log_t: float) -> float:
        return float(-log_softmax(logp / np.exp(log_t), axis=1)[rows, labels].mean())

    res = minimize_scalar(loss, bounds=tuple(np.log(T_BOUNDS)), method="bounded", options={"xatol": 1e-4})
    # The bounded search stops short of an optimum that lies on a bound (the NLL still falling, or flat, there):
    # a bound at least as good wins, and `at_bound` then says T was not determined
    best = min([*np.log(T_BOUNDS), float(res.x)], key=loss)
    return float(np.exp(best))


def reliability_bins(probs, labels, n_bins: int = N_BINS) -> dict[str, np.ndarray]:
    """Per confidence bin (as torchmetrics bins): mean confidence, accuracy and sample count."""
    probs, labels = _arrays(probs, labels)
    conf, correct = probs.max(1), probs.argmax(1) == labels
    idx = np.clip(np.digitize(conf, np.linspace(0, 1, n_bins + 1), right=False) - 1, 0, n_bins - 1)
    count = np.bincount(idx, minlength=n_bins)
    with np.errstate(invalid="ignore"):
        return {
            "confidence": np.bincount(idx, weights=conf, minlength=n_bins) / count,
            "accuracy": np.bincount(idx, weights=correct, minlength=n_bins) / count,
            "count": count,
        }


def reliability_diagram(probs, labels, path: str | Path, title: str, n_bins: int = N_BINS) -> Path:
    """A reliability diagram (accuracy against confidence per bin, with the share of images per bin) as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    b = reliability_bins(probs, labels, n_bins)
    edges = np.linspace(0, 1, n_bins + 1)
    centers, width = (edges[:-1] + edges[1:]) / 2, 1.0 / n_bins
    filled = b["count"] > 0
    fig, (ax, hist) = plt.subplots(2, 1, figsize=(4.8, 5.6), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect calibration")
    ax.bar(centers[filled], b["accuracy"][filled], width, color="tab:blue", edgecolor="k", lw=0.5, label="accuracy")
    gap = b["confidence"][filled] - b["accuracy"][filled]  # positive: over-confident
    ax.bar(centers[filled], gap, width, bottom=b["accuracy"][filled], color="tab:red", alpha=0.3, label="gap")
    ax.set(xlim=(0, 1), ylim=(0, 1), ylabel="accuracy")
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(title, fontsize=10)
    hist.bar(centers, b["count"] / max(b["count"].sum(), 1), width, color="grey", edgecolor="k", lw=0.5)
    hist.set(xlabel="confidence (top-class probability)", ylabel="share")
    fig.tight_layout()
    return save_figure(fig, path, dpi=100)
