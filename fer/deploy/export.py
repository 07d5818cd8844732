"""Export a trained classifier as a self-describing ONNX model, with a model card beside it.

    python -m fer.export --checkpoint <run>/checkpoints/<best>.ckpt --format onnx [--out model.onnx]

The graph is `ClassifierModule.probabilities`, the function the test sets are scored with: the uint8 crops go
in as they come out of the face pipeline (`FacePipeline.batch`: N x C x size x size, C = 1 for grey models,
3 for RGB), and the normalization, grey-to-RGB replication and mirror averaging (`tta_flip`) happen inside.
The batch dimension is dynamic; the output is (N, classes) probabilities.

The model's metadata (`metadata_props`, JSON values) holds everything prediction needs and what the model is:
`fer.class_names`, `fer.pipeline`, `fer.input`, `fer.output`, `fer.backbone`, `fer.training`,
`fer.test_metrics` (from the run's results.json, when there is one) and `fer.framework_version`.
`python -m fer.predict --model model.onnx` reads it back and runs on onnxruntime alone. The model card
(`<model>.md`) says the same for people. Default output: `<checkpoint stem>.onnx` beside the checkpoint.
TorchScript is not offered: torch deprecates it in favour of torch.export.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
from pathlib import Path

import torch
from torch import nn

from fer import __version__
from fer.deploy.checkpoint import find_run_config, load_classifier
from fer.faces.pipeline import FacePipeline
from fer.utils.io import atomic_path, atomic_write_text

FORMATS = ("onnx",)
INPUT, OUTPUT = "crops", "probs"
# Bumped when a key's meaning changes, so a reader can refuse what it does not understand.
METADATA_VERSION = "1"


class Probabilities(nn.Module):
    """The exported function: uint8 crops -> class probabilities (`ClassifierModule.probabilities`)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        return self.model.probabilities(crops)


def run_results(checkpoint: Path) -> dict | None:
    """The run's results.json (`<run>/checkpoints/x.ckpt` -> `<run>/results.json`), when the run finished."""
    path = checkpoint.parent.parent / "results.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def tested_metrics(results: dict | None, checkpoint: Path) -> dict | None:
    """Per test set: images, accuracy, macro-F1 and per-class recall of this one run; None without results.
    `checkpoint` says which checkpoint was tested (the best on validation), which may not be the exported one."""
    if not results or not results.get("tests"):
        return None
    tested = results.get("best_checkpoint") or ""
    return {
        "runs": 1,
        "tested_checkpoint": Path(tested).name if tested else None,
        "same_checkpoint": bool(tested) and Path(tested).name == checkpoint.name,
        "sets": {
            name: {"images": int(t["n"]), "acc": t["acc"], "f1": t["f1"], "recall": t.get("recall", {})}
            for name, t in results["tests"].items()
        },
    }


def describe(model, pipeline: FacePipeline, checkpoint: Path, run_config: str | None) -> dict:
    """The model's metadata as plain values (`metadata_props` holds them as JSON strings)."""
    inference = dict(model.hparams.get("inference") or {})
    if not inference:  # a checkpoint from before checkpoints described themselves: its run's config says it
        from omegaconf import OmegaConf

        from fer.runs.description import describe_run

        inference = describe_run(OmegaConf.load(find_run_config(checkpoint, run_config, "--run-config")))
    results = run_results(checkpoint)
    classes = list(model.hparams.class_names)
    return {
        "fer.metadata_version": METADATA_VERSION,
        "fer.class_names": classes,
        "fer.pipeline": pipeline.to_dict(),
        "fer.input": {
            "name": INPUT,
            "layout": "NCHW",
            "dtype": "uint8",
            "shape": ["N", pipeline.channels, pipeline.size, pipeline.size],
            "channels": "gray" if pipeline.color == "gray" else "RGB",
            "range": [0, 255],
            "normalization": "inside the model (mean/std of fer.pipeline)",
        },
        "fer.output": {
            "name": OUTPUT,
            "shape": ["N", len(classes)],
            "what": "softmax probabilities in fer.class_names order",
            "tta_flip": bool(model.hparams.get("tta_flip")),  # the mean of each crop's and its mirror's
            # post-hoc logit adjustment inside the model: probabilities divided by prior^tau (tau fitted on validation)
            "logit_adjustment": _adjustment(model.hparams.get("logit_adjustment")),
        },
        "fer.backbone": inference.get("backbone") or "",
        "fer.training": {
            "data": inference.get("data"),
            "train_sources": inference.get("train_sources"),
            "protocol": inference.get("protocol"),
            "seed": inference.get("seed"),
            "synthetic_data": _first(inference.get("synthetic_data"), (results or {}).get("synthetic_data")),
            "checkpoint": checkpoint.name,
        },
        "fer.test_metrics": tested_metrics(results, checkpoint),
        "fer.framework_version": __version__,
    }


