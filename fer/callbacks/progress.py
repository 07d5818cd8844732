"""Progress-bar redraw rate. Lightning's default bar redraws after every step; on CPU with small models that
redraw costs ~5-8% of training throughput (bench/bench_lightning_overhead.py). This callback only lowers the
rate of whichever bar the Trainer made, so `trainer.enable_progress_bar=false` keeps working."""

from __future__ import annotations

import logging

import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback

log = logging.getLogger(__name__)


class ProgressRefresh(Callback):
    def __init__(self, every: int = 10):
        self.every = int(every)

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        bar = trainer.progress_bar_callback
        if bar is None:
            return
        if hasattr(bar, "_refresh_rate"):  # Rich and TQDM bars keep their rate here (no public setter)
            bar._refresh_rate = self.every
        else:
            log.warning("%s has no refresh rate to set; progress redraw left as is", type(bar).__name__)
