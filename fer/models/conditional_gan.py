"""ConditionalGANModule: one class-conditional GAN for all emotions (conf/model/gan_conditional.yaml).

Seven per-emotion DCGANs each see ~140 KDEF faces; one conditional GAN sees all ~980, so what the emotions share
(face shape, identity, lighting) is learnt from seven times the data and only the expression is class-specific.
The training loop is the DCGAN's (fer/models/gan.py: manual optimization, one discriminator and one generator step
per batch, the same random flips and DiffAugment) with the class labels passed to both networks; fakes take the
labels of the real batch, so the classes are drawn as often as the data has them. Loss: `hinge` (the usual one
for a spectrally normalised projection discriminator) or `bce` (the DCGAN's non-saturating loss).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from omegaconf import OmegaConf

from fer.classes import CLASSES
from fer.models.gan import GANModule
from fer.utils.config import plain

GENERATOR = {"_target_": "fer.models.components.conditional_gan.ConditionalGenerator", "features": 64}
DISCRIMINATOR = {"_target_": "fer.models.components.conditional_gan.ProjectionDiscriminator", "features": 64}
LOSSES = ("hinge", "bce")


class ConditionalGANModule(GANModule):
    """The DCGAN's training loop with class labels passed to both networks; `loss`: hinge or bce. `sample(n, seed,
    label)` draws images of one class."""

    def __init__(
        self,
        generator: Mapping | None = None,
        discriminator: Mapping | None = None,
        num_classes: int = len(CLASSES),
        loss: str = "hinge",
        **kwargs,
    ):
        if loss not in LOSSES:
            raise ValueError(f"loss={loss!r}; expected one of {list(LOSSES)}")
        # Plain values only: Lightning saves this frame's arguments too, and checkpoints load with weights_only=True.
        generator = {**plain(generator or GENERATOR), "num_classes": num_classes}
        discriminator = {**plain(discriminator or DISCRIMINATOR), "num_classes": num_classes}
        kwargs = plain(OmegaConf.create(dict(kwargs)))
        super().__init__(generator=generator, discriminator=discriminator, **kwargs)
        # GANModule saved its own arguments; add this class's so that load_from_checkpoint rebuilds it.
        self.hparams.update(num_classes=num_classes, loss=loss)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return self.generator(z, y)

    @torch.no_grad()
    def sample(self, n: int, seed: int, label: int = 0, batch_size: int = 256) -> torch.Tensor:
        """`n` images of class `label` in [-1, 1], deterministic for `seed` (eval-mode BatchNorm). The noise depends
        on the seed only, so image i of every class starts from the same noise vector."""
        z = torch.randn(n, self.hparams.latent_dim, generator=torch.Generator().manual_seed(seed))
        was_training = self.generator.training
        self.generator.eval()
        try:
            out = []
            for c in z.split(batch_size):
                y = torch.full((len(c),), label, dtype=torch.long, device=self.device)
                out.append(self.generator(c.to(self.device), y).float().cpu())
            return torch.cat(out)
        finally:
            self.generator.train(was_training)

    def losses(self, d_real: torch.Tensor | None, d_fake: torch.Tensor, generator_step: bool) -> torch.Tensor:
        """The discriminator's loss (real and fake logits) or the generator's (fake logits only)."""
        if self.hparams.loss == "hinge":
            if generator_step:
                return -d_fake.mean()
            return F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()
        if generator_step:  # non-saturating
            return F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))
        return F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real)) + F.binary_cross_entropy_with_logits(
            d_fake, torch.zeros_like(d_fake)
        )

    def training_step(self, batch, batch_idx: int) -> None:
        real, y = batch[0], batch[1]
        real = self.flip(real)
        opt_g, opt_d = self.optimizers()
        self.batches_stepped = self.global_step // 2  # each batch steps both optimizers
        z = torch.randn(real.shape[0], self.hparams.latent_dim, device=self.device)
        fake = self.generator(z, y)

        # Discriminator on real and detached fake images of the same classes.
        self.toggle_optimizer(opt_d)
        d_real = self.discriminator(self.augment(real), y)
        d_fake = self.discriminator(self.augment(fake.detach()), y)
        loss_d = self.losses(d_real, d_fake, generator_step=False)
        opt_d.zero_grad(set_to_none=True)
        self.manual_backward(loss_d)
        opt_d.step()
        self.untoggle_optimizer(opt_d)

        # Generator: make the updated discriminator score the fakes as real images of their class.
        self.toggle_optimizer(opt_g)
        loss_g = self.losses(None, self.discriminator(self.augment(fake), y), generator_step=True)
        opt_g.zero_grad(set_to_none=True)
        self.manual_backward(loss_g)
        opt_g.step()
        self.untoggle_optimizer(opt_g)

        self.record(loss_d, loss_g, d_real, d_fake)