def _adjustment(adjustment: dict | None) -> dict | None:
    """What an exported model's user needs to know of its logit adjustment (None: not adjusted)."""
    if not adjustment:
        return None
    return {k: adjustment[k] for k in ("tau", "prior", "fitted_on", "val_images") if k in adjustment}


def _first(*values):
    """The first value that is not None (a known False counts)."""
    return next((v for v in values if v is not None), None)


def export_onnx(model, pipeline: FacePipeline, meta: dict, out: Path) -> None:
    """Write the ONNX model (dynamic batch, weights inside the file) with `meta` as its metadata, atomically."""
    import onnx

    example = torch.zeros(2, pipeline.channels, pipeline.size, pipeline.size, dtype=torch.uint8)
    batch = torch.export.Dim("batch", min=1)
    # The exporter reports its steps on stdout: kept quiet, shown when it fails.
    log = io.StringIO()
    try:
        with contextlib.redirect_stdout(log), torch.no_grad():
            program = torch.onnx.export(
                Probabilities(model).eval(),
                (example,),
                dynamo=True,
                input_names=[INPUT],
                output_names=[OUTPUT],
                dynamic_shapes=({0: batch},),
                optimize=True,
            )
    except Exception:
        print(log.getvalue())
        raise
    proto = program.model_proto
    proto.doc_string = f"ferlab expression classifier ({meta['fer.backbone']}): uint8 face crops -> probabilities"
    onnx.helper.set_model_props(proto, {k: v if isinstance(v, str) else json.dumps(v) for k, v in meta.items()})
    onnx.checker.check_model(proto)
    with atomic_path(out) as tmp:
        onnx.save_model(proto, tmp)


def export(checkpoint: str | Path, out: str | Path | None = None, fmt: str = "onnx", run_config: str | None = None):
    """Export `checkpoint` to `out` (default `<checkpoint stem>.onnx` beside it) and write the model card beside
    it; returns (model path, card path)."""
    from fer.deploy.modelcard import model_card

    checkpoint = Path(checkpoint).expanduser()
    model, pipeline = load_classifier(checkpoint, run_config, options=("--checkpoint", "--run-config"))
    out = Path(out).expanduser() if out else checkpoint.with_suffix(f".{fmt}")
    meta = describe(model, pipeline, checkpoint, run_config)
    export_onnx(model, pipeline, meta, out)
    card = out.with_suffix(".md")
    atomic_write_text(card, model_card(meta, out.name))
    return out, card


def main(argv: list[str] | None = None) -> int:
    """`python -m fer.export` on `argv` (default: the command line): writes the model and its card; returns 0."""
    p = argparse.ArgumentParser(
        prog="python -m fer.export", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--checkpoint", required=True, help="a train.py checkpoint (<run>/checkpoints/*.ckpt)")
    p.add_argument("--format", choices=FORMATS, default="onnx")
    p.add_argument("--out", default=None, help="the model file (default: <checkpoint stem>.onnx beside it)")
    p.add_argument("--run-config", default=None, help="an older checkpoint's run .hydra/config.yaml, if not beside it")
    args = p.parse_args(argv)
    model, card = export(args.checkpoint, args.out, args.format, args.run_config)
    print(f"model: {model}\nmodel card: {card}")
    return 0


if __name__ == "__main__":
    from fer.errors import cli_main

    cli_main(main)
