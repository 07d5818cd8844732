"""The classifier network: a timm convolutional trunk "without its top", global average pooling,
dense(256) + activation + dropout, and a linear layer to the 7 classes (softmax lives in the loss)."""

from __future__ import annotations

import logging
from pathlib import Path

import timm
import torch
from torch import nn

log = logging.getLogger(__name__)


class PretrainedWeightsError(RuntimeError):
    """ImageNet weights are neither downloadable nor given as a local file."""


def create_trunk(name: str, pretrained: bool = False, checkpoint_path: str | None = None, **kwargs) -> nn.Module:
    """A timm model whose `forward_features` is the convolutional trunk; classifier and VGG fc6/fc7 removed."""
    if checkpoint_path:
        path = Path(checkpoint_path).expanduser()
        if not path.is_file():
            raise PretrainedWeightsError(f"backbone.checkpoint_path={path} does not exist")
        model = timm.create_model(name, pretrained=True, num_classes=0,
                                  pretrained_cfg_overlay={"file": str(path)}, **kwargs)
    else:
        try:
            model = timm.create_model(name, pretrained=pretrained, num_classes=0, **kwargs)
        except Exception as e:  # hub unreachable, no cache
            if not pretrained:
                raise
            raise PretrainedWeightsError(
                f"could not load ImageNet weights for {name!r} ({type(e).__name__}: {e}). Either run once with network "
                f"access so timm caches them (HF_HOME / TORCH_HOME), or download the weights file and pass "
                f"backbone.checkpoint_path=<file>; backbone.pretrained=false trains from scratch"
            ) from e
    if hasattr(model, "pre_logits") and type(model).__name__ == "VGG":
        model.pre_logits = nn.Identity()  # VGG's fc6/fc7 (as convs) are the "top" the paper removes
    return model


def trunk_channels(trunk: nn.Module) -> int:
    info = getattr(trunk, "feature_info", None)
    if info:
        last = info[-1] if isinstance(info, list) else info.get_dicts()[-1]
        return int(last["num_chs"])
    return int(trunk.num_features)


class FERNet(nn.Module):
    def __init__(
        self,
        backbone: str,
        num_classes: int = 7,
        pretrained: bool = False,
        checkpoint_path: str | None = None,
        hidden: int = 256,
        dropout: float = 0.5,
        activation: str = "relu",
        in_chans: int = 3,
    ):
        super().__init__()
        self.trunk = create_trunk(backbone, pretrained, checkpoint_path, in_chans=in_chans)
        acts = {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU}
        self.head = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
            nn.Linear(trunk_channels(self.trunk), hidden), acts[activation](), nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled trunk features (e.g. for nearest-neighbour checks of generated images)."""
        return self.head[1](self.head[0](self.trunk.forward_features(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk.forward_features(x))
