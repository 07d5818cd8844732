"""GAN training-step throughput: GANModule under pl.Trainer against a plain PyTorch DCGAN loop.

Same networks (same initial weights), same data, batch size, losses and Adam settings, on the CPU, in one run.
Each side trains `epochs` epochs; the first is a warm-up and the rest are timed whole (data loading, both
optimizer steps, and for Lightning its logging, optimizer toggling and loop bookkeeping). Checkpointing,
sample grids, loggers and the progress bar are off on the Lightning side, as the plain loop has none; random
flips are off on both. The two alternate `repeats` times; the ratio of the best throughputs is reported
(>= 0.95 is the goal): on a shared machine, load only ever slows a run down, so the best run of each side is
the least disturbed one (timeit's rule); the ratio of medians is reported beside it.
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

from fer.models.gan import GANModule


class EpochTimer(Callback):
    def __init__(self) -> None:
        self.times: list[float] = []
        self.steps: list[int] = []

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        self._t, self._s = time.perf_counter(), trainer.global_step

    def on_train_epoch_end(self, trainer, pl_module) -> None:
        self.times.append(time.perf_counter() - self._t)
        self.steps.append((trainer.global_step - self._s) // 2)  # two optimizer steps per training step


def lightning_run(model: GANModule, loader: DataLoader, epochs: int) -> float:
    timer = EpochTimer()
    trainer = pl.Trainer(max_epochs=epochs, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, callbacks=[timer])
    trainer.fit(model, loader)
    return sum(timer.steps[1:]) / sum(timer.times[1:])


def plain_run(model: GANModule, loader: DataLoader, epochs: int) -> float:
    g, d, latent = model.generator, model.discriminator, model.hparams.latent_dim
    g.train(), d.train()
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    steps, seconds = 0, 0.0
    for epoch in range(epochs):
        start = time.perf_counter()
        n = 0
        for (real,) in loader:
            z = torch.randn(real.shape[0], latent)
            fake = g(z)
            ones, zeros = torch.ones(real.shape[0]), torch.zeros(real.shape[0])
            opt_d.zero_grad(set_to_none=True)
            loss_d = F.binary_cross_entropy_with_logits(d(real), ones) + \
                F.binary_cross_entropy_with_logits(d(fake.detach()), zeros)
            loss_d.backward()
            opt_d.step()
            opt_g.zero_grad(set_to_none=True)
            loss_g = F.binary_cross_entropy_with_logits(d(fake), ones)
            loss_g.backward()
            opt_g.step()
            n += 1
        if epoch:  # the first epoch is a warm-up
            steps, seconds = steps + n, seconds + time.perf_counter() - start
    return steps / seconds


def run(quick: bool = False) -> dict:
    size, feats, batch, images, epochs, repeats = (64, 8, 16, 64, 4, 3) if quick else (64, 32, 32, 128, 4, 5)
    torch.manual_seed(0)
    data = TensorDataset(torch.rand(images, 1, size, size) * 2 - 1)
    loader = DataLoader(data, batch_size=batch, shuffle=True, drop_last=True)
    pl.seed_everything(0, verbose=False)
    template = GANModule(image_size=size, channels=1, g_features=feats, d_features=feats, hflip=0.0, grid_size=1)
    fw, base = [], []
    for _ in range(repeats):  # alternate, so drifting machine load hits both sides alike
        fw.append(lightning_run(copy.deepcopy(template), loader, epochs))
        base.append(plain_run(copy.deepcopy(template), loader, epochs))
    fw_best, base_best = max(fw), max(base)
    return {
        "metric": "GAN training steps/s (one D + one G step), CPU",
        "config": {"image_size": size, "features": feats, "batch_size": batch, "images": images,
                   "timed_epochs": epochs - 1, "repeats": repeats, "threads": torch.get_num_threads()},
        "framework_steps_per_s": round(fw_best, 3), "baseline_steps_per_s": round(base_best, 3),
        "framework_runs": [round(v, 3) for v in fw], "baseline_runs": [round(v, 3) for v in base],
        "ratio": round(fw_best / base_best, 3), "goal": 0.95,
        "ratio_of_medians": round(statistics.median(fw) / statistics.median(base), 3),
    }


if __name__ == "__main__":
    import json

    print(json.dumps(run(quick=True)))
