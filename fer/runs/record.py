"""Run records and sweep status: what a run leaves in its folder, and what a sweep folder holds.

- `results.json`: a finished run's `RunRecord` (with a schema version; files written before the version
  existed read as version 1).
- `failed.json`: the failure marker of a job that raised (written by the task wrapper, fer/engine/lifecycle.py).
- Run identity, defined here once: `IDENTITY` (the record fields, and the override keys that set them, that
  name a run's place in the tables: row, column, repetition) and `NOT_SETTINGS` (override keys that do not
  change what a run computes: where things are, how it is launched or logged). Sweep folders are named from
  the overrides minus `NOT_SETTINGS` (conf/hydra/default.yaml reads them through the `fer_not_settings`
  resolver); a rerun refuses a folder whose record has another identity (`check_same_run`); the report groups
  runs by everything else (`setting_overrides`).
"""

from __future__ import annotations

import dataclasses
import json
import traceback
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from fer.errors import UserError
from fer.runs.sweep import NOT_SETTINGS
from fer.utils.io import atomic_write_json

RESULTS = "results.json"
FAILED_MARKER = "failed.json"
SCHEMA_VERSION = 2  # 1: the files written before the version field existed (same fields)

# Record field -> the override key that sets it.
IDENTITY = {
    "task_name": "task_name",
    "variant": "data",
    "backbone": "backbone",
    "protocol": "protocol",
    "fold": "protocol.fold",
    "seed": "seed",
    "split_seed": "split_seed",
}
NOT_SETTING_PREFIXES = ("hydra.", "paths.", "logger.")


class RunFolderTakenError(UserError, RuntimeError):
    """A run folder holds the results of another configuration."""


def identity(cfg) -> dict:
    """A train.py configuration's identity, as its record stores it."""
    return {
        "task_name": cfg.get("task_name"),
        "variant": cfg.data.get("name"),
        "backbone": cfg.backbone.name,
        "protocol": cfg.protocol.name,
        "fold": cfg.protocol.fold if cfg.protocol.name == "kfold" else None,
        "seed": cfg.seed,
        "split_seed": cfg.split_seed,
    }


def setting_overrides(overrides: list[str]) -> frozenset[str]:
    """The overrides that are neither identity nor non-settings: runs differing here are different settings."""
    keys = set(IDENTITY.values()) | set(NOT_SETTINGS)
    out = set()
    for o in overrides or []:
        key = o.split("=", 1)[0].lstrip("+~")
        if key not in keys and not key.startswith(NOT_SETTING_PREFIXES):
            out.add(o)
    return frozenset(out)


@dataclass
class RunRecord:
    """One finished train.py run (`results.json`)."""

    task_name: str | None = None
    overrides: list[str] = field(default_factory=list)
    variant: str | None = None
    backbone: str | None = None
    protocol: str | None = None
    fold: int | None = None
    seed: int | None = None
    split_seed: int | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    tests: dict[str, dict] = field(default_factory=dict)
    calibration: dict = field(default_factory=dict)  # temperature scaling: {"temperature", "fitted_on", "val_images"}
    logit_adjustment: dict = field(default_factory=dict)  # model.logit_adjust: {"tau", "prior", "fitted_on", ...}
    skipped_tests: list[str] = field(default_factory=list)
    skipped_reasons: dict[str, str] = field(default_factory=dict)
    split: dict = field(default_factory=dict)
    gan_saw_test_subjects: bool | None = False
    gan: dict = field(default_factory=dict)
    synthetic_data: bool | None = None
    best_checkpoint: str | None = None
    epochs: int | None = None
    seconds: float | None = None  # this part of the run (the last one when it was resumed)
    seconds_total: float | None = None  # every part, interrupted ones included
    resumed: list[dict] = field(default_factory=list)  # one entry per resumption (fer.engine.resume)
    output_dir: str | None = None
    schema_version: int = SCHEMA_VERSION

    @classmethod
    def from_dict(cls, data: dict) -> RunRecord:
        """Reads every schema version; unknown keys (from a newer version) are ignored."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{"schema_version": 1, **{k: v for k, v in data.items() if k in names}})

    def to_dict(self) -> dict:
        """The record as plain JSON values, as `results.json` holds it."""
        return dataclasses.asdict(self)

    def identity(self) -> dict:
        """The IDENTITY fields (the run's place in the tables), comparable with `identity(cfg)`."""
        return {k: getattr(self, k) for k in IDENTITY}

    def save(self, run_dir: str | Path) -> Path:
        """Write `<run_dir>/results.json` atomically; returns its path."""
        path = Path(run_dir) / RESULTS
        atomic_write_json(path, self.to_dict())
        return path


def read_record(run_dir: str | Path) -> RunRecord | None:
    """The run folder's record; None when it has no `results.json` (unfinished)."""
    path = Path(run_dir) / RESULTS
    return RunRecord.from_dict(json.loads(path.read_text())) if path.is_file() else None


def check_same_run(record: RunRecord, cfg, folder: str | Path | None = None) -> None:
    """Refuse to skip (or resume) a run folder that holds another configuration's results: two experiments
    swept into one `hydra.sweep.dir` would otherwise share folders named from the same overrides. `folder`: the
    run folder (default: `cfg.paths.output_dir`)."""
    stored = record.identity()
    differ = {k: (stored[k], v) for k, v in identity(cfg).items() if stored[k] != v}
    if differ:
        raise RunFolderTakenError(
            f"{folder or cfg.paths.output_dir}/{RESULTS} belongs to another configuration "
            f"({', '.join(f'{k}: {a!r} there, {b!r} now' for k, (a, b) in differ.items())}); "
            f"use another hydra.sweep.dir (or run dir) for this experiment"
        )


# -------------------------------------------------------------------------------------------- failure marker
def write_failure(run_dir: str | Path, overrides: list[str], exc: BaseException | None) -> Path | None:
    """Mark a failed job's folder; a run refused because the folder holds another finished run leaves it as it
    was (None)."""
    if isinstance(exc, RunFolderTakenError):
        return None
    path = Path(run_dir) / FAILED_MARKER
    atomic_write_json(
        path,
        {
            "overrides": list(overrides or []),
            "error": f"{type(exc).__name__}: {exc}" if exc is not None else "failed (no exception recorded)",
            "traceback": "".join(traceback.format_exception(exc)) if exc is not None else "",
        },
    )
    return path


def clear_failure(run_dir: str | Path) -> None:
    """Remove the run folder's failure marker, if any."""
    (Path(run_dir) / FAILED_MARKER).unlink(missing_ok=True)


def read_failure(run_dir: str | Path) -> str | None:
    """The error a failed job recorded; None when the job left no failure marker."""
    path = Path(run_dir) / FAILED_MARKER
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text()).get("error", "")
    except ValueError:
        return "(unreadable failure marker)"


