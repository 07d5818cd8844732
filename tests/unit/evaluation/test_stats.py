"""fer/evaluation/stats.py on synthetic predictions with a known truth: coverage, subject-level resampling, paired
tests, group metrics and calibration."""

from __future__ import annotations

import numpy as np
import pytest

from fer.classes import CLASSES
from fer.evaluation import calibration, stats
from tests.helpers.fake_runs import fake_predictions


def test_interval_covers_the_true_accuracy_in_a_small_simulation():
    """100 test sets of 30 subjects x 7 images; subjects' accuracies spread around a true 70%."""
    rng = np.random.default_rng(0)
    covered, widths_subject, widths_image = 0, [], []
    for i in range(100):
        p = fake_predictions(rng, subjects=30, per_subject=7, acc=0.7, spread=0.15)
        by_subject = stats.bootstrap_scores(p.labels, p.preds, 7, p.subjects, n_boot=1000, seed=i)
        by_image = stats.bootstrap_scores(p.labels, p.preds, 7, p.subjects, n_boot=1000, seed=i, by="image")
        assert by_subject["unit"] == "subject" and by_subject["units"] == 30 and by_image["unit"] == "image"
        acc = by_subject["acc"]
        covered += acc.low <= 70.0 <= acc.high
        widths_subject.append(acc.high - acc.low)
        widths_image.append(by_image["acc"].high - by_image["acc"].low)
    assert covered >= 85, covered  # nominal 95; 95 with these seeds (93 resampling images)
    # Images of one subject are correlated: resampling subjects gives wider (honest) intervals.
    assert np.mean(widths_subject) > 1.1 * np.mean(widths_image)  # 15.1 vs 12.3 points


def test_bootstrap_is_deterministic_and_matches_the_point_estimates():
    from sklearn.metrics import f1_score

    p = fake_predictions(np.random.default_rng(1), subjects=12)
    a = stats.bootstrap_scores(p.labels, p.preds, 7, p.subjects, seed=3)
    b = stats.bootstrap_scores(p.labels, p.preds, 7, p.subjects, seed=3)
    assert a["acc"] == b["acc"] and a["f1"] == b["f1"]
    assert a["acc"].estimate == pytest.approx(100 * p.accuracy())
    assert a["f1"].estimate == pytest.approx(100 * f1_score(p.labels, p.preds, average="macro"))
    assert a["acc"].low < a["acc"].estimate < a["acc"].high
    # One image per subject (or no subjects): images are the unit.
    single = stats.bootstrap_scores(p.labels, p.preds, 7, [f"s{i}" for i in range(len(p))])
    assert single["unit"] == "image" and single["units"] == len(p)


def test_across_runs_summary_uses_sample_variance_and_a_t_interval():
    s = stats.summarize([50.0, 60.0, 70.0])
    assert s["n"] == 3 and s["mean"] == 60.0 and s["var"] == pytest.approx(100.0) and s["std"] == pytest.approx(10.0)
    assert s["low"] == pytest.approx(60 - 4.302652729911275 * 10 / 3**0.5)  # t(0.975, 2 df)
    one = stats.summarize([42.0])
    assert one["n"] == 1 and one["std"] is None and one["low"] is None


def test_paired_comparison_of_identical_variants_is_not_significant():
    rng = np.random.default_rng(2)
    base = 60 + 4 * rng.standard_normal(10)  # seed-to-seed spread
    same = stats.compare_paired("A", "B", "CK+", (base + 2 * rng.standard_normal(10)) - base)
    assert not same.significant and same.sentence().startswith("no significant difference between B and A on CK+")
    zero = stats.compare_paired("A", "B", "CK+", [0.0] * 5)
    assert not zero.significant and zero.p == 1.0 and "all paired differences are zero" in zero.sentence()


