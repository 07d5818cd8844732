"""The interface every predictor has: a face pipeline, the class names, and face crops -> probabilities."""

from __future__ import annotations

import numpy as np

from fer.errors import UserError
from fer.faces.pipeline import FacePipeline

EXPORT_HINT = "make one with `python -m fer.export --checkpoint <run>/checkpoints/<best>.ckpt --format onnx`"


class ModelFileError(UserError, ValueError):
    """An exported model file is missing, unreadable, or not a ferlab export."""


class Predictor:
    """Face crops -> class probabilities."""

    pipeline: FacePipeline
    class_names: list[str]

    def probabilities(self, batch: np.ndarray) -> np.ndarray:
        """(N, C, H, W) uint8 crops (`pipeline.batch`) -> (N, classes) probabilities."""
        raise NotImplementedError
