"""fer.reporting.report on fabricated sweep folders: statistics, per-class recall, chart, missing runs,
reference row."""

from __future__ import annotations

import csv
import json
import statistics

import pytest
from omegaconf import OmegaConf

from fer.classes import CLASSES
from fer.reporting.report import main, report
from tests.helpers.cli import run_cli

EXCLUDE = ["experiment", "logger", "hydra.sweep.dir"]


def _multirun_yaml(sweep, params: dict, task: list[str]):
    sweep.mkdir(parents=True, exist_ok=True)
    OmegaConf.save(
        OmegaConf.create(
            {
                "hydra": {
                    "runtime": {"choices": {"hydra/sweeper": "basic"}},
                    "sweeper": {
                        "max_batch_size": None,
                        "params": params,
                    },
                    "overrides": {"task": task},
                    "job": {"config": {"override_dirname": {"exclude_keys": EXCLUDE, "kv_sep": "=", "item_sep": ","}}},
                }
            }
        ),
        sweep / "multirun.yaml",
    )


def _acc(variant, seed, test):
    return round(0.5 + 0.05 * seed + (0.1 if variant == "kdef_pfa" else 0) + (0.02 if test == "jaffe" else 0), 4)


def _run(
    sweep, folder, overrides, variant, backbone, seed, tests, protocol="cross_db", fold=None, synthetic=True, gan=False
):
    d = sweep / folder
    d.mkdir(parents=True, exist_ok=True)
    res = {
        "task_name": "t",
        "overrides": overrides,
        "variant": variant,
        "backbone": backbone,
        "protocol": protocol,
        "fold": fold,
        "seed": seed,
        "split_seed": 0,
        "metrics": {"val/acc": 0.9},
        "tests": {
            name: {"acc": acc, "f1": acc, "n": 20, "recall": dict.fromkeys(CLASSES, acc), "confusion": [[0] * 7] * 7}
            for name, acc in tests.items()
        },
        "skipped_tests": [],
        "synthetic_data": synthetic,
        "gan_saw_test_subjects": gan,
    }
    (d / "results.json").write_text(json.dumps(res))


@pytest.fixture
def cross_db_sweep(tmp_path):
    """2 variants x 3 seeds planned; kdef_pfa seed 3 failed, kdef_pfa seed 2 interrupted (last.ckpt only)."""
    sweep = tmp_path / "sweep"
    _multirun_yaml(
        sweep, {"data": "kdef,kdef_pfa", "seed": "1,2,3"}, ["experiment=demo", "logger=none", "backbone=resnet10t"]
    )
    for variant in ("kdef", "kdef_pfa"):
        for seed in (1, 2, 3):
            ov = ["backbone=resnet10t", f"data={variant}", f"seed={seed}"]
            folder = f"backbone=resnet10t,data={variant},seed={seed}"
            if variant == "kdef_pfa" and seed == 3:
                (sweep / folder).mkdir()
                (sweep / folder / "failed.json").write_text(json.dumps({"error": "RuntimeError: CUDA out of memory"}))
            elif variant == "kdef_pfa" and seed == 2:
                (sweep / folder / "checkpoints").mkdir(parents=True)
                (sweep / folder / "checkpoints" / "last.ckpt").write_bytes(b"x")
            else:
                _run(
                    sweep,
                    folder,
                    ["experiment=demo", "logger=none"] + ov,
                    variant,
                    "resnet10t",
                    seed,
                    {"ckplus": _acc(variant, seed, "ckplus"), "jaffe": _acc(variant, seed, "jaffe")},
                )
    return sweep


