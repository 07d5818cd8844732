"""An exponential moving average of the weights, used for validation, checkpoints and the test sets.

Built on Lightning's `WeightAveraging` (torch's `AveragedModel`): it keeps the average beside the model, swaps it
in for every validation epoch, saves it as the checkpoint's `state_dict` (the live weights go to
`current_model_state`, so a resumed fit continues both) and copies it into the model when training ends. It
averages every parameter and buffer, frozen or not, so the average follows the phase switch's unfreezing:
blocks that start training move their average from then on.
"""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import WeightAveraging
from pytorch_lightning.trainer.states import TrainerFn


class EMA(WeightAveraging):
    """EMA of the weights with a warm-up: the decay after n updates is min(decay, (1 + n) / (10 + n)).

    The warm-up (as timm's `ModelEmaV3`) lets the average leave the random initial weights within the first
    tens of steps: small face datasets train for a few hundred steps, where a plain 0.999 average would still
    be mostly the initialization.
    """

    def __init__(self, decay: float = 0.999, warmup: bool = True, every_n_steps: int = 1, **kwargs):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"callbacks.ema.decay={decay}: expected a value in (0, 1), e.g. 0.999")
        self.decay, self.warmup, self.every_n_steps = float(decay), bool(warmup), max(int(every_n_steps), 1)
        super().__init__(avg_fn=self._average, use_buffers=True, **kwargs)

    def _average(self, averaged: torch.Tensor, current: torch.Tensor, num_averaged: torch.Tensor) -> torch.Tensor:
        decay = self.decay
        if self.warmup:
            n = float(num_averaged)
            decay = min(decay, (1.0 + n) / (10.0 + n))
        return averaged + (current - averaged) * (1.0 - decay)

    def should_update(self, step_idx: int | None = None, epoch_idx: int | None = None) -> bool:
        """Update the average every `every_n_steps` optimizer steps (not at epoch ends)."""
        return step_idx is not None and step_idx % self.every_n_steps == 0

    def on_load_checkpoint(self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict) -> None:
        """Only when fitting restore the live weights too; otherwise the model keeps the checkpoint's average."""
        # The parent restores a checkpoint's live weights whenever it holds an average model, which after `fit`
        # includes `trainer.test(ckpt_path=best)`: the test sets would score the live weights, not the average
        # that validation chose. Outside fitting the checkpoint's `state_dict` (the average) stays.
        if trainer.state.fn == TrainerFn.FITTING:
            super().on_load_checkpoint(trainer, pl_module, checkpoint)
