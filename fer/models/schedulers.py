"""Learning-rate schedules that the phase switch can extend with a new parameter group mid-training."""

from __future__ import annotations

import math

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler


class WarmupCosine(LRScheduler):
    """Linear warm-up from `warmup_start` x lr over `warmup_epochs`, then cosine decay to `eta_min` at `max_epochs`.

    The warm-up never takes more than `max_warmup_fraction` of the run (rounded down), so that a short run is not
    spent at a reduced rate: with 0.1 (conf/model/scheduler/warmup_cosine.yaml), a 20-epoch run warms up for at
    most 2 epochs and a 6-epoch run not at all.

    Stepped per epoch. The factor depends on the epoch only and multiplies each group's `base_lrs` entry, so a
    group added later (phase 2 of the phase switch, which extends `base_lrs`) follows the same schedule from
    its own starting rate.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        max_epochs: int,
        warmup_epochs: int = 1,
        warmup_start: float = 0.1,
        eta_min: float = 0.0,
        max_warmup_fraction: float = 1.0,
        last_epoch: int = -1,
    ):
        self.max_epochs = max(int(max_epochs), 1)
        self.warmup_epochs = max(min(int(warmup_epochs), int(max_warmup_fraction * self.max_epochs)), 0)
        self.warmup_start, self.eta_min = float(warmup_start), float(eta_min)
        super().__init__(optimizer, last_epoch)

    def factor(self, epoch: int) -> float:
        """Where the rate stands at `epoch` between `eta_min` (0) and the group's base rate (1)."""
        if epoch < self.warmup_epochs:
            return self.warmup_start + (1 - self.warmup_start) * epoch / self.warmup_epochs
        span = max(self.max_epochs - self.warmup_epochs, 1)
        return 0.5 * (1 + math.cos(math.pi * min(epoch - self.warmup_epochs, span) / span))

    def get_lr(self) -> list[float]:
        f = self.factor(self.last_epoch)
        return [min(base, self.eta_min) + (base - min(base, self.eta_min)) * f for base in self.base_lrs]
