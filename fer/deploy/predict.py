"""Classify the faces in images, videos and camera frames with a trained classifier; one JSON line per face.

    python -m fer.predict --checkpoint <run>/checkpoints/<best>.ckpt <image, folder or video> [...]
    python -m fer.predict --model model.onnx <image, folder or video> [...]        (onnxruntime, no torch)
    python -m fer.predict --model model.onnx --camera 0 --annotate out.mp4

Faces are found, cropped and resized by the face pipeline saved inside the checkpoint or the exported model
(fer/faces/pipeline.py), exactly as the training images were; `--detector` and `--on-no-face` change how faces
are found. A checkpoint from before checkpoints described themselves needs its run's `.hydra/config.yaml`
(beside it, or `--run-config`).

Inputs: image files, folders (their images, recursively) and video files (by suffix: .mp4, .avi, .mov, .mkv,
.webm, ...); `--camera INDEX` reads a camera until interrupted. Each face is a line with `file`, `box`
([x, y, w, h]), `face_found` (null when no detector ran: a whole-image or fixed-crop pipeline, `detector: none`),
`label` and `probs`; video lines add `frame` (index in the video) and `time`
(seconds). With no face found, the centre crop is predicted with `face_found: false` (`on_no_face=center`)
or the image or frame gets one line `{"faces": 0, "error": "no face found"}` (`skip`): never left out.
`--csv` writes the same as CSV (probabilities in `p_<class>` columns).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from fer.deploy.predictors import Predictor, load_predictor
from fer.deploy.video import AnnotatedVideo, Frame, VideoFrames, is_video
from fer.errors import UserError
from fer.faces.detection import DETECTORS, NO_FACE_POLICIES, FaceModelError, get_detector
from fer.faces.images import IMAGE_SUFFIXES, BadImageError
from fer.faces.pipeline import Face, FacePipeline

NO_FACE = {"faces": 0, "error": "no face found"}


class MissingInputError(UserError, FileNotFoundError):
    """An input path that does not exist."""


def inputs(paths: list[str]) -> list[Path]:
    """Image and video files: the paths given, folders expanded to their images."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise MissingInputError(
                    f"{p}: the folder holds no images ({', '.join(sorted(IMAGE_SUFFIXES))}, searched recursively); "
                    "video files are given one by one"
                )
            files += found
        elif p.is_file():
            files.append(p)
        else:
            raise MissingInputError(f"{p}: no such image, video or folder")
    return files


def face_row(names: list[str], face: Face, probs: np.ndarray, detector: str = "haar") -> dict:
    """One face's line; with `detector: none` (the whole image or a fixed crop) no detector ran, so whether a
    face is there is unknown: `face_found` is null."""
    return {
        "box": [int(v) for v in face.box],
        "face_found": None if detector == "none" else face.found,
        "label": names[int(np.argmax(probs))],
        "probs": {n: float(v) for n, v in zip(names, probs, strict=True)},
    }


def face_rows(predictor: Predictor, pipeline: FacePipeline, image: np.ndarray) -> list[dict]:
    """One row per face of the image (every face through the network in one batch); [] when there is none."""
    faces = pipeline.all_faces(image)
    if not faces:
        return []
    probs = predictor.probabilities(pipeline.batch([f.crop for f in faces]))
    detector = pipeline.faces.detector
    return [face_row(predictor.class_names, f, p, detector) for f, p in zip(faces, probs, strict=True)]


def frame_rows(
    predictor: Predictor, pipeline: FacePipeline, frames: Iterable[Frame], batch: int = 32
) -> Iterator[tuple[Frame, list[dict]]]:
    """Each frame with its face rows, in frame order; the faces of consecutive frames go through the network
    together, `batch` faces (or more, the last frame's all) at a time."""
    pending: list[tuple[Frame, list[Face]]] = []
    waiting = 0
    for frame in frames:
        faces = pipeline.all_faces(pipeline.from_bgr(frame.image))
        pending.append((frame, faces))
        waiting += len(faces)
        if waiting >= batch:
            yield from _predict_frames(predictor, pipeline, pending)
            pending, waiting = [], 0
    yield from _predict_frames(predictor, pipeline, pending)


def _predict_frames(predictor, pipeline, pending) -> Iterator[tuple[Frame, list[dict]]]:
    crops = [f.crop for _, faces in pending for f in faces]
    probs = predictor.probabilities(pipeline.batch(crops)) if crops else []
    i = 0
    for frame, faces in pending:
        rows = [face_row(predictor.class_names, f, probs[i + k], pipeline.faces.detector) for k, f in enumerate(faces)]
        yield frame, rows
        i += len(faces)


def video_rows(
    predictor: Predictor,
    pipeline: FacePipeline,
    source: str | Path | int,
    every: int = 1,
    batch: int = 32,
    annotate: str | None = None,
) -> Iterator[dict]:
    """Rows of every `every`-th frame of a video file or camera; `annotate`: also write the video with the
    boxes and labels drawn (at the source's frame rate / `every`)."""
    frames = VideoFrames(source, every)
    writer = AnnotatedVideo(annotate, (frames.fps or 25.0) / frames.every) if annotate else None
    done = False
    try:
        for frame, rows in frame_rows(predictor, pipeline, frames, batch):
            head = {"file": frames.name, "frame": frame.index, "time": frame.time}
            for row in rows or [NO_FACE]:
                yield {**head, **row}
            if writer:
                writer.write(frame.image, rows)
        done = True
    finally:  # a camera runs until interrupted: what it wrote is kept; a file's video only when complete
        if writer:
            writer.close(keep=done or frames.camera)


