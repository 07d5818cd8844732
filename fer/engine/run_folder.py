"""Hydra callback that checks a job's folder before Hydra touches it.

Hydra makes the run (or sweep) folder, sets up its log file and writes `.hydra/` before the task, and so the
task wrapper's error handling, runs. Two mistakes would otherwise end in a traceback or in damage:

- a folder that cannot be made (a read-only file system, a parent that is a file, under `/proc`);
- `train.py` into a folder that holds a finished run of another configuration: refused before Hydra rewrites
  that run's `.hydra/` files or log, so the finished run stays exactly as it was.

Each is one `error: ...` line and exit status 2 (with HYDRA_FULL_ERROR=1 or FER_DEBUG=1, the exception).
Sweeps check their sweep folder; each job's own folder is checked by train.py (fer/runs/record.py).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from fer.errors import USER_ERROR_EXIT, UserError, show_tracebacks, user_error_message
from fer.runs.record import check_same_run, read_record
from fer.utils.io import make_folder


class RunFolderCheck(Callback):
    """Refuse a run folder that cannot be made, or that holds another configuration's finished run."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        _or_exit(_check_run, config)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        _or_exit(make_folder, str(config.hydra.sweep.dir), "hydra.sweep.dir")


def _check_run(config: DictConfig) -> None:
    folder = Path(str(config.hydra.run.dir))
    make_folder(folder, "hydra.run.dir")
    try:
        record = read_record(folder) if config.get("resume") and "backbone" in config else None
    except (OSError, ValueError):  # an unreadable results.json: train.py says what it is
        record = None
    if record is not None:  # what train.py refuses; here before Hydra writes into the finished run's folder
        check_same_run(record, config, folder)


def _or_exit(fn, *args) -> None:
    try:
        fn(*args)
    except UserError as e:
        if show_tracebacks():
            raise
        print(user_error_message(e), file=sys.stderr, flush=True)
        raise SystemExit(USER_ERROR_EXIT) from None
