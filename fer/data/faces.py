"""Face detection and cropping with OpenCV.

Detectors: `haar` (OpenCV's bundled frontal-face cascade), `none` (whole image, or a fixed `crop` box given as
fractions `[x0, y0, x1, y1]` of width and height, for synthetic sets and pre-cropped data).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import cv2
import numpy as np

DETECTORS = ("haar", "none")
NO_FACE_POLICIES = ("center", "skip")


@dataclass(frozen=True)
class FaceOptions:
    detector: str = "haar"
    margin: float = 0.2  # fraction of the face box added on each side
    square: bool = True
    crop: tuple[float, float, float, float] | None = None  # fixed box for detector=none
    on_no_face: str = "center"  # fall back to a centre crop, or skip the image
    min_face: float = 0.1  # smallest face side, as a fraction of the shorter image side
    scale_factor: float = 1.1
    min_neighbors: int = 5
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        if self.detector not in DETECTORS:
            raise ValueError(f"faces.detector={self.detector!r}; expected one of {DETECTORS}")
        if self.on_no_face not in NO_FACE_POLICIES:
            raise ValueError(f"faces.on_no_face={self.on_no_face!r}; expected one of {NO_FACE_POLICIES}")

    @classmethod
    def from_config(cls, cfg) -> "FaceOptions":
        d = dict(cfg or {})
        if d.get("crop") is not None:
            d["crop"] = tuple(float(v) for v in d["crop"])
        known = {k: d.pop(k) for k in list(d) if k in cls.__dataclass_fields__ and k != "extra"}
        return cls(**known, extra=d)

    def key(self) -> dict:
        """Everything that changes the crops (for the cache key)."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "extra"} | {"extra": dict(self.extra)}


@lru_cache(maxsize=1)
def _haar() -> cv2.CascadeClassifier:
    path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
    clf = cv2.CascadeClassifier(path)
    if clf.empty():
        raise RuntimeError(f"OpenCV's Haar cascade {path} did not load; install opencv-python-headless<5 (5.x ships none)")
    return clf


def detect_faces(gray: np.ndarray, opts: FaceOptions) -> list[tuple[int, int, int, int]]:
    """Face boxes (x, y, w, h), largest first."""
    if opts.detector == "none":
        return []
    side = int(min(gray.shape[:2]) * opts.min_face)
    boxes = _haar().detectMultiScale(gray, scaleFactor=opts.scale_factor, minNeighbors=opts.min_neighbors,
                                     minSize=(side, side))
    return sorted((tuple(int(v) for v in b) for b in boxes), key=lambda b: -b[2] * b[3])


def center_box(h: int, w: int) -> tuple[int, int, int, int]:
    side = min(h, w)
    return ((w - side) // 2, (h - side) // 2, side, side)


def expand_box(box, h: int, w: int, margin: float, square: bool) -> tuple[int, int, int, int]:
    x, y, bw, bh = box
    cx, cy = x + bw / 2, y + bh / 2
    bw, bh = bw * (1 + 2 * margin), bh * (1 + 2 * margin)
    if square:
        bw = bh = max(bw, bh)
    return (int(round(cx - bw / 2)), int(round(cy - bh / 2)), int(round(bw)), int(round(bh)))


def crop_box(image: np.ndarray, box) -> np.ndarray:
    """Crop with edge replication where the box leaves the image."""
    x, y, bw, bh = box
    h, w = image.shape[:2]
    pad = max(0, -x, -y, x + bw - w, y + bh - h)
    if pad:
        image = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        x, y = x + pad, y + pad
    return image[y:y + bh, x:x + bw]


def locate_face(image: np.ndarray, opts: FaceOptions) -> tuple[tuple[int, int, int, int] | None, bool]:
    """The crop box for an image and whether a face was found (always True for detector=none)."""
    h, w = image.shape[:2]
    if opts.detector == "none":
        if opts.crop is None:
            return (0, 0, w, h), True
        x0, y0, x1, y1 = opts.crop
        box = (int(x0 * w), int(y0 * h), int((x1 - x0) * w), int((y1 - y0) * h))
        return expand_box(box, h, w, 0.0, opts.square), True
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    faces = detect_faces(gray, opts)
    if faces:
        return expand_box(faces[0], h, w, opts.margin, opts.square), True
    if opts.on_no_face == "skip":
        return None, False
    return center_box(h, w), False


def crop_face(image: np.ndarray, opts: FaceOptions, size: int) -> tuple[np.ndarray | None, bool, tuple | None]:
    """Crop the (largest) face and resize to size x size. Returns (crop or None, face found, box)."""
    box, found = locate_face(image, opts)
    if box is None:
        return None, False, None
    face = crop_box(image, box)
    interp = cv2.INTER_AREA if face.shape[0] > size else cv2.INTER_LINEAR
    return cv2.resize(face, (size, size), interpolation=interp), found, box
