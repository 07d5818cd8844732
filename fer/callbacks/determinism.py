"""Exact resume: every training epoch's random numbers depend only on the run's seed and the epoch.

At the start of each training epoch:

- the global generators (Python's `random`, NumPy's, torch's), which draw the random flips and dropout, are
  reseeded from (seed, epoch);
- the train DataLoader's sampler gets its own generator seeded from (seed, epoch), for the order of the
  epoch's batches (it draws at the epoch's first batch, after this hook);
- the DataLoader gets its own generator too: creating the epoch's iterator draws a seed from it, which would
  otherwise come from torch's global generator, and Lightning creates that iterator after
  `on_train_epoch_start` in an uninterrupted run but before it in a resumed one.

`last.ckpt` is written at the end of each epoch, so a run killed at any instant replays the interrupted epoch
from its beginning with the same streams, and ends with the same weights as the uninterrupted run (on CPU; GPU
kernels may add their own nondeterminism unless `trainer.deterministic=true`). It assumes a train DataLoader
without worker processes (`data.num_workers=0`, the default: the crops live in memory), since persistent
workers keep their own generators across epochs.
"""

from __future__ import annotations

import random

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback
from torch.utils.data import DataLoader


def derived_seed(*keys: int) -> int:
    """A 32-bit seed for a tuple of integers, well mixed (neighbouring tuples give unrelated streams)."""
    return int(np.random.SeedSequence([int(k) & 0xFFFFFFFF for k in keys]).generate_state(1)[0])


def reseed(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also every CUDA device's generator


class EpochSeed(Callback):
    """Seed each training epoch's random streams (global generators, batch order) from (seed, epoch)."""

    def __init__(self, seed: int = 0):
        self.seed = int(seed)

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        epoch = trainer.current_epoch
        reseed(derived_seed(self.seed, epoch))
        loaders = trainer.train_dataloader
        for i, loader in enumerate(loaders if isinstance(loaders, (list, tuple)) else [loaders]):
            if isinstance(loader, DataLoader):
                loader.generator = torch.Generator().manual_seed(derived_seed(self.seed, epoch, i, 1))
            sampler = getattr(loader, "sampler", None)
            if hasattr(sampler, "generator"):  # RandomSampler, SubsetRandomSampler, WeightedRandomSampler
                sampler.generator = torch.Generator().manual_seed(derived_seed(self.seed, epoch, i, 2))
