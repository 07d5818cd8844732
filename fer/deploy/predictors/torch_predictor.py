"""A train.py checkpoint on torch (CPU, evaluation mode)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fer.deploy.predictors.base import Predictor


class TorchPredictor(Predictor):
    """A train.py checkpoint, in evaluation mode on the CPU."""

    def __init__(self, checkpoint: str | Path, run_config: str | None = None):
        from fer.deploy.checkpoint import load_classifier  # torch and Lightning: only for this runtime

        self.model, self.pipeline = load_classifier(checkpoint, run_config, options=("--checkpoint", "--run-config"))
        self.class_names = list(self.model.hparams.class_names)

    def probabilities(self, batch: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            return self.model.probabilities(torch.from_numpy(batch)).numpy()