def test_cross_db_table_statistics_and_missing_runs(cross_db_sweep, capsys):
    assert run_cli(main, [str(cross_db_sweep)]) == 0
    out = capsys.readouterr().out
    assert "CK+ mean" in out and "JAFFE mean" in out
    rows = list(csv.DictReader((cross_db_sweep / "report.csv").open()))
    kdef_ck = next(r for r in rows if r["variant"] == "kdef" and r["test_set"] == "CK+")
    values = [100 * _acc("kdef", s, "ckplus") for s in (1, 2, 3)]
    assert float(kdef_ck["mean"]) == pytest.approx(statistics.mean(values), abs=1e-3)
    assert float(kdef_ck["std"]) == pytest.approx(statistics.stdev(values), abs=1e-3)
    assert float(kdef_ck["var"]) == pytest.approx(statistics.variance(values), abs=1e-3)
    assert kdef_ck["n"] == "3" and kdef_ck["seeds"] == "1 2 3"
    pfa_jaffe = next(r for r in rows if r["variant"] == "kdef_pfa" and r["test_set"] == "JAFFE")
    assert pfa_jaffe["n"] == "1" and pfa_jaffe["std"] == "" and pfa_jaffe["seeds"] == "1"  # no spread from one run
    # The partial sweep names its missing runs and why.
    assert "Missing runs (2 of 6 planned)" in out
    assert (
        "- data=kdef_pfa,seed=3 (failed: RuntimeError: CUDA out of memory): `backbone=resnet10t,data=kdef_pfa,seed=3`"
        in out
    )
    assert "- data=kdef_pfa,seed=2 (unfinished, resumable): `backbone=resnet10t,data=kdef_pfa,seed=2`" in out
    assert "paper" not in out  # synthetic runs get no paper reference row
    per_class = list(csv.DictReader((cross_db_sweep / "report_per_class.csv").open()))
    assert {r["class"] for r in per_class} == set(CLASSES)
    assert (cross_db_sweep / "report.png").stat().st_size > 1000
    assert (cross_db_sweep / "report.md").read_text().strip() in out


def test_kfold_table_pools_folds_and_shows_the_reference_for_real_data(tmp_path):
    sweep = tmp_path / "kfold"
    _multirun_yaml(sweep, {"protocol.fold": "0,1,2,3,4"}, ["backbone=inception_resnet_v2"])
    for k in range(5):
        _run(
            sweep,
            f"backbone=inception_resnet_v2,protocol.fold={k}",
            ["backbone=inception_resnet_v2", f"protocol.fold={k}"],
            "kdef",
            "inception_resnet_v2",
            1,
            {f"fold{k}": 0.9 + 0.01 * k},
            protocol="kfold",
            fold=k,
            synthetic=False,
            gan=k == 0,
        )
    result = report(sweep)
    (row,) = result["rows"]
    assert row["test_name"] == "k-fold" and row["n"] == 5 and row["folds"] == [0, 1, 2, 3, 4]
    assert row["mean"] == pytest.approx(92.0) and row["gan_saw_test_subjects"]
    assert not result["status"].missing
    md = result["markdown"]
    assert "97.99" in md and "paper (arXiv 2402.09982)" in md
    assert "92.00 †" in md and "GAN behind the training samples" in md


def test_runs_with_other_settings_are_kept_apart(tmp_path):
    sweep = tmp_path / "lr"
    for lr in ("0.001", "0.01"):
        for seed in (1, 2):
            ov = ["trainer.max_epochs=5", f"model.optimizer.lr={lr}", f"seed={seed}"]  # max_epochs: shared by all
            _run(sweep, ",".join(ov), ov, "kdef", "vgg16", seed, {"ckplus": 0.5 + float(lr)})
    rows = report(sweep)["rows"]
    assert sorted((r["setting"], r["n"]) for r in rows) == [
        ("model.optimizer.lr=0.001", 2),
        ("model.optimizer.lr=0.01", 2),
    ]


def test_bad_sweep_folders_give_clear_errors(tmp_path, capsys):
    assert run_cli(main, [str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err
    _multirun_yaml(tmp_path / "empty", {"seed": "1,2"}, [])
    before = sorted(p.name for p in (tmp_path / "empty").rglob("*"))
    assert run_cli(main, [str(tmp_path / "empty")]) == 1
    captured = capsys.readouterr()
    assert "no finished run" in captured.err and "- seed=1 (not started): `seed=1`" in captured.out
    assert sorted(p.name for p in (tmp_path / "empty").rglob("*")) == before  # no empty report files
