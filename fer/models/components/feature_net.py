"""An ImageNet feature network for sample-quality metrics (KID, precision/recall), from local weights only.

The weights come from `checkpoint_path` when given, else from the Hugging Face cache that timm fills on a machine
with network access (`timm.create_model(name, pretrained=True)` once). Nothing is downloaded here: without local
weights the caller falls back to another feature network and says so.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import timm
import torch
import torch.nn.functional as F
from huggingface_hub import try_to_load_from_cache
from torch import nn

from fer.models.components.backbone import create_trunk

WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")


def cached_weights(name: str) -> Path | None:
    """The file of timm model `name`'s pretrained weights in the local Hugging Face cache, if it is there."""
    repo = timm.models.get_pretrained_cfg(name).hf_hub_id
    for filename in WEIGHT_FILES if repo else ():
        found = try_to_load_from_cache(repo, filename)
        if isinstance(found, str):
            return Path(found)
    return None


class ImageNetFeatures(nn.Module):
    """uint8 (N, H, W, C) grey or RGB faces -> the pooled features of an ImageNet-trained timm network, at its
    native input size and normalisation (grey replicated to three channels)."""

    def __init__(self, trunk: nn.Module, description: str):
        super().__init__()
        self.trunk = trunk.eval()
        self.description = description
        config = timm.data.resolve_model_data_config(trunk)
        self.size = tuple(config["input_size"][1:])
        self.register_buffer("mean", torch.tensor(config["mean"]).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(config["std"]).view(1, 3, 1, 1))

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images.permute(0, 3, 1, 2).float().div(255)
        x = x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
        x = F.interpolate(x, size=self.size, mode="bilinear", antialias=True, align_corners=False)
        return self.trunk((x - self.mean) / self.std).flatten(1)

    @torch.no_grad()
    def embed(self, images: np.ndarray, batch_size: int, device: torch.device) -> torch.Tensor:
        """Features of uint8 (N, H, W, C) images, batch by batch, as float64 on the CPU."""
        out = [
            self(torch.from_numpy(np.array(images[i : i + batch_size])).to(device)).cpu()
            for i in range(0, len(images), batch_size)
        ]
        return torch.cat(out).double()


def imagenet_features(name: str, checkpoint_path: str | None = None) -> ImageNetFeatures | None:
    """timm network `name` with ImageNet weights from `checkpoint_path` or the local cache; None when neither
    has them (nothing is downloaded)."""
    path = Path(checkpoint_path).expanduser() if checkpoint_path else cached_weights(name)
    if path is None:
        return None
    trunk = create_trunk(name, checkpoint_path=str(path))
    return ImageNetFeatures(trunk, f"timm:{name} (ImageNet weights from {path})")
