"""One log line per epoch when standard output is not a terminal (a SLURM job, `nohup`, a CI log).

Lightning's rich progress bar draws only on a terminal, so a run whose output goes to a file would say nothing
between the start of training and its end. `ProgressLog` writes instead, after every training epoch (after its
validation, once the module has logged its epoch means):

    epoch 3/75 [frozen] train/loss=1.2345 val/acc=0.5120 val/f1=0.4301 lr=1e-04 img/s=312.4 eta=0:12:31

the phase from the phase switch (fer/callbacks/phase_switch.py), every epoch-level training loss (the GAN's
`train/g_loss` and `train/d_loss` too), validation accuracy and macro-F1, the learning rate of each parameter
group, training images per second and the time left for the run (mean epoch time x epochs left).
`build_trainer` (fer/engine/lifecycle.py) leaves the progress bar out when this callback is active.
"""

from __future__ import annotations

import logging
import sys
import time
from datetime import timedelta

import pytorch_lightning as pl
import torch

from fer.callbacks.phase_switch import PhaseSwitch

log = logging.getLogger(__name__)

WHEN = ("auto", "always", "never")


def format_eta(seconds: float) -> str:
    """Seconds as H:MM:SS (whole seconds)."""
    return str(timedelta(seconds=max(0, round(seconds))))


def batch_size(batch) -> int:
    """The number of images in a batch: the length of its first tensor ((x, y) or (x,))."""
    while isinstance(batch, list | tuple) and batch:
        batch = batch[0]
    return len(batch) if isinstance(batch, torch.Tensor) and batch.dim() else 0


class ProgressLog(pl.Callback):
    """Per-epoch log lines; `when`: auto (only when stdout is not a terminal), always, never."""

    def __init__(self, when: str = "auto") -> None:
        if when not in WHEN:
            raise ValueError(f"callbacks.progress_log.when={when!r}; expected one of {', '.join(WHEN)}")
        self.when = when
        self._seconds: list[float] = []
        self._images = 0
        self._epoch_start = 0.0
        self._pending: tuple | None = None  # the finished epoch whose line is not written yet

    @property
    def active(self) -> bool:
        """Whether this run logs epoch lines (and so draws no progress bar)."""
        return self.when == "always" or (self.when == "auto" and not sys.stdout.isatty())

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._flush(trainer)
        self._images, self._epoch_start = 0, time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        self._images += batch_size(batch)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Lightning calls this hook of callbacks before the module's own, which logs the epoch's training means
        # (train/loss, the GAN's losses): the line is written at the next epoch's start or at the end of training.
        if not self.active or not trainer.is_global_zero:
            return
        seconds = time.perf_counter() - self._epoch_start
        self._seconds.append(seconds)
        lrs = [g["lr"] for opt in trainer.optimizers for g in opt.param_groups]  # this epoch's, before a step
        self._pending = (trainer.current_epoch, seconds, self._images, lrs, self.phase(trainer))

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._flush(trainer)

    def _flush(self, trainer: pl.Trainer) -> None:
        if self._pending is not None:
            log.info(self.line(trainer, *self._pending))
            self._pending = None

    def line(self, trainer: pl.Trainer, epoch: int, seconds: float, images: int, lrs: list, phase: str | None) -> str:
        """The line of (0-based) `epoch` (see the module docstring)."""
        epoch, total = epoch + 1, trainer.max_epochs
        parts = [f"epoch {epoch}/{total if total and total > 0 else '?'}"]
        if phase:
            parts.append(f"[{phase}]")
        metrics = trainer.callback_metrics
        for key in sorted(metrics):
            if key.startswith("train/") and "loss" in key and not key.endswith("_step"):
                parts.append(f"{key.removesuffix('_epoch')}={float(metrics[key]):.4f}")
        for key in ("val/acc", "val/f1"):
            if key in metrics:
                parts.append(f"{key}={float(metrics[key]):.4f}")
        if lrs:
            parts.append("lr=" + ",".join(f"{lr:.0e}" for lr in lrs))
        parts.append(f"img/s={images / seconds:.1f}" if seconds > 0 else "img/s=?")
        if total and total > 0:
            mean = sum(self._seconds) / len(self._seconds)
            parts.append(f"eta={format_eta(mean * (total - epoch))}")
        return " ".join(parts)

    @staticmethod
    def phase(trainer: pl.Trainer) -> str | None:
        """frozen / unfrozen from the phase switch callback (None without one, e.g. the GAN)."""
        for cb in trainer.callbacks:
            if isinstance(cb, PhaseSwitch):
                return "frozen" if trainer.current_epoch < cb.unfreeze_at else "unfrozen"
        return None
