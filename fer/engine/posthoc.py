"""Post-hoc logit adjustment (`model.logit_adjust=true`, fer/models/balancing.py), fitted between fit and test.

The strength tau is chosen on the validation predictions of the checkpoint that validation chose (never on a test
set), then stored in that checkpoint's hyperparameters, rewritten atomically. The test loop, the validation
predictions file, `python -m fer.predict` and `python -m fer.export` all read it from there: the checkpoint alone
is still enough to predict, and every consumer applies the same adjustment.
"""

from __future__ import annotations

import logging
from pathlib import Path

from fer.engine.run_outputs import VAL, validation_outputs

log = logging.getLogger(__name__)

HPARAMS = "hyper_parameters"  # where Lightning keeps a module's hyperparameters in a checkpoint


def fit_logit_adjustment(trainer, model, datamodule, ckpt_path: str | None) -> dict | None:
    """Fit tau on the validation split and set it on `model` and into `ckpt_path` (rank zero writes); returns the
    adjustment, None when `model.logit_adjust` is off or there is no validation set (a warning says so)."""
    if not model.hparams.get("logit_adjust"):
        return None
    from fer.models.balancing import TAU_GRID, class_prior, fit_tau  # torch: loaded with a run, not by train.py

    model.set_logit_adjustment(None)  # tau is fitted on the model's own probabilities
    outputs = validation_outputs(trainer, model, datamodule, ckpt_path)
    if outputs is None:
        log.warning("model.logit_adjust=true but the run has no validation set to fit tau on: no adjustment")
        return None
    probs, labels = outputs
    prior = class_prior(datamodule.train_set.labels, probs.shape[-1])
    tau, scores = fit_tau(probs, labels, prior)
    adjustment = {
        "tau": tau,
        "prior": [round(float(p), 6) for p in prior],  # training-set class frequencies, in class order
        "fitted_on": VAL,
        "val_images": len(labels),
        "criterion": "validation macro-F1",
        "grid": [TAU_GRID[0], TAU_GRID[-1], len(TAU_GRID)],
        "val_f1_before": scores[0.0],
        "val_f1_after": scores[tau],
    }
    model.set_logit_adjustment(adjustment)
    log.info(
        "logit adjustment: tau=%.1f fitted on %d validation images (macro-F1 %.3f -> %.3f)",
        tau,
        len(labels),
        scores[0.0],
        scores[tau],
    )
    if ckpt_path and trainer.is_global_zero:
        store_in_checkpoint(Path(ckpt_path), adjustment)
    return adjustment


def store_in_checkpoint(path: Path, adjustment: dict) -> None:
    """Write `adjustment` into the checkpoint's hyperparameters (atomically: a reader sees the old or new file)."""
    import torch  # with a run only: train.py --help and --cfg answer without loading torch

    from fer.engine.checkpoint_io import AtomicCheckpointIO

    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    ckpt.setdefault(HPARAMS, {})["logit_adjustment"] = adjustment
    AtomicCheckpointIO().save_checkpoint(ckpt, path)
