"""Class-conditional GAN networks as plain modules: one generator and one discriminator for all emotions.

Generator: the DCGAN generator of `dcgan.py` fed with the noise and a learnt class embedding side by side
(Mirza & Osindero's cGAN input), so its shape and capacity match the per-emotion DCGANs and the comparison is
about conditioning and data, not network size.
Discriminator: the DCGAN discriminator's strided convs without BatchNorm, every weight spectrally normalised
(Miyato et al., 2018: a 1-Lipschitz critic that a hinge loss trains stably), global sum pooling to a feature
vector h, and a projection head (Miyato & Koyama, 2018): logit = w.h + <embed(y), h>. The class enters as an
inner product with the image's features instead of an extra input channel, which lets all classes share the
trunk that judges realism.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

from fer.models.components.dcgan import Generator, _n_blocks


class ConditionalGenerator(nn.Module):
    """The DCGAN generator fed with the noise and a learnt class embedding: (noise, class) -> image in [-1, 1]."""

    def __init__(
        self,
        latent_dim: int = 100,
        image_size: int = 64,
        channels: int = 1,
        features: int = 64,
        num_classes: int = 7,
        embed_dim: int = 50,
    ):
        super().__init__()
        self.latent_dim, self.num_classes = latent_dim, num_classes
        self.embed = nn.Embedding(num_classes, embed_dim)
        self.net = Generator(latent_dim + embed_dim, image_size, channels, features)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """(B, latent_dim) noise and (B,) class indices -> (B, channels, H, W) in [-1, 1]. Without `y` image i
        gets class i mod num_classes (the fixed-noise grid then shows every class)."""
        z = z.reshape(z.shape[0], self.latent_dim)
        if y is None:
            y = torch.arange(z.shape[0], device=z.device) % self.num_classes
        return self.net(torch.cat([z, self.embed(y)], dim=1))


class ProjectionDiscriminator(nn.Module):
    """A spectrally normalised discriminator with a projection head: (image, class) -> one realism logit."""

    def __init__(self, image_size: int = 64, channels: int = 1, features: int = 64, num_classes: int = 7):
        super().__init__()
        ch = features
        layers: list[nn.Module] = [spectral_norm(nn.Conv2d(channels, ch, 4, 2, 1)), nn.LeakyReLU(0.2, True)]
        for _ in range(_n_blocks(image_size)):  # each block halves the resolution and doubles the width, to 4x4
            layers += [spectral_norm(nn.Conv2d(ch, ch * 2, 4, 2, 1)), nn.LeakyReLU(0.2, True)]
            ch *= 2
        self.trunk = nn.Sequential(*layers)
        self.linear = spectral_norm(nn.Linear(ch, 1))
        self.embed = spectral_norm(nn.Embedding(num_classes, ch))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """(B, channels, H, W) in [-1, 1] and (B,) class indices -> (B,) logits (real > 0)."""
        h = self.trunk(x).sum(dim=(2, 3))  # global sum pooling (SNGAN)
        return self.linear(h).squeeze(1) + (self.embed(y) * h).sum(dim=1)
