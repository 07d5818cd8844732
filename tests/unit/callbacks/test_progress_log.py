"""Runs you can follow without a terminal: one line per epoch when stdout is a file, one line per finished
sweep job; the progress bar stays on a terminal."""

from __future__ import annotations

import atexit
import re
import subprocess
import sys

import pytest
from omegaconf import OmegaConf

from tests.conftest import ROOT, synthetic_overrides

EPOCH_LINE = re.compile(
    r"epoch (?P<epoch>\d+)/(?P<max>\d+) \[(?P<phase>frozen|unfrozen)\] train/loss=(?P<loss>[\d.]+) "
    r"val/acc=(?P<acc>[\d.]+) val/f1=(?P<f1>[\d.]+) lr=(?P<lr>[\d.e+-]+(,[\d.e+-]+)*) img/s=(?P<ips>[\d.]+) "
    r"eta=(?P<eta>\d+:\d\d:\d\d)$"
)


def test_a_run_writing_to_a_file_logs_one_line_per_epoch(tmp_path, synthetic_dir):
    log_file = tmp_path / "run.log"
    cmd = [
        sys.executable,
        str(ROOT / "train.py"),
        "experiment=demo",
        "logger=none",
        *synthetic_overrides(synthetic_dir),
        f"paths.cache_dir={tmp_path / 'cache'}",
        f"hydra.run.dir={tmp_path / 'run'}",
        "backbone.input_size=32",
        "trainer.max_epochs=3",
        "callbacks.phase_switch.unfreeze_at=2",
        "+trainer.limit_train_batches=2",
        "+trainer.limit_val_batches=1",
        "+trainer.limit_test_batches=1",
    ]
    with log_file.open("w") as out:  # stdout is a file, as under SLURM or nohup
        proc = subprocess.run(cmd, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT, timeout=600)
    text = log_file.read_text()
    assert proc.returncode == 0, text[-3000:]
    lines = [m for line in text.splitlines() if (m := EPOCH_LINE.search(line))]
    assert [(int(m["epoch"]), int(m["max"])) for m in lines] == [(1, 3), (2, 3), (3, 3)], text[-3000:]
    assert [m["phase"] for m in lines] == ["frozen", "frozen", "unfrozen"]  # unfreeze_at=2: the third epoch
    assert len(lines[2]["lr"].split(",")) == 2 and len(lines[0]["lr"].split(",")) == 1  # the trunk's group joins
    assert all(0 <= float(m["acc"]) <= 1 and 0 <= float(m["f1"]) <= 1 and float(m["ips"]) > 0 for m in lines)
    assert lines[-1]["eta"] == "0:00:00" and float(lines[0]["loss"]) > 0
    assert not re.search(r"Epoch \d+/\d+", text)  # no progress bar (rich's "Epoch 0/2 ━━━ ...") in the file


def test_on_a_terminal_the_progress_bar_stays(monkeypatch):
    from pytorch_lightning.callbacks import RichProgressBar

    from fer.callbacks.progress_log import ProgressLog
    from fer.engine.lifecycle import build_trainer

    cfg = OmegaConf.create({"_target_": "pytorch_lightning.Trainer", "max_epochs": 1})
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    trainer = build_trainer(cfg, [RichProgressBar(), ProgressLog()], [])
    assert any(isinstance(c, RichProgressBar) for c in trainer.callbacks)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False)
    trainer = build_trainer(cfg, [RichProgressBar(), ProgressLog()], [])
    assert not any(isinstance(c, RichProgressBar) for c in trainer.callbacks)
    assert ProgressLog(when="always").active and not ProgressLog(when="never").active
    with pytest.raises(ValueError, match="when"):
        ProgressLog(when="sometimes")


def test_a_sweep_logs_one_line_per_finished_job(tmp_path, capsys):
    from hydra.core.utils import JobReturn, JobStatus
    from hydra.types import RunMode

    from fer.engine.hydra_callbacks import SweepSummary

    sweep = tmp_path / "sweep"
    sweep.mkdir()
    OmegaConf.save(
        {
            "hydra": {
                "runtime": {"choices": {"hydra/sweeper": "basic"}},
                "sweeper": {"params": {"seed": "1,2,3"}},
                "overrides": {"task": []},
                "job": {"config": {"override_dirname": {"exclude_keys": []}}},
            }
        },
        sweep / "multirun.yaml",
    )
    cb = SweepSummary()
    cb.on_multirun_start(OmegaConf.create({"hydra": {"sweep": {"dir": str(sweep)}}}))
    lines = []
    for seed, status in [(1, JobStatus.COMPLETED), (2, JobStatus.FAILED), (3, JobStatus.COMPLETED)]:
        (sweep / f"seed={seed}").mkdir()
        job = OmegaConf.create(
            {
                "hydra": {
                    "mode": RunMode.MULTIRUN,
                    "sweep": {"dir": str(sweep)},
                    "runtime": {"output_dir": str(sweep / f"seed={seed}")},
                }
            }
        )
        ret = JobReturn(overrides=[f"seed={seed}"], status=status)
        ret.return_value = 0.5 if status == JobStatus.COMPLETED else ValueError("bad")
        cb.on_job_end(job, ret)
        lines += [line for line in capsys.readouterr().out.splitlines() if line.startswith("sweep: job")]
    assert [re.sub(r"eta \S+", "eta T", line) for line in lines] == [
        "sweep: job 1 of 3 done (seed=1): 1 done, 0 failed, 2 remaining, eta T",
        "sweep: job 2 of 3 FAILED (seed=2): 1 done, 1 failed, 1 remaining, eta T",
        "sweep: job 3 of 3 done (seed=3): 2 done, 1 failed, 0 remaining, eta T",
    ]
    assert lines[-1].endswith("eta 0:00:00")
    single = OmegaConf.create({"hydra": {"mode": RunMode.RUN, "runtime": {"output_dir": str(tmp_path / "one")}}})
    ret = JobReturn(overrides=[], status=JobStatus.COMPLETED)
    ret.return_value = 0.5
    cb.on_job_end(single, ret)
    assert "sweep: job" not in capsys.readouterr().out  # a single run is not a sweep
    atexit.unregister(cb.summary)  # this sweep ends with the test: no summary when the test process exits
