"""A job's lifecycle in one place: loggers opened and closed, trainer built, timing, the failure marker, and
user errors turned into one clear message and a non-zero exit.

- `task_wrapper` wraps a task function (`train(cfg)`, `generate(cfg)`): it times the task, closes every logger
  the task opened with `open_loggers` (also when it fails, so a sweep goes on), writes the job's failure
  marker (`failed.json`, fer/runs/record.py) or clears a stale one, and handles a `UserError`:
  - a single run prints `error: <message>` on stderr and exits with status 2, without a traceback;
  - in a multirun the job fails with the same short message (Hydra goes on with the other jobs, and the sweep
    ends with the list of failures and a non-zero exit, fer/engine/hydra_callbacks.py).
  Any other exception is a bug and keeps its traceback. `HYDRA_FULL_ERROR=1` or `FER_DEBUG=1` shows the
  traceback of user errors too; outside a Hydra job (tests, notebooks) the exception reaches the caller.
`fer.errors.cli_main` does the same for the plain command-line tools (`python -m fer.data`, `fer.deploy.predict`,
`fer.reporting.report`).
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import hydra
from hydra.errors import CompactHydraException
from omegaconf import DictConfig, OmegaConf

from fer.errors import USER_ERROR_EXIT, UserError, show_tracebacks, user_error_message
from fer.runs.record import clear_failure, write_failure

log = logging.getLogger(__name__)

_open_loggers: list = []  # the loggers the running task opened and has not closed yet


# ------------------------------------------------------------------------------------------------- loggers
def wandb_has_credentials() -> bool:
    """Whether W&B can log in: WANDB_API_KEY is set or the netrc file has an api.wandb.ai entry."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    netrc = Path(os.environ.get("NETRC", Path.home() / ".netrc"))
    return netrc.is_file() and "api.wandb.ai" in netrc.read_text(errors="ignore")


def prepare_wandb(cfg: DictConfig) -> None:
    """Without credentials (or with WANDB_MODE=offline) W&B logs offline; the run folder can be synced later."""
    if "wandb" in (cfg.get("logger") or {}) and (
        not wandb_has_credentials() or os.environ.get("WANDB_MODE") == "offline"
    ):
        cfg.logger.wandb.offline = True
        os.environ.setdefault("WANDB_SILENT", "true")


def open_loggers(cfg: DictConfig, **overrides) -> list:
    """The `logger` group's loggers (empty entries skipped). `overrides` replace keys a logger's config has
    (e.g. `name`). They are closed by `close_loggers`, at the latest when the task ends."""
    prepare_wandb(cfg)
    loggers = []
    for lg_cfg in (cfg.get("logger") or {}).values():
        if lg_cfg is not None and "_target_" in lg_cfg:
            loggers.append(hydra.utils.instantiate(lg_cfg, **{k: v for k, v in overrides.items() if k in lg_cfg}))
    _open_loggers.extend(loggers)
    return loggers


def close_loggers(loggers: list | None = None) -> list[str]:
    """Close `loggers` (default: every logger still open); returns lines telling where the logs are."""
    loggers = list(_open_loggers if loggers is None else loggers)
    lines = []
    for lg in loggers:
        if lg in _open_loggers:
            _open_loggers.remove(lg)
        if type(lg).__name__ == "WandbLogger":
            import wandb

            run = wandb.run
            if run is not None:
                offline = run.settings.mode == "offline" if hasattr(run.settings, "mode") else False
                run_dir = Path(run.dir).parent
                wandb.finish()
                lines.append(
                    f"W&B run folder: {run_dir}"
                    + (f"  (offline; upload with: wandb sync {run_dir})" if offline else "")
                )
        elif getattr(lg, "log_dir", None):  # finalized by the Trainer
            lines.append(f"{type(lg).__name__.replace('Logger', '')} logs: {lg.log_dir}")
    return lines


# ------------------------------------------------------------------------------------------------- trainer
def instantiate_dict(cfg: DictConfig | None) -> list:
    """Instantiate every `_target_` entry of a config mapping (callbacks, loggers); skips empty entries."""
    return [hydra.utils.instantiate(c) for c in (cfg or {}).values() if c is not None and "_target_" in c]


def build_trainer(trainer_cfg: DictConfig, callbacks: list, loggers: list, **kwargs):
    """The `trainer` group's Trainer with these callbacks and loggers. A progress bar from the `callbacks`
    group (Lightning's RichProgressBar with a lower refresh rate) is left out when the trainer's
    `enable_progress_bar` is false, which Lightning would otherwise refuse, and when an active `ProgressLog`
    writes epoch lines instead (standard output is not a terminal)."""
    from pytorch_lightning.callbacks import ProgressBar

    from fer.callbacks.progress_log import ProgressLog

    if any(isinstance(c, ProgressLog) and c.active for c in callbacks):
        kwargs["enable_progress_bar"] = False
    if not kwargs.get("enable_progress_bar", trainer_cfg.get("enable_progress_bar", True)):
        callbacks = [c for c in callbacks if not isinstance(c, ProgressBar)]
    return hydra.utils.instantiate(trainer_cfg, callbacks=callbacks, logger=loggers or False, **kwargs)


# -------------------------------------------------------------------------------------------------- errors
class JobFailed(CompactHydraException):
    """A multirun job's user error: Hydra reports it as its message alone (no traceback)."""


def task_wrapper(fn: Callable) -> Callable:
    """Run a task with its lifecycle (see the module docstring)."""

    @functools.wraps(fn)
    def wrapped(cfg: DictConfig):
        start = time.time()
        job = hydra_job()
        try:
            result = fn(cfg)
        except BaseException as e:  # also KeyboardInterrupt: the loggers are closed, the job stays resumable
            for line in close_loggers():
                log.info(line)
            if not isinstance(e, Exception):
                raise
            out = (
                job["output_dir"]
                if job
                else OmegaConf.select(cfg, "paths.output_dir", default="?", throw_on_resolution_failure=False)
            )
            log.error("job failed after %.1f s; its run folder is %s", time.time() - start, out)
            if job is not None:
                write_failure(job["output_dir"], job["overrides"], e)
            if job is None or not isinstance(e, UserError) or show_tracebacks():
                raise  # bugs, debugging, and callers outside Hydra (tests, notebooks) get the exception
            if job["multirun"]:
                raise JobFailed(user_error_message(e)) from None  # Hydra goes on with the other jobs
            print(user_error_message(e), file=sys.stderr, flush=True)
            raise SystemExit(USER_ERROR_EXIT) from None
        for line in close_loggers():
            print(line, flush=True)
        if job is not None:
            clear_failure(job["output_dir"])
        log.info("finished in %.1f s", time.time() - start)
        return result

    return wrapped


def hydra_job() -> dict | None:
    """The running Hydra job's folder, overrides and mode; None outside `@hydra.main` (tests, notebooks)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return None
    hc = HydraConfig.get()
    return {
        "output_dir": hc.runtime.output_dir,
        "overrides": list(hc.overrides.task),
        "multirun": hc.mode == RunMode.MULTIRUN,
    }
