"""The framework's classifier on a study's images (`report --checkpoint`), scored as `generate.py task=gan_eval`
scores GAN samples: the checkpoint's network through `load_classifier`, probabilities through
`fer.models.classifier.embed` (as gan_eval).

The study's images are face crops already (real ones cropped by the face pipeline, generated ones whole), so they
are taken whole, resized to the classifier's input size and colour as its pipeline resizes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from fer.classes import CLASSES
from fer.deploy.checkpoint import load_classifier
from fer.faces.detection import FaceOptions
from fer.faces.pipeline import FacePipeline
from fer.models.classifier import embed
from fer.study.db import StudyError

BATCH = 64


def score_images(folder: Path, items: list[dict], checkpoint: str, run_config: str | None = None) -> dict:
    """{blind id: class probabilities (7,)} for every image of the study."""
    model, pipeline = load_classifier(checkpoint, run_config, ("--checkpoint", "--run-config"))
    names = tuple(model.hparams.class_names)
    if names != CLASSES:
        raise StudyError(f"--checkpoint {checkpoint}: classes {list(names)}, not the framework's {list(CLASSES)}")
    whole = FacePipeline(FaceOptions(detector="none"), pipeline.size, pipeline.color)
    crops = [whole.training_face(whole.load(folder / it["file"])).crop for it in items]
    probs, _ = embed(model, np.stack(crops), BATCH, torch.device("cpu"))
    return {it["id"]: probs[i].numpy() for i, it in enumerate(items)}
