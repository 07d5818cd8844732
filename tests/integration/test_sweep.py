"""Real multiruns (`python train.py -m ...`) of the demo into tmp_path: a job failing midway does not stop the
others and is listed; rerunning the same sweep resumes it from last.ckpt and skips the finished one, so every
epoch of every job trains exactly once; `python -m fer.report` then prints the CK+ / JAFFE table."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import pytorch_lightning as pl

from tests.conftest import render_synthetic, synthetic_option_overrides

ROOT = Path(__file__).resolve().parents[2]
FAIL_ENV = "FER_TEST_FAIL_OVERRIDE"


class FitProbe(pl.Callback):
    """Test-only callback: logs each fit start and trained epoch to `<run dir>/fit_log.txt`, and fails the job
    that has the override $FER_TEST_FAIL_OVERRIDE as its second epoch starts (epoch 0's last.ckpt is saved)."""

    def _log(self, trainer, line: str) -> None:
        with open(Path(trainer.default_root_dir) / "fit_log.txt", "a") as fh:
            fh.write(line + "\n")

    def on_train_start(self, trainer, pl_module) -> None:
        self._log(trainer, f"start {trainer.current_epoch}")

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        from hydra.core.hydra_config import HydraConfig

        fail = os.environ.get(FAIL_ENV)
        if fail and fail in HydraConfig.get().overrides.task and trainer.current_epoch == 1:
            raise RuntimeError("injected failure in the middle of training")
        self._log(trainer, f"epoch {trainer.current_epoch}")


# The smallest synthetic trees that still give every split side subjects; the jobs render with the same
# options, so they find these trees already rendered.
TINY = {
    "kdef": {"subjects": 6, "angles": ["S"], "akdef": False},
    "ckplus": {"subjects": 5, "sequences_per_subject": 2},
    "jaffe": {"subjects": 5},
}


@pytest.fixture(scope="module")
def tiny_synthetic(tmp_path_factory) -> Path:
    return render_synthetic(tmp_path_factory.mktemp("tiny_synthetic"), TINY)


def _tiny_overrides() -> list[str]:
    return synthetic_option_overrides(TINY)


def _sweep(sweep_dir: Path, synthetic_dir: Path, cache: Path, fail: str | None = None):
    # The outside scripts' form (`-m experiment=demo seed=1,2 logger=none hydra.sweep.dir=<dir>`), shrunk.
    cmd = [
        sys.executable,
        "train.py",
        "-m",
        "experiment=demo",
        "seed=1,2",
        "logger=none",
        f"hydra.sweep.dir={sweep_dir}",
        f"paths.synthetic_dir={synthetic_dir}",
        f"paths.cache_dir={cache}",
        "backbone.input_size=32",
        "trainer.max_epochs=2",
        "callbacks.phase_switch.unfreeze_at=1",
        "+trainer.limit_train_batches=2",
        "+trainer.limit_val_batches=1",
        "+trainer.limit_test_batches=1",
        "+trainer.enable_progress_bar=false",
        "+callbacks.fit_probe._target_=tests.integration.test_sweep.FitProbe",
        *_tiny_overrides(),
    ]
    env = {**os.environ, "HYDRA_FULL_ERROR": "0"}
    env.pop(FAIL_ENV, None)
    if fail:
        env[FAIL_ENV] = fail
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def _job_dirs(sweep_dir: Path) -> dict[int, Path]:
    """Job folders by seed (the names are shortened with a digest: read each job's saved overrides)."""
    from omegaconf import OmegaConf

    dirs = {}
    for overrides in sweep_dir.glob("*/.hydra/overrides.yaml"):
        seed = next(o for o in OmegaConf.load(overrides) if o.startswith("seed="))
        dirs[int(seed.split("=")[1])] = overrides.parent.parent
    return dirs


def test_interrupted_sweep_resumes_each_job_once_and_reports(tmp_path, tiny_synthetic):
    sweep, cache, synthetic_dir = tmp_path / "sweep", tmp_path / "cache", tiny_synthetic

    first = _sweep(sweep, synthetic_dir, cache, fail="seed=1")
    log = first.stdout + first.stderr
    assert first.returncode != 0, log  # a failed job makes the sweep fail ...
    jobs = _job_dirs(sweep)
    assert sorted(jobs) == [1, 2], log
    assert "experiment" not in jobs[1].name and "logger" not in jobs[1].name and "/" not in jobs[1].name
    assert (jobs[2] / "results.json").is_file(), log  # ... but the job after it still ran
    assert not (jobs[1] / "results.json").exists() and (jobs[1] / "checkpoints" / "last.ckpt").is_file()
    marker = json.loads((jobs[1] / "failed.json").read_text())
    assert "injected failure" in marker["error"]
    assert (
        f"FAILED seed=1: RuntimeError: injected failure in the middle of training\n    {jobs[1]}" in log
    )  # listed at the end
    assert log.rstrip().endswith(f"report: python -m fer.report {sweep}"), log[-2000:]

    partial = subprocess.run([sys.executable, "-m", "fer.report", str(sweep)], cwd=ROOT, capture_output=True, text=True)
    assert partial.returncode == 0, partial.stderr
    assert (
        "Missing runs (1 of 2 planned)" in partial.stdout
        and "- seed=1 (failed: RuntimeError: injected" in partial.stdout
    )

    second = _sweep(sweep, synthetic_dir, cache)
    assert second.returncode == 0, second.stdout + second.stderr
    assert (jobs[1] / "results.json").is_file() and not (jobs[1] / "failed.json").exists()
    # Every epoch of every job trained exactly once: seed 1 resumed at epoch 1, seed 2 was skipped.
    assert (jobs[1] / "fit_log.txt").read_text().split("\n")[:-1] == ["start 0", "epoch 0", "start 1", "epoch 1"]
    assert (jobs[2] / "fit_log.txt").read_text().split("\n")[:-1] == ["start 0", "epoch 0", "epoch 1"]
    for seed, d in jobs.items():
        res = json.loads((d / "results.json").read_text())
        assert res["seed"] == seed and res["split_seed"] == 0 and res["synthetic_data"] is True
        assert set(res["tests"]) == {"ckplus", "jaffe"} and res["gan_saw_test_subjects"] is False
        assert f"seed={seed}" in res["overrides"] and "experiment=demo" in res["overrides"]
        split = json.loads((d / "split.json").read_text())
        assert split["digest"] == res["split"]["digest"] and set(split["subjects"]) == {
            "train",
            "val",
            "test:ckplus",
            "test:jaffe",
        }
    # The same split seed gives the same split for both training seeds.
    assert len({json.loads((d / "split.json").read_text())["digest"] for d in jobs.values()}) == 1

    final = subprocess.run([sys.executable, "-m", "fer.report", str(sweep)], cwd=ROOT, capture_output=True, text=True)
    assert final.returncode == 0, final.stderr
    assert "CK+" in final.stdout and "JAFFE" in final.stdout and "Missing runs" not in final.stdout
    rows = {r["test_set"]: r for r in csv.DictReader((sweep / "report.csv").open())}
    assert set(rows) == {"CK+", "JAFFE"}
    for r in rows.values():
        accs = [
            json.loads((d / "results.json").read_text())["tests"]["ckplus" if r["test_set"] == "CK+" else "jaffe"][
                "acc"
            ]
            for d in jobs.values()
        ]
        assert r["n"] == "2" and r["seeds"] == "1 2" and float(r["mean"]) == pytest_approx(50 * sum(accs))
    assert (sweep / "report.png").is_file() and (sweep / "report_per_class.csv").is_file()


def pytest_approx(v):
    import pytest

    return pytest.approx(v, abs=1e-3)


def test_job_folder_names_are_safe_bounded_and_distinct():
    from fer.runs.sweep import MAX_DIRNAME, job_dirname

    assert job_dirname("data=kdef,seed=1") == "data=kdef,seed=1"
    assert "/" not in job_dirname("paths.gan_q=/data/gan/fold1,seed=1")
    long_a, long_b = "x" * 300 + ",seed=1", "x" * 300 + ",seed=2"
    assert len(job_dirname(long_a).encode()) <= MAX_DIRNAME and job_dirname(long_a) != job_dirname(long_b)
    assert job_dirname(long_a) == job_dirname(long_a)


def test_launcher_search_and_callback_configs_compose():
    from tests.conftest import compose_cfg

    assert compose_cfg(["hydra/launcher=local"]).hydra.launcher._target_.endswith("JoblibLauncher")
    slurm = compose_cfg(["hydra/launcher=slurm"]).hydra.launcher
    assert slurm._target_.endswith("SlurmLauncher") and slurm.max_num_timeout > 0 and slurm.gpus_per_node == 1
    cfg = compose_cfg(["callbacks=early_stopping"])
    assert cfg.callbacks.early_stopping.monitor == "val/acc" and "model_checkpoint" in cfg.callbacks
    assert cfg.callbacks.early_stopping.patience > cfg.callbacks.phase_switch.unfreeze_at
    cfg = compose_cfg(["hydra/launcher=local"])
    assert cfg.hydra.callbacks.sweep_summary._target_ == "fer.engine.hydra_callbacks.SweepSummary"
    assert {"experiment", "logger", "paths.synthetic_dir"} <= set(cfg.hydra.job.config.override_dirname.exclude_keys)


def test_per_fold_gan_roots_follow_the_fold():
    from tests.conftest import compose_cfg

    cfg = compose_cfg(["experiment=paper_kfold", "protocol.fold=3", "paths.gan_q=/data/gan_q/fold${protocol.fold}"])
    assert cfg.sources.gan_q.root == "/data/gan_q/fold3"


def test_a_finished_run_is_skipped_only_when_it_is_the_same_configuration(tmp_path):
    from omegaconf import open_dict

    from tests.conftest import compose_cfg
    from train import train

    cfg = compose_cfg(["experiment=demo", "logger=none", "seed=2"])
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path)
    same = {
        "task_name": "demo",
        "variant": "kdef",
        "backbone": "resnet10t",
        "protocol": "cross_db",
        "fold": None,
        "seed": 2,
        "split_seed": 0,
        "metrics": {"val/acc": 0.5},
    }
    (tmp_path / "results.json").write_text(json.dumps(same))
    assert train(cfg)["metrics"] == {"val/acc": 0.5}  # skipped: nothing trains, the stored results come back
    (tmp_path / "results.json").write_text(json.dumps({**same, "task_name": "paper_cross_db", "backbone": "vgg16"}))
    with pytest.raises(
        RuntimeError, match="belongs to another configuration.*backbone: 'vgg16' there, 'resnet10t' now"
    ):
        train(cfg)


