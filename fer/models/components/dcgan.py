"""DCGAN generator and discriminator (Radford et al., 2016) as plain modules.

Generator: latent (B, latent_dim) -> transposed convs with BatchNorm + ReLU -> tanh image in [-1, 1].
Discriminator: strided convs with BatchNorm + LeakyReLU(0.2) -> one logit per image (no sigmoid: the loss is
`binary_cross_entropy_with_logits`, the numerically stable form of DCGAN's sigmoid + BCE).
Both double or halve the resolution per block, so any power of two from 32 to 256 works; 64 and 128 are the
sizes used. Weights follow the DCGAN paper: convs N(0, 0.02), BatchNorm weight N(1, 0.02) and bias 0.
"""

from __future__ import annotations

import math

import torch
from torch import nn

SIZES = (32, 64, 128, 256)


def _n_blocks(image_size: int) -> int:
    """Middle blocks between the 4x4 stem and the final layer (64 px: 3, 128 px: 4)."""
    if image_size not in SIZES:
        raise ValueError(f"DCGAN image_size={image_size}; expected one of {SIZES} (the paper's GANs use 64 or 128)")
    return int(math.log2(image_size)) - 3


def dcgan_init(module: nn.Module) -> None:
    """DCGAN initialisation, applied with `model.apply(dcgan_init)`."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class Generator(nn.Module):
    """DCGAN generator: a latent vector -> a (channels, image_size, image_size) image in [-1, 1]."""

    def __init__(self, latent_dim: int = 100, image_size: int = 64, channels: int = 1, features: int = 64):
        super().__init__()
        self.latent_dim, self.image_size, self.channels = latent_dim, image_size, channels
        n = _n_blocks(image_size)
        ch = features * 2**n
        layers: list[nn.Module] = [  # 1x1 -> 4x4
            nn.ConvTranspose2d(latent_dim, ch, 4, 1, 0, bias=False),
            nn.BatchNorm2d(ch),
            nn.ReLU(True),
        ]
        for _ in range(n):  # each block doubles the resolution and halves the width
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch // 2), nn.ReLU(True)]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.apply(dcgan_init)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """(B, latent_dim) or (B, latent_dim, 1, 1) -> (B, channels, image_size, image_size) in [-1, 1]."""
        return self.net(z.view(z.shape[0], self.latent_dim, 1, 1))


class Discriminator(nn.Module):
    """DCGAN discriminator: a (channels, image_size, image_size) image in [-1, 1] -> one real/fake logit."""

    def __init__(self, image_size: int = 64, channels: int = 1, features: int = 64):
        super().__init__()
        n = _n_blocks(image_size)
        ch = features
        # No BatchNorm on the input layer (DCGAN paper).
        layers: list[nn.Module] = [nn.Conv2d(channels, ch, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        for _ in range(n):  # each block halves the resolution and doubles the width, down to 4x4
            layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch * 2), nn.LeakyReLU(0.2, True)]
            ch *= 2
        layers += [nn.Conv2d(ch, 1, 4, 1, 0, bias=False)]  # 4x4 -> 1x1 logit
        self.net = nn.Sequential(*layers)
        self.apply(dcgan_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, channels, H, W) in [-1, 1] -> (B,) logits (real > 0)."""
        return self.net(x).view(x.shape[0])