# ---------------------------------------------------------------------------------------------- sweep status
@dataclass
class LoadedRun:
    """A finished run of a sweep: its record and its folder."""

    record: RunRecord
    run_dir: Path


@dataclass
class Missing:
    """A planned job of a sweep without results: its overrides, folder, state and recorded error."""

    overrides: list[str]
    folder: str
    state: str  # failed | unfinished, resumable (from last.ckpt) | not started
    error: str = ""
    label: str = ""  # the job's swept overrides, e.g. `data=kdef_ol,seed=2`


@dataclass
class SweepStatus:
    """What a sweep folder holds: its finished runs, how many jobs were planned, the missing ones, and the
    `results.json` files that could not be read."""

    sweep_dir: Path
    runs: list[LoadedRun]
    planned: int | None  # None: the sweeper's jobs cannot be listed in advance (e.g. Optuna)
    missing: list[Missing] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)


def load_runs(sweep_dir: Path) -> tuple[list[LoadedRun], list[str]]:
    """Every `results.json` below `sweep_dir` as a LoadedRun, and `<path>: <error>` for each unreadable one."""
    runs, unreadable = [], []
    for path in sorted(sweep_dir.rglob(RESULTS)):
        try:
            runs.append(LoadedRun(RunRecord.from_dict(json.loads(path.read_text())), path.parent))
        except (OSError, ValueError, TypeError) as e:
            unreadable.append(f"{path}: {e}")
    return runs, unreadable


def planned_jobs(sweep_dir: Path) -> tuple[list[list[str]] | None, list[str]]:
    """The job overrides a basic-sweeper multirun planned (from `multirun.yaml`), and the keys kept out of
    folder names; (None, []) when the sweep folder has no plan or its sweeper decides jobs on the fly."""
    path = sweep_dir / "multirun.yaml"
    if not path.is_file():
        return None, []
    from omegaconf import OmegaConf

    from fer.runs.resolvers import register_resolvers
    from fer.runs.sweep import expand_sweep

    register_resolvers()  # the saved config names the sweep's excluded keys through ${fer_not_settings:}
    hydra_cfg = OmegaConf.load(path).hydra
    exclude = list(OmegaConf.select(hydra_cfg, "job.config.override_dirname.exclude_keys", default=[]) or [])
    if OmegaConf.select(hydra_cfg, "runtime.choices.hydra/sweeper", default=None) != "basic":
        return None, exclude
    params = hydra_cfg.sweeper.get("params")
    params = OmegaConf.to_container(params, resolve=False) if params is not None else {}
    args = [f"{k}={v}" for k, v in params.items()] + list(OmegaConf.to_container(hydra_cfg.overrides.task))
    return expand_sweep(args), exclude


def sweep_status(sweep_dir: str | Path) -> SweepStatus:
    """The sweep's finished runs and, when its jobs can be listed (basic sweeper), those without results: failed,
    resumable (a `last.ckpt`) or not started."""
    from fer.runs.sweep import job_folder

    sweep_dir = Path(sweep_dir)
    runs, unreadable = load_runs(sweep_dir)
    jobs, exclude = planned_jobs(sweep_dir)
    status = SweepStatus(sweep_dir, runs, None if jobs is None else len(jobs), unreadable=unreadable)
    if jobs is None:
        return status
    done = {frozenset(r.record.overrides) for r in runs}
    done_dirs = {r.run_dir.resolve() for r in runs}
    values: dict[str, set[str]] = defaultdict(set)
    for job in jobs:
        for o in job:
            values[o.split("=", 1)[0]].add(o)
    swept = {k for k, v in values.items() if len(v) > 1}
    for job in jobs:
        folder = job_folder(job, exclude)
        run_dir = sweep_dir / folder
        if frozenset(job) in done or run_dir.resolve() in done_dirs:
            continue
        error = read_failure(run_dir)
        if error is not None:
            state = "failed"
        else:
            error = ""
            state = "unfinished, resumable" if (run_dir / "checkpoints" / "last.ckpt").is_file() else "not started"
        label = ",".join(sorted(o for o in job if o.split("=", 1)[0] in swept)) or folder
        status.missing.append(Missing(job, folder, state, error, label))
    return status
