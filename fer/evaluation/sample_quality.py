"""Sample quality of a generator from feature arrays: kernel inception distance and improved precision/recall.

Both compare a set of generated images with a set of real ones through the features of one network (named in
every report: the figures are only comparable under the same network).

- KID (Binkowski et al., 2018): the squared maximum mean discrepancy under the cubic polynomial kernel, an
  unbiased estimate averaged over random subsets (torchmetrics' KernelInceptionDistance, fed features through
  an identity "feature network"). 0 when both sets come from one distribution; unlike FID it is unbiased for
  the few hundred images a class has here, and can come out slightly negative.
- Precision and recall (Kynkäänniemi et al., 2019): each set's manifold is the union of balls around its
  points with radius the distance to the k-th nearest neighbour in the same set. Precision: the fraction of
  generated points inside the real manifold (fidelity); recall: the fraction of real points inside the
  generated manifold (coverage). A collapsed generator keeps precision and loses recall.
"""

from __future__ import annotations

import warnings

import torch
from torch import nn
from torchmetrics.image.kid import KernelInceptionDistance

__all__ = ["kid", "manifold_coverage", "precision_recall"]


def kid(real: torch.Tensor, fake: torch.Tensor, subsets: int = 100, subset_size: int = 1000, seed: int = 0) -> dict:
    """KID between (N, D) real and (M, D) generated features: mean and standard deviation over `subsets`
    random subsets of `min(subset_size, N, M)` points each (deterministic for `seed`)."""
    size = min(subset_size, len(real), len(fake))
    if size < 2:
        raise ValueError(f"KID needs at least 2 real and 2 generated images (got {len(real)} and {len(fake)})")
    with warnings.catch_warnings():  # "will save all extracted features in buffer": these are the features
        warnings.filterwarnings("ignore", "Metric `Kernel Inception Distance`", UserWarning)
        metric = KernelInceptionDistance(feature=nn.Identity(), subsets=subsets, subset_size=size)
    metric.update(real.double(), real=True)
    metric.update(fake.double(), real=False)
    with torch.random.fork_rng(devices=[]):  # the subsets are drawn from the global generator
        torch.manual_seed(seed)
        mean, std = metric.compute()
    return {"kid": float(mean), "kid_std": float(std), "subsets": subsets, "subset_size": size}


def manifold_coverage(support: torch.Tensor, query: torch.Tensor, k: int = 3) -> torch.Tensor:
    """Per query point: whether it lies within the k-NN ball of at least one support point (its radius the
    distance from that point to its k-th nearest other support point)."""
    if len(support) <= k:
        raise ValueError(f"the k-NN manifold needs more than k={k} points (got {len(support)})")
    support, query = support.double(), query.double()
    radii = torch.cdist(support, support).kthvalue(k + 1, dim=1).values  # +1: each point is its own nearest
    return (torch.cdist(query, support) <= radii.unsqueeze(0)).any(dim=1)


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = 3) -> dict:
    """Improved precision (generated inside the real manifold) and recall (real inside the generated one)."""
    return {
        "precision": float(manifold_coverage(real, fake, k).double().mean()),
        "recall": float(manifold_coverage(fake, real, k).double().mean()),
        "k": k,
    }
