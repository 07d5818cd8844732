"""Log a report's tables (CSV) and charts (PNG) to a W&B run, when asked (`--wandb`) and wandb is installed.

Without credentials, set `WANDB_MODE=offline`: the run is written locally and `wandb sync` uploads it later."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def log_report(files: dict[str, Path], project: str, name: str, directory: Path) -> str | None:
    """One W&B run (job type `report`) holding each CSV as a table and each PNG as an image; returns its
    folder, or None when wandb is not installed."""
    try:
        import wandb
    except ImportError:
        log.warning("--wandb: wandb is not installed; the report was not logged")
        return None
    run = wandb.init(project=project, name=name, job_type="report", dir=str(directory))
    try:
        payload = {}
        for key, path in files.items():
            path = Path(path)
            if path.suffix == ".csv" and path.stat().st_size:
                with path.open(newline="") as fh:
                    rows = list(csv.reader(fh))
                if rows:
                    payload[key] = wandb.Table(columns=rows[0], data=rows[1:])
            elif path.suffix == ".png":
                payload[key] = wandb.Image(str(path))
        run.log(payload)
        return run.dir
    finally:
        run.finish()
