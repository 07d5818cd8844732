"""A job's lifecycle (fer/engine/lifecycle.py): loggers closed also on failure, user errors as one message and exit
status 2 (single runs, multiruns, the plain CLIs), tracebacks kept for bugs and on request."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from omegaconf import OmegaConf

from fer.engine.lifecycle import USER_ERROR_EXIT, open_loggers, task_wrapper
from fer.errors import ConfigError, cli_main
from tests.conftest import ROOT, compose_cfg


def _cfg(tmp_path):
    return OmegaConf.create(
        {
            "paths": {"output_dir": str(tmp_path)},
            "logger": {"csv": {"_target_": "pytorch_lightning.loggers.CSVLogger", "save_dir": str(tmp_path)}},
        }
    )


def test_loggers_are_closed_when_a_task_fails_and_bugs_keep_their_exception(tmp_path):
    import fer.engine.lifecycle as lifecycle

    opened = []

    @task_wrapper
    def task(cfg):
        opened.extend(open_loggers(cfg))
        assert lifecycle._open_loggers == opened  # registered while the task runs
        raise RuntimeError("a bug")

    with pytest.raises(RuntimeError, match="a bug"):
        task(_cfg(tmp_path))
    assert len(opened) == 1 and lifecycle._open_loggers == []


def test_a_user_error_in_a_hydra_run_is_one_line_and_status_2_unless_debugging(tmp_path, capsys, monkeypatch):
    from hydra.core.hydra_config import HydraConfig

    @task_wrapper
    def task(cfg):
        raise ConfigError("model.lr=-1 must be positive")

    for name in ("HYDRA_FULL_ERROR", "FER_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError):  # outside a Hydra job the caller gets the exception
        task(_cfg(tmp_path))

    # Inside a single Hydra run (what @hydra.main sets up)
    hydra_cfg = compose_cfg([f"hydra.run.dir={tmp_path}"])
    hydra_cfg.hydra.runtime.output_dir = str(tmp_path)
    HydraConfig.instance().set_config(hydra_cfg)
    try:
        with pytest.raises(SystemExit) as exit_info:
            task(_cfg(tmp_path))
        assert exit_info.value.code == USER_ERROR_EXIT
        assert capsys.readouterr().err.strip() == "error: model.lr=-1 must be positive"
        assert "ConfigError: model.lr=-1" in json.loads((tmp_path / "failed.json").read_text())["error"]

        monkeypatch.setenv("FER_DEBUG", "1")
        with pytest.raises(ConfigError, match="must be positive"):  # the exception itself: its traceback shows
            task(_cfg(tmp_path))
    finally:
        HydraConfig.instance().cfg = None


def test_cli_main_exit_status(capsys, monkeypatch):
    monkeypatch.delenv("FER_DEBUG", raising=False)
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)

    def bad():
        raise ConfigError("--checkpoint x.ckpt: no such file")

    with pytest.raises(SystemExit) as exit_info:
        cli_main(bad)
    assert exit_info.value.code == 2 and capsys.readouterr().err == "error: --checkpoint x.ckpt: no such file\n"
    with pytest.raises(SystemExit) as exit_info:
        cli_main(lambda: 1)
    assert exit_info.value.code == 1


def _run(args, tmp_path, **env):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "ignore", **env}
    for name in ("HYDRA_FULL_ERROR", "FER_DEBUG"):
        env.pop(name, None)
    return subprocess.run([sys.executable, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)


def test_train_with_a_missing_dataset_root_says_so_without_a_traceback(tmp_path):
    proc = _run(
        [str(ROOT / "train.py"), "paths.kdef=/nonexistent", "sources=real", "logger=none", f"hydra.run.dir={tmp_path}"],
        tmp_path,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == USER_ERROR_EXIT, out[-3000:]
    assert "Traceback" not in out
    assert "error: " in proc.stderr and "/nonexistent" in proc.stderr and "paths.kdef" in proc.stderr


def test_a_sweep_of_failing_jobs_runs_them_all_and_lists_them_briefly(tmp_path):
    sweep = tmp_path / "sweep"
    proc = _run(
        [
            str(ROOT / "train.py"),
            "-m",
            "paths.kdef=/nonexistent",
            "sources=real",
            "logger=none",
            "seed=1,2",
            f"hydra.sweep.dir={sweep}",
        ],
        tmp_path,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "Traceback" not in out, out[-3000:]
    markers = sorted(sweep.glob("*/failed.json"))
    assert len(markers) == 2  # the second job ran after the first failed
    assert all("/nonexistent" in json.loads(m.read_text())["error"] for m in markers)
    assert "2 job(s) without results (2 failed)" in proc.stderr and "FAILED seed=2" in proc.stderr


def test_report_cli_on_a_missing_folder_is_one_message(tmp_path):
    proc = _run(["-m", "fer.report", str(tmp_path / "nowhere")], tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: sweep folder") and "nowhere" in proc.stderr
