"""Serving rare classes: loss weights from the training set's class counts, and post-hoc logit adjustment.

Loss weights (`model.class_weights`), from the gentlest to the strongest push towards rare classes:

- `effective`: Cui et al. 2019, "Class-Balanced Loss Based on Effective Number of Samples": w_c proportional to
  (1 - beta) / (1 - beta^n_c). Saturates for large classes: with beta = 0.999, 436 and 7,215 images weigh 2.8 : 1,
  140 and 140 images 1 : 1; beta -> 1 tends to `balanced`, beta = 0 to no weights.
- `sqrt`: w_c proportional to 1 / sqrt(n_c), the square root of the inverse frequency (436 vs 7,215: 4.1 : 1).
- `balanced`: w_c proportional to 1 / n_c, scikit-learn's "balanced" (436 vs 7,215: 16.5 : 1).

Every scheme is scaled so that the mean weight over the training images is 1 (scikit-learn's n / (k * n_c) for
`balanced`); cross-entropy's mean reduction divides by the batch's weight sum, so only the ratios matter. Classes
absent from the training set get 0.

Logit adjustment (Menon et al. 2021, "Long-tail learning via logit adjustment", post-hoc form): a model trained
on an imbalanced set estimates p(y | x) under the training prior pi; dividing by pi^tau (adding -tau log pi to the
logits) moves it towards the balanced error. Applied to the model's final probabilities (after flip averaging):
p_adj(y | x) proportional to p(y | x) * pi_y^(-tau), which without flip averaging is exactly
softmax(logits - tau log pi). tau is fitted on the validation predictions (`fit_tau`), never on a test set.
"""

from __future__ import annotations

import torch

SCHEMES = ("balanced", "sqrt", "effective")
# tau searched on validation: 0 (no adjustment) to 2 (twice Menon's Bayes-optimal 1 for the balanced error)
TAU_GRID = tuple(round(0.1 * i, 1) for i in range(21))


def class_counts(labels, num_classes: int) -> torch.Tensor:
    """Images per class (float), classes in index order."""
    return torch.bincount(torch.as_tensor(labels, dtype=torch.long).flatten(), minlength=num_classes).float()


def class_weights(scheme: str, labels, num_classes: int, beta: float = 0.999) -> torch.Tensor:
    """Loss weights of `scheme` (`SCHEMES`) from the training labels: mean weight 1 over the images, absent ones 0."""
    counts = class_counts(labels, num_classes).double()
    present = counts > 0
    raw = torch.zeros(num_classes, dtype=torch.double)
    n = counts[present]
    if scheme == "balanced":
        raw[present] = 1.0 / n
    elif scheme == "sqrt":
        raw[present] = n.rsqrt()
    elif scheme == "effective":
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"beta={beta!r}: expected a value in [0, 1), e.g. 0.999")
        raw[present] = (1.0 - beta) / (1.0 - beta**n)
    else:
        raise ValueError(f"class weight scheme {scheme!r}; expected one of {', '.join(SCHEMES)}")
    return (raw * counts.sum() / (raw * counts).sum()).float()


def balanced_class_weights(labels, num_classes: int) -> torch.Tensor:
    """Loss weights n / (k * n_c) for the k classes present (scikit-learn's "balanced"); absent classes get 0."""
    return class_weights("balanced", labels, num_classes)


def class_prior(labels, num_classes: int) -> torch.Tensor:
    """The training set's class frequencies (the prior pi that logit adjustment divides out)."""
    counts = class_counts(labels, num_classes)
    return counts / counts.sum()


def adjustment_factors(prior, tau: float) -> torch.Tensor:
    """pi^(-tau) per class; a class absent from training (pi = 0) keeps factor 1: the model never learned it."""
    prior = torch.as_tensor(prior, dtype=torch.float32)
    factors = torch.ones_like(prior)
    present = prior > 0
    factors[present] = prior[present].pow(-float(tau))
    return factors / factors.max()  # scale-free (renormalized after use); kept <= 1 for float range


def adjust(probs: torch.Tensor, factors: torch.Tensor) -> torch.Tensor:
    """Probabilities reweighted by `factors` (`adjustment_factors`) and renormalized."""
    probs = probs * factors
    return probs / probs.sum(-1, keepdim=True)


def macro_f1(pred: torch.Tensor, labels: torch.Tensor, num_classes: int) -> float:
    """Macro-F1 over the classes present in `labels` or `pred` (torchmetrics' convention for absent ones)."""
    from torchmetrics.functional.classification import multiclass_f1_score

    return float(multiclass_f1_score(pred, labels, num_classes, average="macro"))


def fit_tau(probs, labels, prior, grid=TAU_GRID) -> tuple[float, dict[float, float]]:
    """The tau in `grid` whose adjusted validation predictions have the highest macro-F1 (the smallest such tau
    on ties, so no gain means no adjustment), and the macro-F1 at every tau of `grid` and at 0 (unadjusted).
    Validation predictions only."""
    probs = torch.as_tensor(probs, dtype=torch.float64)
    labels = torch.as_tensor(labels, dtype=torch.long)
    if not len(labels):
        raise ValueError("no validation predictions to fit the logit adjustment on")
    k = probs.shape[-1]
    grid = sorted({float(t) for t in grid})
    scores = {
        t: macro_f1(adjust(probs, adjustment_factors(prior, t).double()).argmax(-1), labels, k)
        for t in sorted({0.0, *grid})
    }
    best = max(scores[t] for t in grid)
    return next(t for t in grid if scores[t] >= best - 1e-12), scores
