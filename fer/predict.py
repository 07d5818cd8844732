"""Classify the faces in images with a trained classifier; one JSON line per face.

    python -m fer.predict --checkpoint <run>/checkpoints/<best>.ckpt <image or folder> [...]

Faces are found, cropped, resized and normalized by the face pipeline saved inside the checkpoint
(fer/data/pipeline.py), exactly as the training images were; `--detector` swaps the detector. A checkpoint
from before checkpoints described themselves needs its run's `.hydra/config.yaml` (beside it, or
`--run-config`). A face the detector did not find is reported with `face_found: false` (the centre crop).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from fer.data.faces import DETECTORS
from fer.data.images import BadImageError
from fer.data.pipeline import FacePipeline
from fer.data.readers._common import IMAGE_SUFFIXES
from fer.inference import Predictor, load_predictor


def image_files(paths: list[str]) -> list[Path]:
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
        elif p.is_file():
            files.append(p)
        else:
            raise FileNotFoundError(f"{p}: no such image or folder")
    return files


def face_rows(predictor: Predictor, pipeline: FacePipeline, image: np.ndarray) -> list[dict]:
    """One row per face of the image (every face through the network in one batch); [] when there is none."""
    faces = pipeline.all_faces(image)
    if not faces:
        return []
    probs = predictor.probabilities(pipeline.batch([f.crop for f in faces]))
    names = predictor.class_names
    return [
        {
            "box": [int(v) for v in f.box],
            "face_found": f.found,
            "label": names[int(np.argmax(p))],
            "probs": {n: float(v) for n, v in zip(names, p, strict=True)},
        }
        for f, p in zip(faces, probs, strict=True)
    ]


def predict(
    checkpoint: str, paths: list[str], run_config: str | None = None, detector: str | None = None
) -> Iterator[dict]:
    predictor = load_predictor(checkpoint, run_config)
    pipeline = predictor.pipeline.with_detector(detector)
    for path in image_files(paths):
        try:
            image = pipeline.load(path)
        except BadImageError as e:
            yield {"file": str(path), "error": str(e)}
            continue
        rows = face_rows(predictor, pipeline, image)
        if not rows:  # only with faces.on_no_face=skip: said, never silently dropped
            yield {"file": str(path), "error": "no face found"}
        for row in rows:
            yield {"file": str(path), **row}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m fer.predict", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--run-config", default=None, help="an older checkpoint's run .hydra/config.yaml, if not beside it")
    p.add_argument("--detector", choices=DETECTORS, default=None)
    p.add_argument("paths", nargs="+")
    args = p.parse_args(argv)
    predicted = failed = 0
    try:
        for row in predict(args.checkpoint, args.paths, args.run_config, args.detector):
            print(json.dumps(row), flush=True)
            failed, predicted = failed + ("error" in row), predicted + ("error" not in row)
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not predicted:  # nothing it was asked to do succeeded
        print(f"error: no face was predicted ({failed} input(s) failed; see their error lines)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    from fer.errors import cli_main

    cli_main(main)
