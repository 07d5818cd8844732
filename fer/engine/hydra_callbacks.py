"""Hydra callback that makes a sweep visible: a line per finished job, the report and a list of the jobs without
results at the end.

As each job ends: `sweep: job 3 of 12 done (<job folder>): 3 done, 0 failed, 9 remaining, eta 0:21:05`, the time
left estimated from this sweep's jobs so far (counted in the process that runs the jobs: the basic launcher's).
At the end the report (`report`: a function's dotted path, called with the sweep folder; conf/hydra/default.yaml
names `fer.reporting.report.report`) is written into the sweep folder, also after a resumed sweep.

Hydra's launchers catch a job's exception and go on with the other jobs; the basic sweeper then re-raises the
first failure after the batch (so the exit code is non-zero) and never calls `on_multirun_end`. So the
summary is printed from `on_multirun_end` when the sweep returns, and otherwise at interpreter exit.
Failure markers (`failed.json`, fer/runs/record.py) are files in the job folders, written by the task wrapper
(fer/engine/lifecycle.py), so the summary also covers jobs run in other processes (joblib) or on other machines
(submitit, on a shared file system). A job that failed before its task ran (e.g. a config that does not
instantiate) gets its marker here.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import logging
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from fer.runs.record import FAILED_MARKER, clear_failure, planned_jobs, sweep_status, write_failure

log = logging.getLogger(__name__)
MAX_LISTED = 20


class SweepSummary(Callback):
    """Keeps each job's failure marker up to date, logs one line per finished job, and at the sweep's end (or at
    exit) prints its summary and writes its report (`report`: the dotted path of the report function)."""

    def __init__(self, report: str | None = None) -> None:
        self.report = report
        self.sweep_dir: Path | None = None
        self.printed = False
        self.started = time.time()
        self.ended = {JobStatus.COMPLETED: 0, JobStatus.FAILED: 0}
        self.planned: int | None = None

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self.sweep_dir = Path(str(config.hydra.sweep.dir))
        self.printed = False
        self.started = time.time()
        atexit.register(self.summary)

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        """Clear the job's failure marker when it completed; write one when it failed without leaving one."""
        out = Path(str(config.hydra.runtime.output_dir))
        if job_return.status == JobStatus.COMPLETED:
            clear_failure(out)  # a rerun finished it
        elif job_return.status == JobStatus.FAILED and not (out / FAILED_MARKER).is_file():
            write_failure(out, list(job_return.overrides or []), job_exception(job_return))
        if job_return.status in self.ended and OmegaConf.select(config, "hydra.mode") == RunMode.MULTIRUN:
            self.ended[job_return.status] += 1
            print(self.job_line(config, out.name, job_return.status), flush=True)

    def job_line(self, config: DictConfig, label: str, status: JobStatus) -> str:
        """`sweep: job 3 of 12 done (<job folder>): 3 done, 0 failed, 9 remaining, eta 0:21:05`."""
        if self.planned is None:  # multirun.yaml is written once the sweeper has listed the jobs
            jobs, _ = planned_jobs(Path(str(config.hydra.sweep.dir)))
            self.planned = len(jobs) if jobs is not None else -1
        done, failed = self.ended[JobStatus.COMPLETED], self.ended[JobStatus.FAILED]
        ended = done + failed
        what = "done" if status == JobStatus.COMPLETED else "FAILED"
        if self.planned < 0:  # e.g. an Optuna search: the number of trials is the sweeper's
            return f"sweep: job {ended} {what} ({label}): {done} done, {failed} failed"
        remaining = max(self.planned - ended, 0)
        eta = timedelta(seconds=round((time.time() - self.started) / ended * remaining))
        return (
            f"sweep: job {ended} of {self.planned} {what} ({label}): "
            f"{done} done, {failed} failed, {remaining} remaining, eta {eta}"
        )

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        self.summary()

    def summary(self) -> None:
        """Print finished / planned jobs and those without results (to stderr when some failed), once."""
        if self.printed or self.sweep_dir is None:
            return
        self.printed = True
        try:
            status = sweep_status(self.sweep_dir)
        except Exception as e:  # the summary must never hide the sweep's own outcome
            print(f"sweep summary unavailable: {e}", file=sys.stderr)
            return
        planned = f"{status.planned}" if status.planned is not None else "?"
        lines = [f"sweep {self.sweep_dir}: {len(status.runs)} finished of {planned} planned job(s)"]
        failed = [m for m in status.missing if m.state == "failed"]
        if status.missing:
            lines.append(f"{len(status.missing)} job(s) without results ({len(failed)} failed):")
            shown = sorted(status.missing, key=lambda m: m.state != "failed")[:MAX_LISTED]  # failures first
            for m in shown:
                err = m.error.strip().splitlines()[-1] if m.error.strip() else ""
                lines.append(
                    f"  FAILED {m.label}: {err}\n    {self.sweep_dir / m.folder}"
                    if m.state == "failed"
                    else f"  {m.state.upper()} {m.label}\n    {self.sweep_dir / m.folder}"
                )
            if len(status.missing) > len(shown):
                lines.append(
                    f"  ... and {len(status.missing) - len(shown)} more "
                    f"(all of them: python -m fer.report {self.sweep_dir})"
                )
            lines.append("rerun the same command (same hydra.sweep.dir) to resume them; finished jobs are skipped")
        written = self.write_report()
        if written:
            lines.append(f"report written: {written}")
        lines.append(f"report: python -m fer.report {self.sweep_dir}")
        print("\n".join(lines), file=sys.stderr if failed else sys.stdout, flush=True)

    def write_report(self) -> Path | None:
        """The report into the sweep folder (None without a `report` function or a finished run)."""
        if not self.report or self.sweep_dir is None or not any(self.sweep_dir.rglob("results.json")):
            return None
        try:
            from hydra.utils import get_method

            with contextlib.redirect_stdout(io.StringIO()):  # the tables are in the file; the log keeps its lines
                files = get_method(self.report)(self.sweep_dir)["files"]
        except Exception as e:  # the report must never hide the sweep's own outcome
            print(f"report not written: {type(e).__name__}: {e}", file=sys.stderr)
            return None
        return files["markdown"]


def job_exception(job_return: JobReturn) -> BaseException | None:
    """A failed job's exception: the public `return_value` re-raises it (and notes the failure on stderr, which
    Hydra does again when the sweep ends)."""
    try:
        with contextlib.redirect_stderr(io.StringIO()):
            job_return.return_value  # noqa: B018  (raises the job's exception)
    except Exception as e:
        return e
    return None
