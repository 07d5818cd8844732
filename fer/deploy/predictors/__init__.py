"""Predictors: one interface (`Predictor`: a face pipeline, class names, crops -> probabilities), one class per
runtime. `load_predictor` picks the runtime: a train.py checkpoint runs on torch, an exported model on
onnxruntime; the ONNX path imports neither torch, Lightning nor Hydra."""

from __future__ import annotations

from fer.deploy.predictors.base import EXPORT_HINT, ModelFileError, Predictor
from fer.deploy.predictors.onnx_predictor import OnnxPredictor
from fer.deploy.predictors.torch_predictor import TorchPredictor

__all__ = ["EXPORT_HINT", "ModelFileError", "OnnxPredictor", "Predictor", "TorchPredictor", "load_predictor"]


def load_predictor(checkpoint: str | None = None, model: str | None = None, run_config: str | None = None) -> Predictor:
    """A predictor for a train.py checkpoint (torch) or an exported model (`model`, onnxruntime)."""
    if model:
        return OnnxPredictor(model)
    return TorchPredictor(checkpoint, run_config)
