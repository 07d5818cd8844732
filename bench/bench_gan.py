"""GAN training-step throughput: GANModule under pl.Trainer against a plain PyTorch DCGAN loop, and the same for
the class-conditional GAN (ConditionalGANModule, hinge loss) against a plain loop of its networks.

Same networks (same initial weights), same data, batch size, losses and Adam settings, on the CPU, in one run.
Each side trains `epochs` epochs; the first is a warm-up. Every later step's cycle time is recorded, from one
batch's start to the next one's (both optimizer steps, fetching the next batch, and for Lightning its logging,
optimizer toggling, hooks and loop bookkeeping). Checkpointing,
sample grids, loggers and the progress bar are off on the Lightning side, as the plain loop has none; random
flips and DiffAugment are off on both. The plain loop freezes the discriminator's weights during the
generator step, as Lightning's `toggle_optimizer` does (the textbook loop that does not computes needless
discriminator weight gradients and would run ~1.5x slower, flattering the ratio).
The two alternate `repeats` times on one thread each; the ratio of median step times
(plain / framework, >= 0.95 is the goal) is robust to bursts of load on a shared machine; the ratio of the
fastest steps (the least disturbed ones, timeit's rule) is reported beside it.
"""

from __future__ import annotations

import copy
import statistics
import time

import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from pytorch_lightning.callbacks import Callback
from torch.utils.data import DataLoader, TensorDataset

from fer.models.conditional_gan import ConditionalGANModule
from fer.models.gan import GANModule

COND = "fer.models.components.conditional_gan"


class StepTimer(Callback):
    """Cycle time of each training step: from one batch's start to the next one's, within an epoch (so it
    covers the step, logging, loop bookkeeping and fetching the next batch)."""

    def __init__(self) -> None:
        self.cycles: list[float] = []
        self._last: float | None = None

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._last = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        now = time.perf_counter()
        if self._last is not None and trainer.current_epoch > 0:  # the first epoch is a warm-up
            self.cycles.append(now - self._last)
        self._last = now


def lightning_run(model: GANModule, loader: DataLoader, epochs: int) -> list[float]:
    timer = StepTimer()
    trainer = pl.Trainer(
        max_epochs=epochs,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[timer],
    )
    trainer.fit(model, loader)
    return timer.cycles


def plain_run(model: GANModule, loader: DataLoader, epochs: int) -> list[float]:
    g, d, latent = model.generator, model.discriminator, model.hparams.latent_dim
    g.train(), d.train()
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    cycles: list[float] = []
    for epoch in range(epochs):
        last = None
        for (real,) in loader:
            now = time.perf_counter()
            if last is not None and epoch > 0:  # the first epoch is a warm-up
                cycles.append(now - last)
            last = now
            z = torch.randn(real.shape[0], latent)
            fake = g(z)
            ones, zeros = torch.ones(real.shape[0]), torch.zeros(real.shape[0])
            opt_d.zero_grad(set_to_none=True)
            loss_d = F.binary_cross_entropy_with_logits(d(real), ones) + F.binary_cross_entropy_with_logits(
                d(fake.detach()), zeros
            )
            loss_d.backward()
            opt_d.step()
            opt_g.zero_grad(set_to_none=True)
            d.requires_grad_(False)  # as toggle_optimizer does: no discriminator weight gradients in the G step
            loss_g = F.binary_cross_entropy_with_logits(d(fake), ones)
            loss_g.backward()
            d.requires_grad_(True)
            opt_g.step()
    return cycles


def plain_conditional_run(model: ConditionalGANModule, loader: DataLoader, epochs: int) -> list[float]:
    """The conditional GAN's step in plain PyTorch: hinge loss, the real batch's labels for the fakes."""
    g, d, latent = model.generator, model.discriminator, model.hparams.latent_dim
    g.train(), d.train()
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    cycles: list[float] = []
    for epoch in range(epochs):
        last = None
        for real, y in loader:
            now = time.perf_counter()
            if last is not None and epoch > 0:  # the first epoch is a warm-up
                cycles.append(now - last)
            last = now
            fake = g(torch.randn(real.shape[0], latent), y)
            opt_d.zero_grad(set_to_none=True)
            loss_d = F.relu(1 - d(real, y)).mean() + F.relu(1 + d(fake.detach(), y)).mean()
            loss_d.backward()
            opt_d.step()
            opt_g.zero_grad(set_to_none=True)
            d.requires_grad_(False)
            loss_g = -d(fake, y).mean()
            loss_g.backward()
            d.requires_grad_(True)
            opt_g.step()
    return cycles


def compare(template, loader, epochs: int, repeats: int, plain) -> dict:
    """Median and fastest step cycle times of the framework and the plain loop, alternating `repeats` times."""
    fw, base = [], []
    for _ in range(repeats):  # alternate, so drifting machine load hits both sides alike
        fw += lightning_run(copy.deepcopy(template), loader, epochs)
        base += plain(copy.deepcopy(template), loader, epochs)
    fw_med, base_med = statistics.median(fw), statistics.median(base)
    return {
        "timed_steps": [len(fw), len(base)],
        "framework_steps_per_s": round(1 / fw_med, 3),
        "baseline_steps_per_s": round(1 / base_med, 3),
        "framework_fastest_step_s": round(min(fw), 4),
        "baseline_fastest_step_s": round(min(base), 4),
        "ratio": round(base_med / fw_med, 3),
        "ratio_of_fastest_steps": round(min(base) / min(fw), 3),
    }


def run(quick: bool = False) -> dict:
    size, feats, batch, images, epochs, repeats = (64, 8, 16, 256, 3, 3) if quick else (64, 32, 32, 192, 3, 3)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread each: on a shared CPU, multi-threaded ops stall on the busiest core
    try:
        torch.manual_seed(0)
        data = TensorDataset(torch.rand(images, 1, size, size) * 2 - 1)
        loader = DataLoader(data, batch_size=batch, shuffle=True, drop_last=True)
        pl.seed_everything(0, verbose=False)
        nets = {
            n: {"_target_": f"fer.models.components.dcgan.{n.title()}", "features": feats}
            for n in ("generator", "discriminator")
        }
        template = GANModule(image_size=size, channels=1, hflip=0.0, grid_size=1, **nets)
        dcgan = compare(template, loader, epochs, repeats, plain_run)
        labelled = TensorDataset(data.tensors[0], torch.arange(images) % 7)
        cond_loader = DataLoader(labelled, batch_size=batch, shuffle=True, drop_last=True)
        cond_nets = {
            "generator": {"_target_": f"{COND}.ConditionalGenerator", "features": feats},
            "discriminator": {"_target_": f"{COND}.ProjectionDiscriminator", "features": feats},
        }
        pl.seed_everything(0, verbose=False)
        cond = ConditionalGANModule(image_size=size, channels=1, hflip=0.0, grid_size=7, loss="hinge", **cond_nets)
        conditional = compare(cond, cond_loader, epochs, repeats, plain_conditional_run)
    finally:
        torch.set_num_threads(threads)
    return {
        "metric": "GAN training steps/s (one D + one G step), CPU, 1 thread; median step cycle time",
        "config": {
            "image_size": size,
            "features": feats,
            "batch_size": batch,
            "images": images,
            "timed_epochs": epochs - 1,
            "repeats": repeats,
            "timed_steps": dcgan.pop("timed_steps"),
        },
        **dcgan,
        "goal": 0.95,
        "conditional": conditional,
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(quick=True)))
