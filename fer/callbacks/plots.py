"""Image outputs: confusion matrices of each test set, saved as PNG and logged to image-capable loggers."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytorch_lightning as pl
from pytorch_lightning.callbacks import Callback

from fer.utils.io import save_figure


def plot_confusion(cm, class_names, title: str, path: str | Path) -> Path:
    """Save a confusion matrix (true x predicted counts) as a PNG at `path`, colours normalized per row, counts in
    the cells; returns the path written."""
    cm = np.asarray(cm, dtype=float)
    rows = cm / np.maximum(cm.sum(1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(5.5, 5))
    ax.imshow(rows, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(class_names)), class_names, rotation=45, ha="right")
    ax.set_yticks(range(len(class_names)), class_names)
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(
                j,
                i,
                int(cm[i, j]),
                ha="center",
                va="center",
                color="white" if rows[i, j] > 0.5 else "black",
                fontsize=8,
            )
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path, dpi=100)


class ConfusionMatrixPlot(Callback):
    """Writes `confusion_<test set>.png` after testing and `confusion_val.png` after fitting (the validation epoch
    the checkpoint callback keeps, else the last one); row-normalized colours, counts in the cells."""

    def __init__(self, out_dir: str):
        self.out_dir = out_dir

    def on_fit_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        ckpt = trainer.checkpoint_callback
        if getattr(ckpt, "monitor", None) and getattr(ckpt, "best_model_path", ""):
            r, which = pl_module.best_val_results(ckpt.monitor, ckpt.mode), "checkpoint choice"
        else:
            r, which = pl_module.val_results, "last"
        if r and trainer.is_global_zero:
            self._save(trainer, "val", r, f"validation, epoch {r['epoch']} ({which})", pl_module.hparams.class_names)

    def _save(self, trainer, name: str, r: dict, title: str, class_names) -> None:
        path = plot_confusion(
            r["confusion"],
            class_names,
            f"{title}\nacc {100 * r['acc']:.1f}%, macro-F1 {100 * r['f1']:.1f}% (n={r['n']})",
            Path(self.out_dir) / f"confusion_{name}.png",
        )
        for lg in trainer.loggers:
            if hasattr(lg, "log_image"):
                lg.log_image(key=f"{name}/confusion" if name == "val" else f"test/{name}/confusion", images=[str(path)])

    def on_test_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero:
            return
        for name, r in pl_module.test_results.items():
            self._save(trainer, name, r, name, pl_module.hparams.class_names)
