"""Classify the faces in images with a trained classifier; one JSON line per face.

    python -m fer.predict --checkpoint <run>/checkpoints/<best>.ckpt <image or folder> [...]

The network, input size, colour and face detector come from the training run's saved config
(`<run>/.hydra/config.yaml`, or `--run-config`); `--detector` overrides the detector.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import torch
from omegaconf import OmegaConf

from fer.data.faces import DETECTORS, FaceOptions, center_box, crop_box, detect_faces, expand_box
from fer.data.images import BadImageError, load_image
from fer.data.readers._common import IMAGE_SUFFIXES
from fer.models.checkpoint import find_run_config, load_classifier


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


def face_boxes(image: np.ndarray, opts: FaceOptions) -> list[tuple[tuple[int, int, int, int], bool]]:
    """Every face's crop box (largest first); the centre crop, marked not found, when there is none."""
    h, w = image.shape[:2]
    if opts.detector == "none":
        return [(expand_box(center_box(h, w), h, w, 0.0, True), True)]
    boxes = [expand_box(b, h, w, opts.margin, opts.square) for b in detect_faces(image, opts)]
    return [(b, True) for b in boxes] or [(center_box(h, w), False)]


@torch.no_grad()
def predict(checkpoint: str, paths: list[str], run_config: str | None = None, detector: str | None = None):
    model, inputs = load_classifier(checkpoint, run_config, options=("--checkpoint", "--run-config"))
    run_cfg = OmegaConf.load(find_run_config(Path(checkpoint).expanduser(), run_config, "--run-config"))
    faces = OmegaConf.to_container(run_cfg.faces, resolve=True)
    opts = FaceOptions.from_config({**faces, **({"detector": detector} if detector else {})})
    size, color, names = inputs["image_size"], inputs["color"], inputs["class_names"]
    for path in image_files(paths):
        try:
            image = load_image(path, color)
        except BadImageError as e:
            yield {"file": str(path), "error": str(e)}
            continue
        for box, found in face_boxes(image, opts):
            face = cv2.resize(crop_box(image, box), (size, size), interpolation=cv2.INTER_AREA)
            face = face[:, :, None] if face.ndim == 2 else face[:, :, ::-1]  # BGR -> RGB as in the cache
            x = torch.from_numpy(np.ascontiguousarray(face)).permute(2, 0, 1)[None]
            probs = model(x).softmax(-1)[0].tolist()
            yield {
                "file": str(path),
                "box": list(box),
                "face_found": found,
                "label": names[int(np.argmax(probs))],
                "probs": dict(zip(names, probs, strict=False)),
            }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m fer.predict", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--run-config", default=None, help="the training run's .hydra/config.yaml, if not beside it")
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
