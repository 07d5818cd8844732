"""KID and improved precision/recall on feature arrays: each score moves the way it must when the generated set
matches the real one, is shifted away from it, or collapses to one point."""

from __future__ import annotations

import pytest
import torch

from fer.evaluation.sample_quality import kid, manifold_coverage, precision_recall


def features(n: int, seed: int, dim: int = 16) -> torch.Tensor:
    return torch.randn(n, dim, generator=torch.Generator().manual_seed(seed))


def test_kid_is_near_zero_for_one_distribution_and_grows_with_a_shift():
    real, same = features(300, 0), features(300, 1)
    match = kid(real, same, subsets=20, subset_size=100)
    shifted = kid(real, same + 0.5, subsets=20, subset_size=100)
    far = kid(real, same + 2.0, subsets=20, subset_size=100)
    assert abs(match["kid"]) < 3 * match["kid_std"] + 1e-3  # unbiased: zero within its subset spread
    assert match["kid"] < shifted["kid"] < far["kid"]
    assert shifted["kid"] > 5 * shifted["kid_std"] > 0
    assert match["subset_size"] == 100 and match["subsets"] == 20


def test_kid_is_deterministic_for_a_seed_and_caps_the_subset_size():
    real, fake = features(50, 0), features(40, 1) + 0.3
    a, b = kid(real, fake, subsets=10, seed=3), kid(real, fake, subsets=10, seed=3)
    assert a == b and a["subset_size"] == 40  # the default 1000 is capped at the smaller set
    state = torch.get_rng_state()
    kid(real, fake, subsets=10, subset_size=20, seed=4)
    assert torch.equal(state, torch.get_rng_state())  # the global generator is left as it was
    with pytest.raises(ValueError, match="at least 2"):
        kid(real, fake[:1])


def test_precision_and_recall_separate_fidelity_from_coverage():
    real = features(400, 0)
    same = precision_recall(real, features(400, 1))
    assert same["precision"] > 0.6 and same["recall"] > 0.6
    # A collapsed generator: every sample next to one real face. Faithful, but covers nothing.
    collapsed = real[:1] + 0.01 * features(400, 2)
    pr = precision_recall(real, collapsed)
    assert pr["precision"] == 1.0 and pr["recall"] < 0.05
    # Samples far from every real face: neither faithful nor covering.
    assert precision_recall(real, features(400, 3) + 10) == {"precision": 0.0, "recall": 0.0, "k": 3}


def test_manifold_coverage_uses_the_kth_neighbour_radius():
    support = torch.tensor([[0.0], [1.0], [3.0]])  # radii with k=1: 1, 1, 2
    query = torch.tensor([[0.9], [4.9], [5.1], [-1.5]])
    assert manifold_coverage(support, query, k=1).tolist() == [True, True, False, False]
    with pytest.raises(ValueError, match="more than k=3"):
        manifold_coverage(support, query, k=3)
