"""An exported model (fer/deploy/export.py) on onnxruntime: no torch, Lightning or Hydra needed (the `deploy`
extra: onnxruntime, OpenCV, NumPy, Pillow)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from fer.deploy.predictors.base import EXPORT_HINT, ModelFileError, Predictor
from fer.faces.pipeline import FacePipeline


class OnnxPredictor(Predictor):
    """An exported model (fer/deploy/export.py) on onnxruntime's CPU provider; its metadata gives the pipeline and the
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
