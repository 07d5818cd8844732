"""GANModule: one DCGAN under Lightning with manual optimization (conf/model/gan.yaml).

Each training step makes one discriminator step (real vs detached fakes) and one generator step
(non-saturating loss), each with its own Adam. Every `optimizer.step()` counts as a Lightning global step, so
training is bounded by epochs (`max_epochs`), never by steps. The generator and discriminator are `_target_`
configs that the module instantiates with the shared sizes (latent_dim, image_size, channels); they are saved
as plain hyperparameters, so `GANModule.load_from_checkpoint(path)` needs no extra arguments.
"""

from __future__ import annotations

from collections.abc import Mapping

import hydra
import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from fer.utils.config import plain

GENERATOR = {"_target_": "fer.models.components.dcgan.Generator", "features": 64}
DISCRIMINATOR = {"_target_": "fer.models.components.dcgan.Discriminator", "features": 64}


def rand_translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    """Shift each image by up to `ratio` of its size, zero (mid-grey) fill; differentiable."""
    b, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ty = torch.randint(-sh, sh + 1, (b, 1, 1), device=x.device)
    tx = torch.randint(-sw, sw + 1, (b, 1, 1), device=x.device)
    gb, gy, gx = torch.meshgrid(
        torch.arange(b, device=x.device),
        torch.arange(h, device=x.device),
        torch.arange(w, device=x.device),
        indexing="ij",
    )
    gy = (gy + ty + 1).clamp(0, h + 1)
    gx = (gx + tx + 1).clamp(0, w + 1)
    padded = F.pad(x, [1, 1, 1, 1]).permute(0, 2, 3, 1)
    return padded[gb, gy, gx].permute(0, 3, 1, 2)


