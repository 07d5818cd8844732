"""A trained model in use: what a checkpoint says about itself, and predictors that turn face crops into
class probabilities.

`describe_run(cfg)` is saved inside every checkpoint (the ClassifierModule's `inference` hyperparameter): the
network's config, the face pipeline (fer/data/pipeline.py) and the training data, so a checkpoint alone is
enough to predict. A predictor has a `pipeline`, `class_names` and `probabilities(batch)`; `load_predictor`
picks the runtime: a train.py checkpoint runs on torch, an exported model (fer/export.py) on onnxruntime.
The ONNX path imports neither torch, Lightning nor Hydra (the `deploy` extra: onnxruntime, OpenCV, NumPy).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from fer.data.faces import FaceOptions
from fer.data.pipeline import FacePipeline
from fer.errors import UserError

EXPORT_HINT = "make one with `python -m fer.export --checkpoint <run>/checkpoints/<best>.ckpt --format onnx`"


class ModelFileError(UserError, ValueError):
    """An exported model file is missing, unreadable, or not a ferlab export."""


def training_faces(cfg) -> dict:
    """The face options of the run's main training source (its catalogue entry's own over the global ones):
    how the training faces were cropped, and so how faces are cropped in use."""
    from fer.data.catalogue import plain, select

    sources = select(cfg.data.train, cfg.get("sources") or {}, "data.train")
    main = next((s for s in sources.values() if s.origin == "original"), next(iter(sources.values()), None))
    return {**plain(cfg.data.get("faces") or {}), **(main.faces if main else {})}


def pipeline_from_config(cfg, mean=None, std=None) -> FacePipeline:
    """The face pipeline of a run's config (mean/std: the backbone's, when known)."""
    extra = {"mean": tuple(mean), "std": tuple(std)} if mean is not None else {}
    return FacePipeline(
        FaceOptions.from_config(training_faces(cfg)), int(cfg.data.image_size), str(cfg.data.color), **extra
    )


def describe_run(cfg) -> dict:
    """What a checkpoint needs to be used on its own (plain values; the model adds the backbone's mean/std)."""
    from omegaconf import OmegaConf

    from fer.data.catalogue import select
    from fer.results import uses_synthetic_data

    return {
        "net": OmegaConf.to_container(cfg.model.net, resolve=True),
        "pipeline": pipeline_from_config(cfg).to_dict(),
        "backbone": str(cfg.model.net.backbone),
        "data": str(cfg.data.get("name", "")),
        "train_sources": list(select(cfg.data.train, cfg.get("sources") or {}, "data.train")),
        "protocol": str(cfg.protocol.get("name", "")) if cfg.get("protocol") else "",
        "seed": int(cfg.seed) if cfg.get("seed") is not None else None,
        # Trained or tested on the bundled synthetic faces: an exported model's card says it is a plumbing check
        "synthetic_data": uses_synthetic_data(cfg) if cfg.get("protocol") else None,
    }


class Predictor:
    """Face crops -> class probabilities."""

    pipeline: FacePipeline
    class_names: list[str]

    def probabilities(self, batch: np.ndarray) -> np.ndarray:
        """(N, C, H, W) uint8 crops (`pipeline.batch`) -> (N, classes) probabilities."""
        raise NotImplementedError


class TorchPredictor(Predictor):
    """A train.py checkpoint, in evaluation mode on the CPU."""

    def __init__(self, checkpoint: str | Path, run_config: str | None = None):
        from fer.models.checkpoint import load_classifier

        self.model, self.pipeline = load_classifier(checkpoint, run_config, options=("--checkpoint", "--run-config"))
        self.class_names = list(self.model.hparams.class_names)

    def probabilities(self, batch: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            return self.model.probabilities(torch.from_numpy(batch)).numpy()


class OnnxPredictor(Predictor):
    """An exported model (fer/export.py) on onnxruntime's CPU provider; its metadata gives the pipeline and the
    class names. `threads`: onnxruntime's intra-op threads (default: its own choice)."""

    def __init__(self, path: str | Path, threads: int | None = None):
        import onnxruntime as ort

        path = Path(path).expanduser()
        if not path.is_file():
            raise ModelFileError(f"--model={path} does not exist; {EXPORT_HINT}")
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only: no graph-optimization chatter on stderr
        if threads:
            options.intra_op_num_threads = threads
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime's errors (InvalidProtobuf, Fail, ...) share no public base class
            first = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise ModelFileError(f"--model={path} is not a readable ONNX model ({first}); {EXPORT_HINT}") from None
        meta = self.session.get_modelmeta().custom_metadata_map
        missing = [k for k in ("fer.class_names", "fer.pipeline", "fer.input") if k not in meta]
        if missing:
            raise ModelFileError(
                f"--model={path} is an ONNX model without ferlab's metadata ({', '.join(missing)} missing), so its "
                f"classes and face pipeline are unknown; {EXPORT_HINT}"
            )
        self.metadata = {k: json.loads(v) if k.startswith("fer.") and v[:1] in "[{" else v for k, v in meta.items()}
        self.class_names = list(self.metadata["fer.class_names"])
        self.pipeline = FacePipeline.from_dict(self.metadata["fer.pipeline"])
        self.input_name = self.metadata["fer.input"]["name"]

    def probabilities(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: np.ascontiguousarray(batch, dtype=np.uint8)})[0]


def load_predictor(checkpoint: str | None = None, model: str | None = None, run_config: str | None = None) -> Predictor:
    """A predictor for a train.py checkpoint (torch) or an exported model (`model`, onnxruntime)."""
    if model:
        return OnnxPredictor(model)
    return TorchPredictor(checkpoint, run_config)
