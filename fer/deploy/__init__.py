"""From a trained model to its use: checkpoint loading, predictors (torch and ONNX), prediction on images and
videos, export to ONNX with a model card. The ONNX path needs neither torch, Lightning nor Hydra."""

from fer.utils.lazy import lazy_exports

__all__, __getattr__ = lazy_exports(
    __name__,
    {
        "CheckpointError": "fer.deploy.checkpoint",
        "load_classifier": "fer.deploy.checkpoint",
        "Predictor": "fer.deploy.predictors",
        "TorchPredictor": "fer.deploy.predictors",
        "OnnxPredictor": "fer.deploy.predictors",
        "ModelFileError": "fer.deploy.predictors",
        "load_predictor": "fer.deploy.predictors",
        "face_rows": "fer.deploy.predict",
        "export": "fer.deploy.export",
        "export_onnx": "fer.deploy.export",
        "model_card": "fer.deploy.modelcard",
    },
)
