"""Online augmentation on the device: kornia's batched transforms on the uint8 batches after transfer.

Each transform draws its own parameters per image (`same_on_batch=False`), from torch's global generator on
the CPU (kornia's default), so a seeded run draws the same augmentation on CPU and GPU and a resumed epoch
redraws the same ones. Transforms come from the config as `_target_`s (conf/augment/*.yaml) in the order
given; a null entry is switched off (`augment.pipeline.transforms.erasing=null`).

Training-only: the transforms' buffers (kornia keeps its parameter ranges as buffers, e.g. RandomGamma's
`gamma_factor`) are made non-persistent, so a checkpoint holds no state of the augmentation and the network
built for prediction or export, without it, loads every checkpoint of every recipe.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn


class OnlineAugment(nn.Module):
    """Apply named kornia augmentations, in order, to a (B, C, H, W) uint8 or 0..255 float batch.

    Returns a float batch on the same 0..255 scale (no rounding: normalization follows on the device).
    """

    def __init__(self, transforms: Mapping[str, nn.Module | None]):
        super().__init__()
        self.transforms = nn.ModuleDict({k: t for k, t in transforms.items() if t is not None})
        for module in self.transforms.modules():
            # The ranges are rebuilt from the config, never learned: keep them out of state_dict (and checkpoints).
            for name, buf in list(module.named_buffers(recurse=False)):
                delattr(module, name)
                module.register_buffer(name, buf, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not len(self.transforms):
            return x
        y = x.float() / 255.0
        for t in self.transforms.values():
            y = t(y)
        return (y.clamp_(0.0, 1.0) * 255.0).to(torch.float32)
