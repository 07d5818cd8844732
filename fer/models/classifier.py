"""ClassifierModule: FERNet under Lightning, with on-device normalization and per-set torchmetrics."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from omegaconf import DictConfig, OmegaConf
from timm.data import Mixup, resolve_model_data_config
from torch import nn
from torchmetrics import MeanMetric, MetricCollection
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassCalibrationError,
    MulticlassConfusionMatrix,
    MulticlassF1Score,
    MulticlassRecall,
)

from fer.classes import CLASSES
from fer.errors import ConfigError
from fer.evaluation.calibration import N_BINS
from fer.models.balancing import SCHEMES, adjust, adjustment_factors, class_weights
from fer.models.components.backbone import FERNet


def make_metrics(num_classes: int) -> MetricCollection:
    """One set's metrics, fed (probabilities, labels): accuracy, macro F1, per-class recall, confusion matrix, ECE."""
    return MetricCollection(
        {
            "acc": MulticlassAccuracy(num_classes, average="micro"),
            "f1": MulticlassF1Score(num_classes, average="macro"),
            "recall": MulticlassRecall(num_classes, average="none"),
            "cm": MulticlassConfusionMatrix(num_classes),
            # top-label expected calibration error; fed probabilities (fer.evaluation.calibration computes the
            # same from files)
            "ece": MulticlassCalibrationError(num_classes, n_bins=N_BINS, norm="l1"),  # as fer.evaluation.calibration
        }
    )


def interleave_ranks(gathered: torch.Tensor, total: int) -> torch.Tensor:
    """(world size, m, ...) outputs of ranks that read items r, r + W, r + 2W, ... -> dataset order, `total` items."""
    return gathered.transpose(0, 1).reshape(-1, *gathered.shape[2:])[:total]


