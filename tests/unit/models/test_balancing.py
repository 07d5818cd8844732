"""fer.models.balancing: class weights (balanced, sqrt, effective number) and post-hoc logit adjustment."""

from __future__ import annotations

import math

import pytest
import torch

from fer.errors import ConfigError
from fer.models.balancing import (
    SCHEMES,
    adjust,
    adjustment_factors,
    balanced_class_weights,
    class_prior,
    class_weights,
    fit_tau,
)
from fer.models.schedulers import WarmupCosine

# 3 classes present (60 : 15 : 5 images), class 3 absent
LABELS = [0] * 60 + [1] * 15 + [2] * 5


def test_balanced_weights_are_scikit_learns_and_absent_classes_get_zero():
    w = balanced_class_weights([0, 0, 0, 1, 2, 2], 4)
    assert torch.allclose(w, torch.tensor([6 / 9, 2.0, 1.0, 0.0]))  # n / (k * n_c)


@pytest.mark.parametrize("scheme", SCHEMES)
def test_every_scheme_weighs_the_average_image_one_and_rare_classes_more(scheme):
    w = class_weights(scheme, LABELS, 4)
    counts = torch.tensor([60.0, 15.0, 5.0, 0.0])
    assert w[3] == 0 and math.isclose(float((w * counts).sum() / counts.sum()), 1.0, rel_tol=1e-6)
    assert w[0] < w[1] < w[2]
    assert torch.equal(class_weights(scheme, [0, 1, 2] * 40, 3), torch.ones(3))  # balanced data: no weighting


def test_sqrt_and_effective_are_gentler_than_inverse_frequency():
    ratio = {s: float(class_weights(s, LABELS, 4)[2] / class_weights(s, LABELS, 4)[0]) for s in SCHEMES}
    assert math.isclose(ratio["balanced"], 12.0, rel_tol=1e-5)  # 60 / 5
    assert math.isclose(ratio["sqrt"], math.sqrt(12.0), rel_tol=1e-5)
    beta = 0.999
    effective = (1 - beta**60) / (1 - beta**5)  # Cui et al.: inverse effective numbers (1 - beta^n) / (1 - beta)
    assert math.isclose(ratio["effective"], effective, rel_tol=1e-5)
    # beta -> 0: every class counts one effective sample (no weighting); beta -> 1: inverse frequency
    assert torch.allclose(class_weights("effective", LABELS, 3, beta=0.0), torch.ones(3))
    near_one = class_weights("effective", LABELS, 3, beta=1 - 1e-9)
    assert torch.allclose(near_one, class_weights("balanced", LABELS, 3), rtol=1e-4)


def test_bad_schemes_and_betas_are_refused():
    with pytest.raises(ValueError, match="focal"):
        class_weights("focal", LABELS, 3)
    with pytest.raises(ValueError, match="beta"):
        class_weights("effective", LABELS, 3, beta=1.0)
    from functools import partial

    from fer.models.classifier import ClassifierModule
    from fer.models.components.backbone import FERNet

    net, opt = FERNet("resnet10t"), partial(torch.optim.Adam, lr=1e-3)
    with pytest.raises(ConfigError, match="model.class_weights='focal'.*effective"):
        ClassifierModule(net, opt, class_weights="focal")
    with pytest.raises(ConfigError, match="model.class_weight_beta"):
        ClassifierModule(net, opt, class_weights="effective", class_weight_beta=1.5)


# ------------------------------------------------------------------------------------------ logit adjustment
def test_adjusting_probabilities_is_menons_logit_adjustment():
    g = torch.Generator().manual_seed(0)
    logits, prior = torch.randn(10, 4, generator=g), class_prior(LABELS, 4)
    tau = 0.7
    got = adjust(logits.softmax(-1), adjustment_factors(prior, tau))
    log_prior = torch.where(prior > 0, prior.log(), torch.zeros(4))  # an absent class is left as it is
    assert torch.allclose(got, (logits - tau * log_prior).softmax(-1), atol=1e-6)
    assert torch.equal(adjustment_factors(prior, 0.0), torch.ones(4))  # tau 0: no adjustment
    uniform = adjust(logits.softmax(-1), adjustment_factors(torch.full((4,), 0.25), 2.0))
    assert torch.allclose(uniform, logits.softmax(-1))  # a balanced training set: nothing to divide out


def biased_validation(n: int = 400, seed: int = 0):
    """A model that learned the training prior (70% class 0): minority classes often lose to class 0."""
    g = torch.Generator().manual_seed(seed)
    prior = torch.tensor([0.7, 0.1, 0.1, 0.1])
    labels = torch.randint(0, 4, (n,), generator=g)  # validation: balanced
    evidence = torch.nn.functional.one_hot(labels, 4) * 1.2 + torch.randn(n, 4, generator=g)
    return (evidence + prior.log()).softmax(-1), labels, prior


def test_fit_tau_undoes_a_learned_prior_and_improves_validation_macro_f1():
    probs, labels, prior = biased_validation()
    tau, scores = fit_tau(probs, labels, prior)
    assert 0.5 <= tau <= 1.5  # the true prior is removed at tau = 1
    assert scores[tau] > scores[0.0] + 0.05
    fixed, scores = fit_tau(probs, labels, prior, grid=(1.0,))  # a one-value grid: that tau, scored against none
    assert fixed == 1.0 and set(scores) == {0.0, 1.0}


def test_fit_tau_keeps_zero_when_adjusting_gains_nothing():
    labels = torch.arange(4).repeat(25)
    probs = torch.nn.functional.one_hot(labels, 4).float() * 0.9 + 0.025  # already perfect
    tau, scores = fit_tau(probs, labels, torch.tensor([0.7, 0.1, 0.1, 0.1]))
    assert tau == 0.0 and scores[0.0] == 1.0
    with pytest.raises(ValueError, match="no validation"):
        fit_tau(probs[:0], labels[:0], torch.tensor([0.7, 0.1, 0.1, 0.1]))


# ------------------------------------------------------------------------------------------ schedule
def test_warmup_is_capped_to_a_fraction_of_the_run():
    def lrs(max_epochs: int, **kw) -> list[float]:
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
        s = WarmupCosine(opt, max_epochs=max_epochs, warmup_epochs=2, warmup_start=0.1, **kw)
        out = []
        for _ in range(max_epochs):
            out.append(opt.param_groups[0]["lr"])
            opt.step()
            s.step()
        return out

    assert lrs(20, max_warmup_fraction=0.1)[:3] == [0.1, 0.55, 1.0]  # 2 of 20 epochs
    short = lrs(6, max_warmup_fraction=0.1)  # 2 epochs would be a third of the run: none
    assert short[0] == 1.0 and all(a > b for a, b in zip(short, short[1:], strict=False))
    assert lrs(6)[0] == 0.1  # the class's default: the warm-up asked for
