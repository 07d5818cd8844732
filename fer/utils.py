"""Small utilities for the entry points: instantiation, loggers, W&B offline mode, atomic writes."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Callable
from functools import wraps
from pathlib import Path

import hydra
from omegaconf import DictConfig

log = logging.getLogger(__name__)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write to a temporary file beside `path` and rename it into place (never a half-written file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)


def atomic_write_json(path: str | Path, obj) -> None:
    atomic_write_text(path, json.dumps(obj, indent=1, default=str))


def instantiate_dict(cfg: DictConfig | None) -> list:
    """Instantiate every `_target_` entry of a config mapping (callbacks, loggers); skips empty entries."""
    return [hydra.utils.instantiate(c) for c in (cfg or {}).values() if c is not None and "_target_" in c]


def wandb_has_credentials() -> bool:
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


def finish_loggers(loggers: list) -> list[str]:
    """Close loggers (also after a failure, so a sweep goes on); returns lines telling where the logs are."""
    lines = []
    for lg in loggers:
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
        elif hasattr(lg, "log_dir"):
            lines.append(f"{type(lg).__name__.replace('Logger', '')} logs: {lg.log_dir}")
    return lines


def task_wrapper(fn: Callable) -> Callable:
    """Run a task; log a failure with its run folder and re-raise (Hydra's multirun goes on with other jobs)."""

    @wraps(fn)
    def wrapped(cfg: DictConfig):
        try:
            return fn(cfg)
        except Exception:
            out = cfg.get("paths", {}).get("output_dir", "?")
            log.exception("job failed; its run folder is %s", out)
            raise

    return wrapped
