"""The GAN's per-epoch sample grid: the fixed-noise images of a `GANModule`, saved and logged."""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import Callback
from torchvision.utils import make_grid, save_image

from fer.utils.io import atomic_path


class SampleGrid(Callback):
    """After every `every_n_epochs` epochs: the fixed-noise grid as `<out_dir>/epoch_XXX.png` (written
    atomically), also logged to image-capable loggers (W&B, TensorBoard)."""

    def __init__(self, out_dir: str, every_n_epochs: int = 1, nrow: int = 8):
        self.out_dir = Path(out_dir)
        self.every_n_epochs = every_n_epochs
        self.nrow = nrow

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        epoch = trainer.current_epoch
        if (epoch + 1) % self.every_n_epochs or not trainer.is_global_zero:
            return
        was_training = pl_module.generator.training
        pl_module.generator.eval()
        with torch.no_grad():
            images = pl_module.generator(pl_module.fixed_noise).float().cpu()
        pl_module.generator.train(was_training)
        grid = make_grid(images, nrow=self.nrow, normalize=True, value_range=(-1, 1))
        path = self.out_dir / f"epoch_{epoch:03d}.png"
        with atomic_path(path) as tmp:
            save_image(grid, tmp)
        for lg in trainer.loggers:
            if hasattr(lg, "log_image"):  # W&B
                lg.log_image(key="gan/samples", images=[str(path)], step=trainer.global_step)
            elif hasattr(getattr(lg, "experiment", None), "add_image"):  # TensorBoard
                lg.experiment.add_image("gan/samples", grid, global_step=trainer.global_step)