def test_sweep_summary_marks_failures_and_lists_them(tmp_path, capsys):
    from hydra.core.utils import JobReturn, JobStatus
    from omegaconf import OmegaConf

    from fer.engine.hydra_callbacks import MAX_LISTED, SweepSummary

    sweep = tmp_path / "sweep"
    seeds = range(1, MAX_LISTED + 6)
    sweep.mkdir()
    OmegaConf.save(
        OmegaConf.create(
            {
                "hydra": {
                    "runtime": {"choices": {"hydra/sweeper": "basic"}},
                    "sweeper": {
                        "params": {"seed": ",".join(map(str, seeds))},
                    },
                    "overrides": {"task": ["experiment=demo"]},
                    "job": {"config": {"override_dirname": {"exclude_keys": ["experiment"]}}},
                }
            }
        ),
        sweep / "multirun.yaml",
    )
    cb = SweepSummary()
    cb.on_multirun_start(OmegaConf.create({"hydra": {"sweep": {"dir": str(sweep)}}}))
    job = OmegaConf.create({"hydra": {"runtime": {"output_dir": str(sweep / "seed=3")}}})
    (sweep / "seed=3").mkdir()
    failed = JobReturn(overrides=["experiment=demo", "seed=3"], status=JobStatus.FAILED)
    failed.return_value = ValueError("bad input")
    cb.on_job_end(job, failed)
    assert json.loads((sweep / "seed=3" / "failed.json").read_text())["error"] == "ValueError: bad input"
    cb.summary()
    err = capsys.readouterr().err
    assert f"0 finished of {len(seeds)} planned" in err and "(1 failed)" in err
    assert err.index("FAILED seed=3: ValueError: bad input") < err.index("NOT STARTED seed=1")  # failures first
    assert f"... and {len(seeds) - MAX_LISTED} more" in err
    cb.summary()
    assert capsys.readouterr().err == ""  # printed once (on_multirun_end or at exit, not both)
    done = JobReturn(overrides=["experiment=demo", "seed=3"], status=JobStatus.COMPLETED)
    done.return_value = 0.5
    cb.on_job_end(job, done)
    assert not (sweep / "seed=3" / "failed.json").exists()  # a rerun that finishes clears the marker


