"""The classifier network: a timm convolutional trunk "without its top", global average pooling,
dense(256) + activation + dropout, and a linear layer to the 7 classes (softmax lives in the loss).

The trunk is `timm.create_model(..., num_classes=0)` used through `forward_features` only. Whatever that path
never touches (VGG's fc6/fc7 `pre_logits`, ConvNeXt's `head.norm`, MobileNetV3's `conv_head`) is found once
with a tiny probe pass and frozen for good, so it is never trained nor counted as a fine-tuning block.
"""

from __future__ import annotations

import logging
from pathlib import Path

import timm
import torch
from timm.layers import SelectAdaptivePool2d
from torch import nn

from fer.errors import UserError

log = logging.getLogger(__name__)


class PretrainedWeightsError(UserError, RuntimeError):
    """ImageNet weights are neither downloadable nor given as a local file."""


def _remedy(name: str) -> str:
    return (
        f"Either run once with network access so timm caches the weights of {name!r} (under HF_HOME, "
        f"default ~/.cache/huggingface), or download the weights file and pass backbone.checkpoint_path=<file>. "
        f"backbone.pretrained=false trains from random weights instead."
    )


def create_trunk(name: str, pretrained: bool = False, checkpoint_path: str | None = None, **kwargs) -> nn.Module:
    """A timm model whose `forward_features` is the convolutional trunk; classifier and VGG fc6/fc7 removed.

    `checkpoint_path` (a timm/torchvision state dict, `.pth`/`.bin`/`.safetensors`, optionally wrapped in
    `state_dict`/`model`) wins over `pretrained`; otherwise timm's normal mechanism (Hugging Face hub + cache).
    """
    if not timm.is_model(name):
        close = timm.list_models(f"*{name}*")[:8]
        raise ValueError(f"backbone.name={name!r} is not a timm model" + (f"; close matches: {close}" if close else ""))
    if checkpoint_path:
        path = Path(checkpoint_path).expanduser()
        if not path.is_file():
            raise PretrainedWeightsError(f"backbone.checkpoint_path={path} does not exist. {_remedy(name)}")
        try:
            model = timm.create_model(
                name, pretrained=True, num_classes=0, pretrained_cfg_overlay={"file": str(path)}, **kwargs
            )
        except RuntimeError as e:  # shape/key mismatch: the file is for another architecture
            raise PretrainedWeightsError(f"backbone.checkpoint_path={path} does not fit {name!r}: {e}") from e
        log.info("backbone %s: weights from %s", name, path)
    else:
        try:
            model = timm.create_model(name, pretrained=pretrained, num_classes=0, **kwargs)
        except Exception as e:  # hub unreachable (or offline) and nothing cached
            if not pretrained:
                raise
            raise PretrainedWeightsError(
                f"could not load ImageNet weights for {name!r} "
                f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}). " + _remedy(name)
            ) from e
    if type(model).__name__ == "VGG" and hasattr(model, "pre_logits"):
        model.pre_logits = nn.Identity()  # VGG's fc6/fc7 (as 7x7 convs, 120M parameters): the "top" the paper removes
    return model


def probe_trunk(trunk: nn.Module, size: int, in_chans: int = 3) -> tuple[torch.Size, set[str]]:
    """One forward_features + backward at `size` px: the feature shape and the parameters it never reaches."""
    named = [(n, p) for n, p in trunk.named_parameters() if p.requires_grad]
    was_training = trunk.training
    trunk.eval()  # batch of one: BatchNorm must use running statistics (and they must not move)
    try:
        with torch.enable_grad():
            out = trunk.forward_features(torch.randn(1, in_chans, size, size))
            grads = torch.autograd.grad(out.float().sum(), [p for _, p in named], allow_unused=True)
    finally:
        trunk.train(was_training)
    return out.shape, {n for (n, _), g in zip(named, grads, strict=False) if g is None}


class FERHead(nn.Module):
    """Global average pooling, dense(`hidden`) + activation + dropout, and the linear classifier."""

    def __init__(self, num_features: int, num_classes: int, hidden: int, dropout: float, act_layer: type[nn.Module]):
        super().__init__()
        self.global_pool = SelectAdaptivePool2d(pool_type="avg", flatten=True)
        self.fc = nn.Linear(num_features, hidden)
        self.act = act_layer()
        self.drop = nn.Dropout(dropout)
        self.classifier = nn.Linear(hidden, num_classes)

    def forward(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """(N, C, H, W) feature map -> logits (N, num_classes), or with `pre_logits` the (N, hidden) embedding."""
        x = self.drop(self.act(self.fc(self.global_pool(x))))
        return x if pre_logits else self.classifier(x)


# Checkpoints written before the head had named parts hold its layers by position in an nn.Sequential
# (pool, flatten, dense, act, dropout, linear).
_POSITIONAL_HEAD_KEYS = {"head.2.": "head.fc.", "head.5.": "head.classifier."}


def _rename_positional_head_keys(module, state_dict, prefix, *_args) -> None:
    """load_state_dict pre-hook: old positional head keys (`head.2.weight`) -> named ones (`head.fc.weight`)."""
    for key in [k for k in state_dict if k.startswith(prefix + "head.")]:
        for old, new in _POSITIONAL_HEAD_KEYS.items():
            if key.startswith(prefix + old):
                state_dict[prefix + new + key[len(prefix + old) :]] = state_dict.pop(key)


class FERNet(nn.Module):
    """A timm trunk used "without its top" and `FERHead`, with timm's split: `forward_features` (the trunk's
    feature map), `forward_head(x, pre_logits=False)` (logits, or the `hidden`-d embedding), `forward`."""

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
        min_input_size: int = 32,
    ):
        super().__init__()
        self.trunk = create_trunk(backbone, pretrained, checkpoint_path, in_chans=in_chans)
        timm_min = (self.trunk.pretrained_cfg or {}).get("min_input_size") or (0, 0, 0)
        probe = max(int(min_input_size), int(timm_min[-1]))
        try:
            shape, unused = probe_trunk(self.trunk, probe, in_chans)
        except RuntimeError as e:
            raise ValueError(
                f"backbone {backbone!r} rejects {probe} px inputs ({e}); raise backbone.min_input_size "
                f"in conf/backbone/"
            ) from e
        if len(shape) != 4:
            raise ValueError(
                f"backbone {backbone!r}: forward_features gives shape {tuple(shape)}; FERNet needs a "
                "convolutional trunk (N, C, H, W)"
            )
        # Parameters outside the forward_features path: frozen for good, never a fine-tuning "block".
        self.unused_trunk_params: list[str] = sorted(unused)
        for n, p in self.trunk.named_parameters():
            if n in unused:
                p.requires_grad_(False)
        if unused:
            log.info(
                "backbone %s: %d parameter tensors unused by forward_features, frozen: %s",
                backbone,
                len(unused),
                sorted(unused)[:6],
            )
        acts = {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU}
        if activation not in acts:
            raise ValueError(f"model.net.activation={activation!r}; expected one of {sorted(acts)}")
        self.num_features = int(shape[1])
        self.head = FERHead(self.num_features, num_classes, hidden, dropout, acts[activation])
        self.register_load_state_dict_pre_hook(_rename_positional_head_keys)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The trunk's feature map (N, C, H, W)."""
        return self.trunk.forward_features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Logits from a feature map; with `pre_logits` the embedding before the classifier (after dropout)."""
        return self.head(x, pre_logits=pre_logits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of a normalized (N, in_chans, H, W) batch."""
        return self.forward_head(self.forward_features(x))
