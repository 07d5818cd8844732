"""Video in and out for `fer.deploy.predict`, through OpenCV's VideoCapture and VideoWriter (FFmpeg inside).

`VideoFrames` reads a video file or a camera and yields every N-th frame with its index and time: a file's
time is index / fps (the container's frame rate), a camera's the seconds since it opened. A file OpenCV
cannot open or decode is one `BadVideoError` naming it. `AnnotatedVideo` writes frames with the face boxes
and labels drawn, under a temporary name renamed into place when complete.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from fer.errors import UserError
from fer.utils.io import publish

VIDEO_SUFFIXES = {".mp4", ".m4v", ".avi", ".mov", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp", ".ts"}
CAMERA_FPS = 30.0  # a camera that reports no frame rate


class BadVideoError(UserError, ValueError):
    """A video file or camera that OpenCV cannot open, or a file with no decodable frame."""


def is_video(path: Path) -> bool:
    """Whether the file's suffix is a video container's (VIDEO_SUFFIXES)."""
    return path.suffix.lower() in VIDEO_SUFFIXES


@dataclass(frozen=True)
class Frame:
    """One decoded frame of a video or camera."""

    index: int  # in the source, counting every frame (also the ones --every skips)
    time: float  # seconds
    image: np.ndarray  # BGR, as decoded


class VideoFrames:
    """Every `every`-th frame of a video file (a path) or a camera (an int index)."""

    def __init__(self, source: str | Path | int, every: int = 1):
        self.camera = isinstance(source, int)
        self.name = f"camera:{source}" if self.camera else str(source)
        self.every = max(1, int(every))
        if not self.camera and not Path(source).is_file():
            raise BadVideoError(f"{source}: no such video file")
        self.capture = cv2.VideoCapture(source if self.camera else str(source))
        if not self.capture.isOpened():
            what = "camera" if self.camera else "video (not a video, corrupt, or a codec this OpenCV lacks)"
            raise BadVideoError(f"{self.name}: OpenCV cannot open this {what}")
        fps = self.capture.get(cv2.CAP_PROP_FPS)
        self.fps = fps if fps and math.isfinite(fps) and fps > 0 else (CAMERA_FPS if self.camera else None)

    def __iter__(self) -> Iterator[Frame]:
        start, index = time.monotonic(), 0
        try:
            while True:
                # grab() alone for the frames --every skips: no colour conversion, no copy
                if index % self.every and self.capture.grab():
                    index += 1
                    continue
                ok, image = self.capture.read()
                if not ok or image is None:
                    break
                t = time.monotonic() - start if self.camera or not self.fps else index / self.fps
                yield Frame(index, round(t, 4), image)
                index += 1
        finally:
            self.capture.release()
        if index == 0 and not self.camera:
            raise BadVideoError(f"{self.name}: no frame could be decoded (an empty or corrupt video)")


GREEN, ORANGE = (80, 200, 60), (0, 140, 255)  # BGR: a detected face, a centre crop (no face found)


def draw(image: np.ndarray, rows: list[dict]) -> np.ndarray:
    """The frame with each face's box and `label probability` drawn (a copy)."""
    out = image.copy()
    scale = max(0.4, min(out.shape[:2]) / 600)
    for row in rows:
        if "box" not in row:
            continue
        x, y, w, h = row["box"]
        color = GREEN if row.get("face_found") else ORANGE
        thick = max(1, round(2 * scale))
        cv2.rectangle(out, (x, y), (x + w, y + h), color, thick)
        text = f"{row['label']} {row['probs'][row['label']]:.2f}"
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thick)
        top = max(0, y - th - base - 2)
        cv2.rectangle(out, (x, top), (x + tw + 2, top + th + base + 2), color, cv2.FILLED)
        cv2.putText(out, text, (x + 1, top + th + 1), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thick, cv2.LINE_AA)
    return out


class AnnotatedVideo:
    """An MPEG-4 video written frame by frame (the size of the first frame); in place only once closed."""

    def __init__(self, path: str | Path, fps: float):
        self.path = Path(path).expanduser()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # The suffix stays last: VideoWriter picks the container from it.
        self.tmp = self.path.with_name(f".{self.path.stem}.{os.getpid()}.tmp{self.path.suffix}")
        self.fps, self.writer, self.frames = fps, None, 0

    def write(self, image: np.ndarray, rows: list[dict]) -> None:
        """Append the BGR frame with its face rows drawn (`draw`); the first frame opens the writer."""
        if self.writer is None:
            h, w = image.shape[:2]
            self.writer = cv2.VideoWriter(str(self.tmp), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (w, h))
            if not self.writer.isOpened():
                raise BadVideoError(f"--annotate {self.path}: OpenCV cannot write an MPEG-4 video there")
        self.writer.write(draw(image, rows))
        self.frames += 1

    def close(self, keep: bool = True) -> None:
        """Finish the file and move it into place (`keep`), or delete it."""
        if self.writer is not None:
            self.writer.release()
        if keep and self.frames:
            publish(self.tmp, self.path)
        elif self.tmp.exists():
            self.tmp.unlink()
