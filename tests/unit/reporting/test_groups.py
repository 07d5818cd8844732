"""The per-group (bias) report: F and M of the synthetic KDEF tree counted as the tree has them; datasets in a fold."""

from __future__ import annotations

import csv
from collections import Counter

import numpy as np
import pytest

from fer.classes import CLASSES
from fer.data.catalogue import read_dataset
from fer.evaluation.predictions import Predictions
from fer.reporting.report import main, report
from fer.synthetic import render
from tests.helpers.cli import run_cli
from tests.helpers.fake_runs import fake_predictions, write_run


def _kdef_run(tmp_path, subjects: int = 6):
    tree = render("kdef", tmp_path / "kdef", subjects=subjects, angles=["S"])
    samples = read_dataset("kdef", tree["root"])
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(len(CLASSES)), len(samples))
    # Right on two thirds of the images: the labelled class gets the largest probability there.
    right = rng.random(len(samples)) < 2 / 3
    for i, s in enumerate(samples):
        if right[i]:
            probs[i, s.label] = probs[i].max() + 0.1
    probs /= probs.sum(1, keepdims=True)
    preds = Predictions.from_samples(samples, probs, CLASSES)
    sweep = tmp_path / "sweep"
    write_run(sweep, ["data=kdef", "protocol=official", "seed=1"], {"kdef": preds}, protocol="official")
    return sweep, samples, preds


def test_group_report_on_the_synthetic_kdef_tree_counts_f_and_m(tmp_path, capsys):
    sweep, samples, preds = _kdef_run(tmp_path)
    sexes = Counter(s.meta["sex"] for s in samples)
    assert set(sexes) == {"F", "M"}  # the synthetic tree alternates F and M subjects

    assert run_cli(main, [str(sweep), "--min-group", "50", "--bootstrap", "300"]) == 0
    out = capsys.readouterr().out
    assert "## Per group (bias)" in out and "### kdef, sex: kdef / resnet10t (1 run)" in out
    assert "groups under 50 images: F, M" in out  # 42 images each (3 subjects x 14): flagged, still shown
    groups_csv = [r for r in csv.DictReader((sweep / "report_groups.csv").open()) if r["attribute"] == "sex"]
    assert {r["group"]: int(r["images"]) for r in groups_csv} == dict(sexes)
    assert all(r["small"] == "1" and r["gap"] and r["worst_group"] for r in groups_csv)
    assert {f"recall_{c}" for c in CLASSES} <= set(groups_csv[0])

    result = report(sweep, n_boot=300, min_group=30)
    (table,) = [t for t in result["groups"] if t["attribute"] == "sex"]
    rows = {r["group"]: r for r in table["rows"]}
    assert {g: r["images"] for g, r in rows.items()} == dict(sexes)
    subjects = Counter(s.meta["sex"] for s in {s.subject: s for s in samples}.values())
    assert {g: r["subjects"] for g, r in rows.items()} == dict(subjects)
    for g, r in rows.items():
        mask = np.asarray([s.meta["sex"] == g for s in samples])
        assert r["acc"].estimate == pytest.approx(100 * preds.correct[mask].mean())
        assert r["acc"].low <= r["acc"].estimate <= r["acc"].high
        assert r["small"] == (sexes[g] < 30)
    assert table["worst"]["group"] in rows and table["gap"]["points"].estimate >= 0


def test_a_test_set_pooling_datasets_is_reported_per_dataset(tmp_path):
    """The k-fold union: a test fold holds KDEF, CK+ and JAFFE subjects; the dataset of origin is a group."""
    rng = np.random.default_rng(1)
    parts = [fake_predictions(rng, subjects=4, per_subject=7, dataset=d) for d in ("kdef", "ckplus", "jaffe")]
    fold = Predictions(
        list(CLASSES),
        *[[v for p in parts for v in getattr(p, a)] for a in ("files", "subjects", "datasets", "origins")],
        np.concatenate([p.labels for p in parts]),
        np.concatenate([p.probs for p in parts]),
    )
    write_run(tmp_path, ["protocol=kfold", "protocol.fold=0"], {"fold0": fold}, protocol="kfold", fold=0)
    (table,) = report(tmp_path, n_boot=200)["groups"]
    assert table["attribute"] == "dataset" and table["key"][-1] == "kfold"
    assert {r["group"]: (r["images"], r["subjects"]) for r in table["rows"]} == {
        "ckplus": (28, 4),
        "jaffe": (28, 4),
        "kdef": (28, 4),
    }