def predict(
    predictor: Predictor,
    paths: list[str],
    pipeline: FacePipeline | None = None,
    camera: int | None = None,
    every: int = 1,
    batch: int | None = None,
    annotate: str | None = None,
) -> Iterator[dict]:
    """Rows for the images, folders and videos in `paths`, then the camera's (`pipeline`: the predictor's own
    unless given)."""
    pipeline = pipeline or predictor.pipeline
    for path in inputs(paths):
        if is_video(path):
            yield from video_rows(predictor, pipeline, path, every, batch or 32, annotate)
            continue
        try:
            image = pipeline.load(path)
        except BadImageError as e:
            yield {"file": str(path), "error": str(e)}
            continue
        rows = face_rows(predictor, pipeline, image)
        for row in rows or [NO_FACE]:  # no row: only with on_no_face=skip; said, never silently dropped
            yield {"file": str(path), **row}
    if camera is not None:  # low latency: one frame at a time unless --batch says otherwise
        yield from video_rows(predictor, pipeline, camera, every, batch or 1, annotate)


def check_detector_files(faces) -> None:
    """A DNN detector's model files, named as fer.predict takes them (`--detector-model`, `--detector-config`)."""
    try:
        get_detector(faces)
    except FaceModelError:
        files = "--detector-model <file>" + (" --detector-config <deploy.prototxt>" if faces.config or
                                              faces.detector == "opencv_dnn" else "")  # fmt: skip
        given = ", ".join(f"{k} {v}" for k, v in (("model", faces.model), ("config", faces.config)) if v)
        raise UserError(
            f"--detector {faces.detector} needs its model file{f' ({given}: not found)' if given else ''}: pass "
            f"{files} (where to download it: conf/faces/{faces.detector}.yaml)"
        ) from None


class CsvRows:
    """Rows as CSV: one column per field, the box as x, y, w, h, probabilities as p_<class>."""

    def __init__(self, out, class_names: list[str]):
        self.probs = [f"p_{c}" for c in class_names]
        fields = ["file", "frame", "time", "x", "y", "w", "h", "face_found", "label", *self.probs, "faces", "error"]
        self.writer = csv.DictWriter(out, fields)
        self.writer.writeheader()

    def __call__(self, row: dict) -> None:
        flat = {k: v for k, v in row.items() if k not in ("box", "probs")}
        flat |= dict(zip("xywh", row.get("box", ()), strict=False))
        flat |= {f"p_{c}": v for c, v in (row.get("probs") or {}).items()}
        self.writer.writerow(flat)


def main(argv: list[str] | None = None) -> int:
    """`python -m fer.predict` on `argv` (default: the command line): one row per face to stdout. Returns 0, or 1
    when no face was predicted, 2 on a user error."""
    p = argparse.ArgumentParser(
        prog="python -m fer.predict", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--checkpoint", help="a train.py checkpoint (runs on torch)")
    which.add_argument("--model", help="an exported model (python -m fer.export): runs on onnxruntime")
    p.add_argument("--run-config", default=None, help="an older checkpoint's run .hydra/config.yaml, if not beside it")
    p.add_argument("--detector", choices=DETECTORS, default=None, help="another face detector than training's")
    p.add_argument("--detector-model", default=None, metavar="FILE", help="yunet: its .onnx; opencv_dnn: .caffemodel")
    p.add_argument("--detector-config", default=None, metavar="FILE", help="opencv_dnn: deploy.prototxt")
    p.add_argument("--on-no-face", choices=NO_FACE_POLICIES, default=None, help="centre crop, or a no-face line")
    p.add_argument("--camera", type=int, default=None, metavar="INDEX", help="read this camera until interrupted")
    p.add_argument("--every", type=int, default=1, metavar="N", help="videos: every N-th frame (default 1)")
    p.add_argument("--batch", type=int, default=None, help="videos: faces per network call (32; camera 1)")
    p.add_argument("--annotate", default=None, metavar="OUT.mp4", help="write the video with boxes and labels")
    p.add_argument("--csv", action="store_true", help="CSV rows instead of JSON lines")
    p.add_argument("paths", nargs="*", help="images, folders and video files")
    args = p.parse_args(argv)
    if not args.paths and args.camera is None:
        p.error("give images, folders or videos, or --camera INDEX")
    if args.every < 1 or (args.batch is not None and args.batch < 1):
        p.error("--every and --batch take a positive number")
    if args.annotate and sum(map(is_video, map(Path, args.paths))) + (args.camera is not None) != 1:
        p.error("--annotate writes one video: give exactly one video file or --camera")
    predicted = failed = 0
    rows = None
    try:
        predictor = load_predictor(args.checkpoint, args.model, args.run_config)
        pipeline = predictor.pipeline.with_faces(
            args.detector, args.on_no_face, args.detector_model, args.detector_config
        )
        check_detector_files(pipeline.faces)  # before any input is read
        write = CsvRows(sys.stdout, predictor.class_names) if args.csv else _json_line
        rows = predict(predictor, args.paths, pipeline, args.camera, args.every, args.batch, args.annotate)
        for row in rows:
            write(row)
            sys.stdout.flush()
            failed, predicted = failed + ("error" in row), predicted + ("error" not in row)
    except KeyboardInterrupt:  # how a camera's stream ends: finish its annotated video
        if rows is not None:
            rows.close()
        if args.camera is None:
            raise
    except UserError as e:  # a bad checkpoint or model; a missing input, an unreadable video (after the rows before it)
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not predicted:  # nothing it was asked to do succeeded
        print(f"error: no face was predicted ({failed} input(s) failed; see their error lines)", file=sys.stderr)
        return 1
    return 0


def _json_line(row: dict) -> None:
    print(json.dumps(row))


if __name__ == "__main__":
    from fer.errors import cli_main

    cli_main(main)
