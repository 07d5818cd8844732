"""fer.reporting.report on fabricated runs with predictions files: intervals, calibration, `--compare` (matched and
unmatched runs, bad keys), W&B logging."""

from __future__ import annotations

import csv
import subprocess
import sys

import numpy as np
import pytest

from fer.reporting.report import main, report
from tests.helpers.cli import run_cli
from tests.helpers.fake_runs import fake_predictions, write_run

ROOT = __import__("pathlib").Path(__file__).resolve().parents[3]


def _sweep(tmp_path, seeds_a=(1, 2, 3, 4, 5, 6), seeds_b=(1, 2, 3, 4, 5, 6), gain=0.0, key="data"):
    """Two settings of `key` x seeds; B's accuracy raised by `gain` (a planted effect) on CK+ and JAFFE."""
    sweep = tmp_path / "sweep"
    values = {"data": ("kdef", "kdef_pfa_q"), "data.offline_aug.enabled": ("false", "true")}[key]
    for value, seeds, extra in ((values[0], seeds_a, 0.0), (values[1], seeds_b, gain)):
        for seed in seeds:
            rng = np.random.default_rng(seed)  # the same test-set draws for both settings of a seed
            ck = fake_predictions(rng, subjects=12, per_subject=7, acc=0.55 + extra, spread=0.05, dataset="ckplus")
            ja = fake_predictions(rng, subjects=10, per_subject=21, acc=0.65 + extra, spread=0.05, dataset="jaffe")
            val = fake_predictions(rng, subjects=6, per_subject=7, acc=0.9, confidence=0.6)
            write_run(
                sweep,
                ["experiment=demo", f"{key}={value}", f"seed={seed}"],
                {"ckplus": ck, "jaffe": ja},
                variant=value if key == "data" else "kdef",
                seed=seed,
                val=val,
            )
    return sweep


def test_report_shows_intervals_and_calibration(tmp_path, capsys):
    sweep = _sweep(tmp_path, seeds_a=(1, 2, 3), seeds_b=(1,))
    assert run_cli(main, [str(sweep), "--bootstrap", "500"]) == 0
    out = capsys.readouterr().out
    assert "CK+ 95% CI" in out and "## Calibration" in out and "## Per run: intervals over the test images" in out
    rows = {(r["variant"], r["test_set"]): r for r in csv.DictReader((sweep / "report.csv").open())}
    three, one = rows[("kdef", "CK+")], rows[("kdef_pfa_q", "CK+")]
    assert three["ci_kind"] == "t over runs" and float(three["ci_low"]) < float(three["mean"]) < float(three["ci_high"])
    assert one["n"] == "1" and one["ci_kind"] == "bootstrap over subjects" and one["ci_low"]  # a run's own interval
    assert 0 < float(three["ece"]) < 100 and three["ece_ts"] and 0 < float(three["temperature"]) < 20
    runs = list(csv.DictReader((sweep / "report_runs.csv").open()))
    assert len(runs) == 8 and {r["resampled"] for r in runs} == {"subject"}
    ck = next(r for r in runs if r["test_set"] == "CK+")
    assert ck["units"] == "12" and ck["images"] == "84"
    assert float(ck["acc_low"]) <= float(ck["acc"]) <= float(ck["acc_high"])
    assert float(ck["f1_low"]) <= float(ck["f1"]) <= float(ck["f1_high"])


def test_compare_planted_gain_on_matched_runs(tmp_path, capsys):
    sweep = _sweep(tmp_path, gain=0.08)
    assert run_cli(main, [str(sweep), "--compare", "data=kdef,kdef_pfa_q", "--bootstrap", "200"]) == 0
    out = capsys.readouterr().out
    assert "kdef_pfa_q beats kdef on CK+ by " in out and "6 paired runs, Wilcoxon p=0.031" in out
    rows = {r["test_set"]: r for r in csv.DictReader((sweep / "compare.csv").open())}
    for r in rows.values():
        assert r["method"] == "paired runs" and r["n_pairs"] == "6" and r["significant"] == "1"
        assert float(r["diff"]) == pytest.approx(float(r["mean_b"]) - float(r["mean_a"]))
        assert 0 < float(r["low"]) < float(r["diff"]) < float(r["high"])
    md = (sweep / "compare.md").read_text()
    assert "| seed | split seed | fold | kdef | kdef_pfa_q | difference |" in md


def test_compare_identical_settings_is_not_significant(tmp_path):
    sweep = _sweep(tmp_path, key="data.offline_aug.enabled")
    result = report(sweep, compare="data.offline_aug.enabled=false,true", n_boot=200)
    for c in result["comparisons"]:
        comp = c["comparison"]
        assert comp.method == "paired runs" and comp.diff == 0 and not comp.significant
        assert comp.sentence().startswith(
            "no significant difference between data.offline_aug.enabled=true and data.offline_aug.enabled=false on "
        )


def test_compare_one_pair_uses_the_shared_images_and_unmatched_runs_fall_back(tmp_path):
    one = report(_sweep(tmp_path / "one", seeds_a=(1,), seeds_b=(1,), gain=0.15), compare="data=kdef,kdef_pfa_q")
    jaffe = next(c["comparison"] for c in one["comparisons"] if c["comparison"].test_set == "JAFFE")
    assert jaffe.method == "paired images" and jaffe.images == 210 and jaffe.significant
    assert "1 paired run, 210 shared test images, McNemar" in jaffe.sentence()
    unmatched = report(_sweep(tmp_path / "un", seeds_a=(1, 2, 3), seeds_b=(4, 5, 6)), compare="data=kdef,kdef_pfa_q")
    for c in unmatched["comparisons"]:
        assert c["comparison"].method == "unpaired runs" and not c["pairs"]
        assert "unmatched runs (3 vs 3), Welch t-test" in c["comparison"].sentence()


def test_compare_bad_key_or_value_is_one_clear_error(tmp_path, capsys):
    sweep = _sweep(tmp_path, seeds_a=(1,), seeds_b=(1,))
    assert run_cli(main, [str(sweep), "--compare", "model.lr=0.1,0.2"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --compare model.lr: no run sets model.lr; keys seen") and "experiment" in err
    assert run_cli(main, [str(sweep), "--compare", "data=kdef,kdef_ol"]) == 2
    assert "no run has data=kdef_ol; values seen: kdef (1 run), kdef_pfa_q (1 run)" in capsys.readouterr().err
    proc = subprocess.run(
        [sys.executable, "-m", "fer.report", str(sweep), "--compare", "data=kdef"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert (
        proc.stderr.strip()
        == "error: --compare 'data=kdef': expected KEY=A,B (two values), e.g. --compare data=kdef,kdef_pfa_q"
    )


def test_wandb_logging_is_off_by_default_and_works_offline(tmp_path, monkeypatch):
    sweep = _sweep(tmp_path, seeds_a=(1,), seeds_b=(1,))
    assert "wandb_dir" not in report(sweep, n_boot=100)
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb"))
    result = report(sweep, n_boot=100, wandb_project="ferlab-test")
    assert result["wandb_dir"] and "offline-run" in result["wandb_dir"]
    assert list((tmp_path / "wandb").rglob("*.wandb")) or list(sweep.rglob("*.wandb"))