def test_kfold_run_end_to_end_on_the_union(tmp_path, tiny_synthetic):
    from omegaconf import open_dict

    from fer.reporting.report import report
    from tests.conftest import compose_cfg
    from train import train

    cfg = compose_cfg(
        [
            "experiment=demo",
            "logger=none",
            "protocol=kfold",
            "protocol.fold=1",
            f"paths.synthetic_dir={tiny_synthetic}",
            f"paths.cache_dir={tmp_path / 'cache'}",
            "backbone.input_size=32",
            "trainer.max_epochs=1",
            "+trainer.limit_train_batches=1",
            "+trainer.limit_val_batches=1",
            "+trainer.enable_progress_bar=false",
            *_tiny_overrides(),
        ]
    )
    with open_dict(cfg):
        cfg.paths.output_dir = cfg.hydra.runtime.output_dir = str(tmp_path / "runs" / "fold1")
    res = train(cfg)
    assert res["protocol"] == "kfold" and res["fold"] == 1 and set(res["tests"]) == {"fold1"}
    assert res["skipped_tests"] == [] and res["gan_saw_test_subjects"] is False
    split = json.loads((tmp_path / "runs" / "fold1" / "split.json").read_text())["subjects"]
    test = set(split["test:fold1"])
    assert {s.split(":")[0] for s in test} == {"kdef", "ckplus", "jaffe"}  # folds drawn from the union
    assert (
        not test & set(split["train"]) and not test & set(split["val"]) and not set(split["val"]) & set(split["train"])
    )
    (row,) = report(tmp_path / "runs")["rows"]
    assert row["test_name"] == "k-fold" and row["folds"] == [1] and row["n"] == 1