def rand_cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    """Zero one random square of `ratio` x the image side in each image; differentiable."""
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    oy = torch.randint(0, h + (1 - ch % 2), (b, 1, 1), device=x.device)
    ox = torch.randint(0, w + (1 - cw % 2), (b, 1, 1), device=x.device)
    gb, gy, gx = torch.meshgrid(
        torch.arange(b, device=x.device),
        torch.arange(ch, device=x.device),
        torch.arange(cw, device=x.device),
        indexing="ij",
    )
    gy = (gy + oy - ch // 2).clamp(0, h - 1)
    gx = (gx + ox - cw // 2).clamp(0, w - 1)
    mask = torch.ones(b, h, w, dtype=x.dtype, device=x.device)
    mask[gb, gy, gx] = 0
    return x * mask.unsqueeze(1)


# DiffAugment (Zhao et al., NeurIPS 2020): random, differentiable augmentations (the same kinds) of every image the
# discriminator sees, real and fake, in both steps. With ~140 faces a class the discriminator otherwise
# memorises the real set within a few hundred steps and the generator stalls. Hand-written because the
# augmentation must pass gradients to the generator (torchvision's transforms are not built for that; kornia
# is not a dependency).
DIFF_AUGMENTS = {"translation": rand_translation, "cutout": rand_cutout}


class GANModule(pl.LightningModule):
    """One DCGAN trained on real faces in [-1, 1] (manual optimization: a discriminator and a generator step per
    batch). `generator`/`discriminator` are `_target_` configs built with the shared sizes; `diffaugment` names
    the DiffAugment transforms (`DIFF_AUGMENTS`) of every discriminator input; `grid_size`/`grid_seed` fix the
    noise of the per-epoch sample grid."""

    def __init__(
        self,
        generator: Mapping | None = None,
        discriminator: Mapping | None = None,
        latent_dim: int = 100,
        image_size: int = 64,
        channels: int = 1,
        lr: float = 2e-4,
        betas: tuple[float, float] = (0.5, 0.999),
        hflip: float = 0.5,
        grid_size: int = 64,
        grid_seed: int = 0,
        diffaugment: tuple[str, ...] | list[str] = (),
    ):
        super().__init__()
        # Plain dicts in the saved hyperparameters: checkpoints load with weights_only=True.
        generator, discriminator = plain(generator or GENERATOR), plain(discriminator or DISCRIMINATOR)
        betas, diffaugment = list(betas), list(diffaugment)
        self.save_hyperparameters(logger=False)
        unknown = set(diffaugment) - set(DIFF_AUGMENTS)
        if unknown:
            raise ValueError(f"diffaugment: unknown {sorted(unknown)}; expected a subset of {sorted(DIFF_AUGMENTS)}")
        self.automatic_optimization = False
        sizes = {"image_size": image_size, "channels": channels}
        self.generator = hydra.utils.instantiate(generator, latent_dim=latent_dim, **sizes)
        self.discriminator = hydra.utils.instantiate(discriminator, **sizes)
        # Fixed noise for the per-epoch grid; a persistent buffer, so a resumed run draws the same grid.
        noise = torch.randn(grid_size, latent_dim, generator=torch.Generator().manual_seed(grid_seed))
        self.register_buffer("fixed_noise", noise)
        self._sums: torch.Tensor | None = None
        self._count = 0
        self.batches_stepped = 0

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Images in [-1, 1] from latent codes (B, latent_dim)."""
        return self.generator(z)

    @torch.no_grad()
    def sample(self, n: int, seed: int, batch_size: int = 256) -> torch.Tensor:
        """`n` images in [-1, 1], deterministic for `seed`: the noise is drawn on the CPU, BatchNorm uses its
        running statistics (eval mode), so an image does not depend on its batch."""
        z = torch.randn(n, self.hparams.latent_dim, generator=torch.Generator().manual_seed(seed))
        was_training = self.generator.training
        self.generator.eval()
        try:
            return torch.cat([self.generator(c.to(self.device)).float().cpu() for c in z.split(batch_size)])
        finally:
            self.generator.train(was_training)

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        """The `diffaugment` transforms applied in order (random, differentiable): a discriminator input."""
        for name in self.hparams.diffaugment:
            x = DIFF_AUGMENTS[name](x)
        return x

    def training_step(self, batch, batch_idx: int) -> None:
        """One discriminator step (real vs detached fakes), then one generator step, on a batch of real images."""
        real = self.flip(batch[0] if isinstance(batch, (list, tuple)) else batch)
        opt_g, opt_d = self.optimizers()
        self.batches_stepped = self.global_step // 2  # each batch steps both optimizers
        z = torch.randn(real.shape[0], self.hparams.latent_dim, device=self.device)
        fake = self.generator(z)
        ones = torch.ones(real.shape[0], device=self.device)
        zeros = torch.zeros_like(ones)

        # Discriminator: real -> 1, fake -> 0; fakes detached so no gradient reaches the generator.
        self.toggle_optimizer(opt_d)
        d_real = self.discriminator(self.augment(real))
        d_fake = self.discriminator(self.augment(fake.detach()))
        loss_d = F.binary_cross_entropy_with_logits(d_real, ones) + F.binary_cross_entropy_with_logits(d_fake, zeros)
        opt_d.zero_grad(set_to_none=True)
        self.manual_backward(loss_d)
        opt_d.step()
        self.untoggle_optimizer(opt_d)

        # Generator: make the (updated) discriminator call the fakes real (non-saturating loss).
        self.toggle_optimizer(opt_g)
        loss_g = F.binary_cross_entropy_with_logits(self.discriminator(self.augment(fake)), ones)
        opt_g.zero_grad(set_to_none=True)
        self.manual_backward(loss_g)
        opt_g.step()
        self.untoggle_optimizer(opt_g)

        self.record(loss_d, loss_g, d_real, d_fake)

    def flip(self, real: torch.Tensor) -> torch.Tensor:
        """Random horizontal flips of the real faces (near-symmetric: flips double a class of ~140 images)."""
        if self.hparams.hflip <= 0:
            return real
        flip = torch.rand(real.shape[0], device=real.device) < self.hparams.hflip
        return torch.where(flip.view(-1, 1, 1, 1), real.flip(-1), real)

    def record(self, loss_d: torch.Tensor, loss_g: torch.Tensor, d_real: torch.Tensor, d_fake: torch.Tensor) -> None:
        """Accumulate one batch's losses and mean D outputs (as probabilities) for the epoch means; log step values
        on the batches the loggers write."""
        # Epoch means accumulate on the device; `self.log` costs ~2 ms a call (10% of a small CPU step, see
        # bench/bench_gan.py), so step values are logged every `log_every_n_steps` steps and the means once an epoch.
        n = d_real.shape[0]
        stats = torch.stack(
            [
                loss_d.detach(),
                loss_g.detach(),
                torch.sigmoid(d_real.detach()).mean(),
                torch.sigmoid(d_fake.detach()).mean(),
            ]
        )
        self._sums = stats * n if self._sums is None else self._sums + stats * n
        self._count += n
        if self.writes_step_logs():
            self.log_dict(
                {"train/loss_d_step": stats[0], "train/loss_g_step": stats[1]},
                on_step=True,
                on_epoch=False,
                prog_bar=True,
                batch_size=n,
            )

    def writes_step_logs(self) -> bool:
        """Whether the loggers write this batch's step values (every `trainer.log_every_n_steps` batches), so
        that `self.log` is not paid for values nobody writes."""
        every = self.trainer.log_every_n_steps
        return bool(self.trainer.fast_dev_run) or (every > 0 and (self.batches_stepped + 1) % every == 0)

    def on_train_epoch_start(self) -> None:
        self._sums, self._count = None, 0

    def on_train_epoch_end(self) -> None:
        """Log the epoch means of both losses and of the discriminator's mean P(real) on real and on fake images."""
        if self._count:
            means = (self._sums / self._count).tolist()
            self.log_dict(
                dict(zip(("train/loss_d", "train/loss_g", "train/d_real", "train/d_fake"), means, strict=False)),
                on_step=False,
                on_epoch=True,
                prog_bar=True,
            )

    def configure_optimizers(self):
        """Adam for the generator, then Adam for the discriminator (same `lr` and `betas`)."""
        hp = self.hparams
        opt_g = torch.optim.Adam(self.generator.parameters(), lr=hp.lr, betas=tuple(hp.betas))
        opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=hp.lr, betas=tuple(hp.betas))
        return [opt_g, opt_d]


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] float (B, C, H, W) -> uint8."""
    return ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