def test_paired_comparison_finds_a_planted_five_point_gain():
    rng = np.random.default_rng(3)
    base = 60 + 4 * rng.standard_normal(10)
    gain = stats.compare_paired("kdef", "kdef_pfa_q", "CK+", (base + 5 + 1.5 * rng.standard_normal(10)) - base)
    assert gain.significant and gain.p < 0.01 and gain.low > 0
    text = gain.sentence()
    assert text.startswith("kdef_pfa_q beats kdef on CK+ by ") and "10 paired runs, Wilcoxon p=" in text
    # The loser named second whichever way round the variants are given.
    flipped = stats.compare_paired("kdef_pfa_q", "kdef", "CK+", [-d for d in gain.diffs])
    assert flipped.sentence().startswith("kdef_pfa_q beats kdef on CK+ by ")
    # Three pairs can never reach p<0.05 with Wilcoxon: the paired t-test decides, and the sentence says so.
    few = stats.compare_paired("kdef", "kdef_pfa_q", "CK+", [5.0, 6.0, 4.0])
    assert few.test == "paired t-test" and few.significant
    assert "3 paired runs, paired t-test p=0.013" in few.sentence()
    assert "too few pairs for Wilcoxon (its smallest p with 3 is 0.25)" in few.sentence()
    assert stats.compare_paired("A", "B", "CK+", [5.0, 5.0, 5.0]).method == "not testable"
    assert stats.compare_paired("A", "B", "CK+", [3.0]).method == "not testable"


def test_one_pair_compares_on_the_shared_images():
    rng = np.random.default_rng(4)
    a = fake_predictions(rng, subjects=30, per_subject=10, acc=0.6)
    same = stats.compare_images("A", "B", "JAFFE", a.correct, a.correct, a.subjects)
    assert not same.significant and same.diff == 0 and same.p == 1.0
    better = a.correct.copy()
    better[np.flatnonzero(~better)[:15]] = True  # 15 of 300 images: +5 points
    gain = stats.compare_images("A", "B", "JAFFE", a.correct, better, a.subjects)
    assert gain.significant and gain.diff == pytest.approx(5.0) and gain.low > 0
    assert "1 paired run, 300 shared test images, McNemar" in gain.sentence()


def test_unmatched_runs_fall_back_to_an_unpaired_test():
    c = stats.compare_unpaired("A", "B", "CK+", [50.0, 52.0, 51.0], [60.0, 61.0, 59.0])
    assert c.method == "unpaired runs" and c.significant and c.diff == pytest.approx(9.0)
    assert "unmatched runs (3 vs 3), Welch t-test" in c.sentence() and "Mann-Whitney" in c.sentence()
    assert stats.compare_unpaired("A", "B", "CK+", [50.0], [60.0]).method == "not testable"


def test_group_report_worst_group_gap_and_small_groups():
    rng = np.random.default_rng(5)
    n_f, n_m = 14 * 7, 3 * 7
    correct = np.r_[rng.random(n_f) < 0.8, rng.random(n_m) < 0.4]
    sex = ["F"] * n_f + ["M"] * n_m
    p = fake_predictions(rng, subjects=17, per_subject=7, correct=correct)
    rep = stats.group_report(p.labels, p.preds, sex, list(CLASSES), subjects=p.subjects, min_group=30)
    rows = {r["group"]: r for r in rep["rows"]}
    assert rows["F"]["images"] == n_f and rows["M"]["images"] == n_m and rows["M"]["subjects"] == 3
    assert rows["M"]["small"] and not rows["F"]["small"] and rep["small_groups"] == ["M"]
    assert rows["F"]["acc"].estimate == pytest.approx(100 * correct[:n_f].mean())
    assert rep["worst"]["group"] == "M" and rep["gap"]["between"] == ("F", "M")
    gap = rep["gap"]["points"]
    assert gap.estimate == pytest.approx(rows["F"]["acc"].estimate - rows["M"]["acc"].estimate)
    assert gap.low <= gap.estimate <= gap.high
    assert set(rows["F"]["recall"]) == set(CLASSES)


def test_calibration_error_and_temperature_scaling():
    import torch
    from torchmetrics.functional.classification import multiclass_calibration_error

    rng = np.random.default_rng(6)
    p = fake_predictions(rng, subjects=40, per_subject=7, acc=0.6, confidence=0.95)  # over-confident
    ece = calibration.expected_calibration_error(p.probs, p.labels)
    ref = multiclass_calibration_error(
        torch.tensor(p.probs, dtype=torch.float32), torch.tensor(p.labels), num_classes=7, n_bins=15, norm="l1"
    )
    assert ece == pytest.approx(float(ref)) and ece > 0.2
    t = calibration.fit_temperature(p.probs, p.labels)
    assert t > 1  # softens over-confident probabilities
    assert calibration.expected_calibration_error(calibration.apply_temperature(p.probs, t), p.labels) < ece / 2
    assert np.allclose(calibration.apply_temperature(p.probs, 1.0), p.probs / p.probs.sum(1, keepdims=True))
