"""The paper's table in one command: a shrunken `python train.py experiment=paper_cross_db produce_missing=true`
(tiny synthetic data, one epoch, two variants, two backbones) builds the derived sources first and leaves
report.md in its sweep folder, also after a resumed sweep; a failed job is named in that report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from tests.conftest import ROOT
from tests.helpers.fake_runs import fake_predictions, write_run

SHRUNK = [
    "sources=synthetic",
    "++sources.kdef.synthetic_options={subjects:6,angles:[S],akdef:false}",
    "++sources.ckplus.synthetic_options={subjects:5,sequences_per_subject:2}",
    "++sources.jaffe.synthetic_options={subjects:5}",
    "backbone.input_size=32",
    "trainer=cpu",
    "trainer.max_epochs=1",
    "+trainer.limit_train_batches=2",
    "+trainer.limit_val_batches=1",
    "+trainer.limit_test_batches=1",
    "logger=none",
]


def _paper_sweep(root: Path) -> tuple[subprocess.CompletedProcess, float]:
    cmd = [
        sys.executable,
        str(ROOT / "train.py"),
        "experiment=paper_cross_db",
        "produce_missing=true",
        "data=kdef,kdef_ol",
        "backbone=resnet10t,mobilenetv3_small_050",
        "seed=1",
        *SHRUNK,
        f"hydra.sweep.dir={root / 'sweep'}",
    ]
    env = {**os.environ, "FER_ROOT": str(root), "HYDRA_FULL_ERROR": "0"}
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=900)
    return proc, time.perf_counter() - start


def test_shrunken_paper_sweep_leaves_its_report_without_another_command(tmp_path):
    first, seconds = _paper_sweep(tmp_path)
    out = first.stdout + first.stderr
    assert first.returncode == 0, out[-4000:]
    print(f"shrunken paper_cross_db sweep (4 jobs, 1 epoch each): {seconds:.0f} s wall time")
    sweep = tmp_path / "sweep"
    results = [json.loads(p.read_text()) for p in sweep.rglob("results.json")]
    assert sorted((r["variant"], r["backbone"]) for r in results) == [
        ("kdef", "mobilenetv3_small_050"),
        ("kdef", "resnet10t"),
        ("kdef_ol", "mobilenetv3_small_050"),
        ("kdef_ol", "resnet10t"),
    ]
    # The derived sources were built once, before the first job, for all four jobs.
    produce = out.index("produce_missing: derived sources for 4 job(s) of this sweep: 2 step(s) to build")
    assert produce < out.index("#0 :") and out.count("offline_aug kdef at 32 px gray, 5 copies:") == 1
    assert [line.split(" (")[0] for line in out.splitlines() if line.startswith("sweep: job")] == [
        f"sweep: job {i} of 4 done" for i in range(1, 5)
    ]
    report = (sweep / "report.md").read_text()
    assert "4 finished run(s) of 4 planned" in report and "Missing runs" not in report
    assert f"report written: {sweep / 'report.md'}" in out
    written = (sweep / "report.md").stat().st_mtime_ns

    again, _ = _paper_sweep(tmp_path)  # a resumed (here: finished) sweep writes its report again
    out = again.stdout + again.stderr
    assert again.returncode == 0, out[-4000:]
    assert "0 step(s) to build, 2 current" in out and out.count("finished earlier, skipping") == 4
    assert (sweep / "report.md").stat().st_mtime_ns > written


def test_a_failed_job_is_named_in_the_written_report(tmp_path, capsys):
    from hydra.core.utils import JobReturn, JobStatus
    from hydra.types import RunMode

    from fer.engine.hydra_callbacks import SweepSummary

    sweep = tmp_path / "sweep"
    sweep.mkdir()
    OmegaConf.save(
        {
            "hydra": {
                "runtime": {"choices": {"hydra/sweeper": "basic"}},
                "sweeper": {"params": {"seed": "1,2"}},
                "overrides": {"task": []},
                "job": {"config": {"override_dirname": {"exclude_keys": []}}},
            }
        },
        sweep / "multirun.yaml",
    )
    rng = np.random.default_rng(0)
    write_run(sweep, ["seed=1"], {"ckplus": fake_predictions(rng)})
    cb = SweepSummary(report="fer.reporting.report.report")
    cb.on_multirun_start(OmegaConf.create({"hydra": {"sweep": {"dir": str(sweep)}}}))
    (sweep / "seed=2").mkdir()
    job = {"mode": RunMode.MULTIRUN, "sweep": {"dir": str(sweep)}, "runtime": {"output_dir": str(sweep / "seed=2")}}
    failed = JobReturn(overrides=["seed=2"], status=JobStatus.FAILED)
    failed.return_value = ValueError("bad input")
    cb.on_job_end(OmegaConf.create({"hydra": job}), failed)
    cb.summary()  # what the sweep's end (or its exit, after a failure) calls
    err = capsys.readouterr().err
    report = (sweep / "report.md").read_text()
    assert "Missing runs (1 of 2 planned)" in report and "seed=2 (failed: ValueError: bad input" in report
    assert f"report written: {sweep / 'report.md'}" in err and "FAILED seed=2: ValueError: bad input" in err