class ClassifierModule(pl.LightningModule):
    """FERNet under Lightning: takes uint8 (B, C, H, W) crops, normalizes them on the device with the trunk's
    mean/std, trains with cross-entropy and scores the validation set and each named test set with torchmetrics.
    Results: `val_history` (per epoch), `test_results` and `test_outputs` (per test set), `predict_outputs`.

    Args:
        net: the network (timm trunk + head).
        optimizer: optimizer factory (a `_partial_`), completed with the trainable parameters.
        scheduler: optional LR scheduler factory, stepped per epoch on `val/loss`.
        class_names: class names, in label order.
        test_names: the test sets, in the order of the test loaders (a DataModule may serve fewer).
        hflip: probability of a horizontal flip of each training image, on the device.
        augment: further online augmentation of training batches, on the device.
        label_smoothing: cross-entropy label smoothing (Mixup's own when `mixup` is on).
        mixup: timm `Mixup` arguments, or None for off.
        class_weights: `balanced` for loss weights from the training set's class counts, or None.
        tta_flip: test and predict on the mean of each image's and its mirror's probabilities.
        channels_last: run the net in channels-last memory format.
        compile: `torch.compile` the net in place.
        inference: what prediction needs (`fer.runs.description.describe_run`), saved in checkpoints.
    """

    def __init__(
        self,
        net: FERNet,
        optimizer: Callable[..., torch.optim.Optimizer],
        scheduler: Callable | None = None,
        class_names: list[str] | tuple[str, ...] = CLASSES,
        test_names: list[str] | tuple[str, ...] = ("test",),
        hflip: float = 0.5,
        augment: nn.Module | None = None,
        label_smoothing: float = 0.0,
        mixup: dict | None = None,
        class_weights: str | None = None,
        class_weight_beta: float = 0.999,
        logit_adjust: bool = False,
        logit_adjustment: dict | None = None,
        tta_flip: bool = False,
        channels_last: bool = False,
        compile: bool = False,
        inference: dict
        | None = None,  # fer.runs.description.describe_run: what prediction needs (saved in checkpoints)
    ):
        super().__init__()
        # Plain lists (Hydra passes ListConfig): checkpoints must load with torch.load(weights_only=True).
        class_names, test_names = [str(c) for c in class_names], [str(t) for t in test_names]
        # Optimizer/scheduler factories (functools.partial) stay out of the checkpoint's hyperparameters, so
        # checkpoints load with torch.load(weights_only=True), Lightning's default when resuming.
        self.save_hyperparameters(logger=False, ignore=["net", "optimizer", "scheduler", "augment"])
        if class_weights is not None and class_weights not in SCHEMES:
            raise ConfigError(f"model.class_weights={class_weights!r}; expected null, {', '.join(SCHEMES)}")
        if not 0.0 <= class_weight_beta < 1.0:
            raise ConfigError(f"model.class_weight_beta={class_weight_beta!r}; expected a value in [0, 1), e.g. 0.999")
        self.optimizer_factory, self.scheduler_factory = optimizer, scheduler
        self.net = net
        self.augment = augment  # online augmentation of training batches on the device (conf/augment)
        # timm's Mixup/CutMix on training batches (soft targets, its own label smoothing); null: off
        self.mixup = Mixup(**mixup, label_smoothing=label_smoothing, num_classes=len(class_names)) if mixup else None
        # Set at fit start (model.class_weights). A plain attribute, not a buffer: weight averaging (callbacks.ema)
        # pairs the model's buffers with its copy's, made before fit start.
        self.class_weight: torch.Tensor | None = None
        cfg = resolve_model_data_config(net.trunk)
        self.register_buffer("mean", torch.tensor(cfg["mean"]).view(1, -1, 1, 1) * 255, persistent=False)
        self.register_buffer("std", torch.tensor(cfg["std"]).view(1, -1, 1, 1) * 255, persistent=False)
        # Post-hoc logit adjustment (fer.models.balancing), fitted on validation after fit: its tau and prior live
        # in the hyperparameters (so in the checkpoint the test sets are scored from); the factors follow them.
        self.register_buffer("adjustment", torch.ones(len(class_names)), persistent=False)
        if logit_adjustment:
            self.set_logit_adjustment(logit_adjustment)
        n = len(class_names)
        self.val_metrics = make_metrics(n)
        self.train_loss = MeanMetric()  # epoch mean of the training loss, weighted by batch size
        self.test_metrics = nn.ModuleList([make_metrics(n) for _ in test_names])
        self.test_results: dict[str, dict] = {}
        self._test_index = list(range(len(test_names)))  # loader -> test set; the served ones at test start
        # Per-image outputs, in loader order (loaders are not shuffled): test set -> (probabilities, labels) after
        # testing, and the predict loop's (probabilities, labels) (train.py predicts the validation set).
        self.test_outputs: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self.predict_outputs: tuple[torch.Tensor, torch.Tensor] | None = None
        self._collected: dict[int, list[tuple[torch.Tensor, torch.Tensor]]] = {}
        self.val_history: dict[int, dict] = {}  # epoch -> validation summary (kept in checkpoints)
        if inference is not None:
            self.describe(inference)
        if channels_last:
            self.net = self.net.to(memory_format=torch.channels_last)
        if compile:  # in place: the state_dict keys (and so checkpoints) stay those of the plain net
            self.net.compile()

    def describe(self, inference: dict) -> None:
        """Keep what prediction needs in the checkpoint (`fer.runs.description.describe_run`), the face pipeline
        with this backbone's mean/std. Set after construction by train.py: Hydra would instantiate the network config
        in it."""
        inference = OmegaConf.to_container(inference) if isinstance(inference, DictConfig) else dict(inference)
        mean, std = self.input_stats()
        self.hparams["inference"] = {**inference, "pipeline": {**inference["pipeline"], "mean": mean, "std": std}}

    def set_logit_adjustment(self, adjustment: dict | None) -> None:
        """Adjust the probabilities from now on by `adjustment` ({"tau", "prior", ...}, fer.models.balancing);
        None: no adjustment. Kept in the hyperparameters, which checkpoints and exported models carry."""
        self.hparams["logit_adjustment"] = dict(adjustment) if adjustment else None
        factors = adjustment_factors(adjustment["prior"], adjustment["tau"]) if adjustment else None
        self.adjustment.copy_(factors if factors is not None else torch.ones_like(self.adjustment))

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """uint8 (B, C, H, W) -> float, grey replicated to the trunk's channels, normalized with timm's mean/std."""
        x = x.float()
        if x.shape[1] == 1 and self.mean.shape[1] == 3:
            x = x.expand(-1, 3, -1, -1)
        x = (x - self.mean) / self.std
        return x.contiguous(memory_format=torch.channels_last) if self.hparams.channels_last else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of uint8 (B, C, H, W) crops."""
        return self.net(self.normalize(x))

    def probabilities(self, x: torch.Tensor) -> torch.Tensor:
        """Class probabilities of uint8 crops as the test sets are scored (with `tta_flip`, the mean of each
        image's and its mirror's; with a fitted logit adjustment, divided by prior^tau); prediction and export use
        this same function."""
        probs = self(x).softmax(-1)
        if self.hparams.tta_flip:
            probs = (probs + self(x.flip(-1)).softmax(-1)) / 2
        if self.hparams.get("logit_adjustment"):
            probs = adjust(probs, self.adjustment)
        return probs

    def input_stats(self) -> tuple[list[float], list[float]]:
        """The backbone's mean and std for pixels in [0, 1]."""
        return (self.mean / 255).flatten().tolist(), (self.std / 255).flatten().tolist()

    def in_training_loop(self) -> bool:
        """True for the fit loop's training batches; a module outside a Trainer is evaluating."""
        try:
            return self.trainer.training
        except RuntimeError:  # not attached to a Trainer
            return False

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        """Training batches only: random horizontal flips (`hflip`), then `augment`, on the device."""
        x, y = batch
        if self.hparams.hflip > 0 and self.in_training_loop():
            flip = torch.rand(x.shape[0], device=x.device) < self.hparams.hflip
            x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
        if self.augment is not None and self.in_training_loop():
            x = self.augment(x)
        return x, y

    def on_fit_start(self) -> None:
        """With `class_weights` (balanced, sqrt, effective), loss weights from the data module's training labels."""
        scheme = self.hparams.class_weights
        if scheme:
            labels = self.trainer.datamodule.train_set.labels
            weights = class_weights(scheme, labels, len(self.hparams.class_names), self.hparams.class_weight_beta)
            self.class_weight = weights.to(self.device)

    def training_step(self, batch, batch_idx: int):
        """Cross-entropy of the batch (Mixup/CutMix'd when on), class-weighted and smoothed as configured."""
        x, y = batch
        x, target = self.normalize(x), y
        # timm's Mixup needs an even batch (it pairs each image with its mirror in the batch): an odd last
        # batch trains on its plain labels, smoothed alike.
        if self.mixup is not None and len(y) % 2 == 0:
            x, target = self.mixup(x, y)
        smoothing = self.hparams.label_smoothing if target is y else 0.0  # soft targets carry their own
        loss = F.cross_entropy(self.net(x), target, weight=self.class_weight, label_smoothing=smoothing)
        # A metric instead of a per-step self.log: Lightning's logging machinery costs ~1 ms per call on CPU.
        self.train_loss.update(loss.detach(), weight=len(y))
        return loss

    def on_train_epoch_end(self) -> None:
        if self.train_loss.update_count:
            self.log("train/loss", self.train_loss.compute(), prog_bar=True)
        self.train_loss.reset()

    def validation_step(self, batch, batch_idx: int):
        x, y = batch
        logits = self(x)
        self.log("val/loss", F.cross_entropy(logits, y), on_epoch=True, prog_bar=True, batch_size=len(y))
        self.val_metrics.update(logits.softmax(-1), y)

    def on_validation_epoch_end(self) -> None:
        """Log the epoch's validation metrics and keep its summary in `val_history` (not for the sanity check)."""
        m = self.val_metrics.compute()
        self.log_dict({"val/acc": m["acc"], "val/f1": m["f1"]}, prog_bar=True)
        self.log("val/ece", m["ece"])
        self.log_dict({f"val/recall/{c}": r for c, r in zip(self.hparams.class_names, m["recall"], strict=False)})
        if not self.trainer.sanity_checking:
            self.val_history[self.current_epoch] = {**self._summary(m), "epoch": self.current_epoch}
        self.val_metrics.reset()

    @property
    def val_results(self) -> dict:
        """Validation summary of the latest epoch (empty before the first validation)."""
        return self.val_history[max(self.val_history)] if self.val_history else {}

    def best_val_results(self, monitor: str = "val/acc", mode: str = "max") -> dict:
        """The epoch a `ModelCheckpoint(monitor, mode)` keeps: first best epoch (ties do not replace it)."""
        key = {"val/acc": "acc", "val/f1": "f1"}.get(monitor)
        if not self.val_history or key is None:
            return self.val_results
        pick = max if mode == "max" else min
        return self.val_history[pick(sorted(self.val_history), key=lambda e: self.val_history[e][key])]  # first best

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """Save `val_history`, so a resumed run still knows its earlier epochs' validation results."""
        checkpoint["val_history"] = self.val_history  # plain numbers: loads with weights_only=True

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        self.val_history = {int(e): r for e, r in checkpoint.get("val_history", {}).items()}
        # Checkpoints written before the online augmentation kept no state hold its kornia buffers (config
        # constants, see OnlineAugment): dropped, so they load for prediction (no augment) and for resuming.
        for key in ("state_dict", "current_model_state"):  # the latter: the live weights beside an EMA
            if isinstance(checkpoint.get(key), dict):
                checkpoint[key] = {k: v for k, v in checkpoint[key].items() if not k.startswith("augment.")}

    def _summary(self, m: dict) -> dict:
        return {
            "acc": float(m["acc"]),
            "f1": float(m["f1"]),
            "n": int(m["cm"].sum()),
            "ece": float(m["ece"]),
            "recall": dict(zip(self.hparams.class_names, m["recall"].tolist(), strict=False)),
            "confusion": m["cm"].tolist(),
        }

    def _collect(self, key: int, probs: torch.Tensor, y: torch.Tensor) -> None:
        self._collected.setdefault(key, []).append((probs.detach().float().cpu(), y.detach().cpu()))

    def _gathered(self, key: int) -> tuple[torch.Tensor, torch.Tensor] | None:
        """The outputs collected under `key`, across all processes in the order of the (unshuffled) dataset."""
        parts = self._collected.pop(key, [])
        probs = torch.cat([p for p, _ in parts]) if parts else torch.zeros(0, len(self.hparams.class_names))
        labels = torch.cat([y for _, y in parts]) if parts else torch.zeros(0, dtype=torch.long)
        if self.trainer.world_size > 1:
            # Lightning's distributed samplers give rank r the items r, r + W, r + 2W, ... (the last ones may be
            # missing or repeated): pad to a common length, gather, interleave, keep the items evaluated.
            counts = self.all_gather(torch.tensor(len(labels), device=self.device)).flatten().cpu()
            m, total = int(counts.max()), int(counts.sum())
            pad = m - len(labels)
            probs = interleave_ranks(self.all_gather(F.pad(probs, (0, 0, 0, pad)).to(self.device)).cpu(), total)
            labels = interleave_ranks(self.all_gather(F.pad(labels, (0, pad), value=-1).to(self.device)).cpu(), total)
        return (probs, labels) if len(labels) else None

    def test_step(self, batch, batch_idx: int, dataloader_idx: int = 0):
        """Score the batch's `probabilities` on its loader's test set and keep them for `test_outputs`."""
        x, y = batch
        probs = self.probabilities(x)
        i = self._test_index[dataloader_idx]  # the loader's test set among test_names
        self.test_metrics[i].update(probs, y)
        self._collect(i, probs, y)

    def on_test_epoch_start(self) -> None:
        """Map the loaders to the test sets the data module serves (`served_test_names`)."""
        self.test_outputs = {}
        # A DataModule serves loaders only for the test sets that have images: name them, so that a set left out
        # does not shift the later sets' figures onto the wrong names. Plain loaders: one per test name, in order.
        served = getattr(getattr(self.trainer, "datamodule", None), "served_test_names", None)
        names = list(self.hparams.test_names)
        self._test_index = [names.index(n) for n in served] if served is not None else list(range(len(names)))

    def on_test_epoch_end(self) -> None:
        """Per served test set with images: log acc/F1, fill `test_results` (summary) and `test_outputs`
        (probabilities, labels in dataset order, gathered across processes)."""
        for i in self._test_index:  # the served test sets: the others have no figures to compute
            name, metrics = self.hparams.test_names[i], self.test_metrics[i]
            outputs = self._gathered(i)
            m = metrics.compute()
            n = int(m["cm"].sum())
            if n == 0:
                continue
            self.log_dict({f"test/{name}/acc": m["acc"], f"test/{name}/f1": m["f1"]}, add_dataloader_idx=False)
            self.test_results[name] = self._summary(m)
            if outputs is not None:
                self.test_outputs[name] = outputs
            metrics.reset()

    def predict_step(self, batch, batch_idx: int, dataloader_idx: int = 0):
        """The batch's `probabilities`, kept with its labels for `predict_outputs`."""
        x, y = batch
        probs = self.probabilities(x)
        self._collect(-1, probs, y)
        return probs

    def on_predict_epoch_start(self) -> None:
        self.predict_outputs = None

    def on_predict_epoch_end(self) -> None:
        """`predict_outputs`: (probabilities, labels) of the whole loader in dataset order, or None when empty."""
        self.predict_outputs = self._gathered(-1)

    def configure_optimizers(self):
        """The optimizer over the parameters that require grad, and the scheduler (per epoch, on `val/loss`) if any."""
        params = [p for p in self.parameters() if p.requires_grad]  # the frozen trunk joins later (PhaseSwitch)
        optimizer = self.optimizer_factory(params=params)
        if not self.scheduler_factory:
            return {"optimizer": optimizer}
        # Stepped once per epoch; ReduceLROnPlateau watches the validation loss (never a test metric).
        return {
            "optimizer": optimizer,
            "lr_scheduler": {
                "scheduler": self.scheduler_factory(optimizer=optimizer),
                "monitor": "val/loss",
                "interval": "epoch",
            },
        }


@torch.no_grad()
def embed(model: ClassifierModule, images: np.ndarray, batch_size: int, device: torch.device):
    """Class probabilities and pooled trunk features of uint8 (N, H, W, C) images."""
    probs, feats = [], []
    for i in range(0, len(images), batch_size):
        x = torch.from_numpy(np.array(images[i : i + batch_size])).permute(0, 3, 1, 2).to(device)
        x = model.normalize(x)
        fmap = model.net.forward_features(x)
        probs.append(model.net.forward_head(fmap).softmax(-1).cpu())
        feats.append(model.net.head.global_pool(fmap).cpu())
    return torch.cat(probs), torch.cat(feats).double()
