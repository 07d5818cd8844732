"""Face detection and cropping with OpenCV.

Detectors (`faces.detector`):
- `haar`: OpenCV's bundled frontal-face cascade (default; needs opencv 4.x, 5.x wheels ship no cascades).
- `opencv_dnn`: OpenCV's ResNet-10 SSD face model (the paper's detector); `config` = deploy.prototxt,
  `model` = res10_300x300_ssd_iter_140000.caffemodel, both supplied by the user.
- `yunet`: OpenCV's FaceDetectorYN with a user-supplied ONNX file (`model`).
- `none`: the whole image, or a fixed `crop` box `[x0, y0, x1, y1]` given as fractions of width and height
  (synthetic sets, FER2013 and other pre-cropped data).

Detector objects are built once per process (`get_detector` keeps them), never once per image.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from fer.errors import UserError

DETECTORS = ("haar", "opencv_dnn", "yunet", "none")
NO_FACE_POLICIES = ("center", "skip")

DNN_HELP = (
    "download deploy.prototxt and res10_300x300_ssd_iter_140000.caffemodel from OpenCV's samples/dnn/face_detector "
    "(https://github.com/opencv/opencv/tree/4.x/samples/dnn/face_detector: the prototxt is in the folder, "
    "download_weights.py / weights.meta4 name the caffemodel's URL) and set faces.config=<deploy.prototxt> "
    "faces.model=<res10_300x300_ssd_iter_140000.caffemodel>"
)
YUNET_HELP = (
    "download face_detection_yunet_2023mar.onnx from opencv_zoo "
    "(https://github.com/opencv/opencv_zoo/tree/main/models/face_detection_yunet) and set faces.model=<that file>"
)


class FaceModelError(UserError, ValueError):
    """A detector's model file is missing or unreadable; the message says where to get it."""


@dataclass(frozen=True)
class FaceOptions:
    """How faces are found and cropped (the `faces` config); keys this class does not know are kept in `extra`."""

    detector: str = "haar"
    margin: float = 0.2  # fraction of the face box added on each side
    square: bool = True
    crop: tuple[float, float, float, float] | None = None  # fixed box for detector=none
    on_no_face: str = "center"  # fall back to a centre crop, or skip the image
    min_face: float = 0.1  # smallest face side, as a fraction of the shorter image side
    scale_factor: float = 1.1  # haar
    min_neighbors: int = 5  # haar
    model: str | None = None  # opencv_dnn: .caffemodel; yunet: .onnx
    config: str | None = None  # opencv_dnn: deploy.prototxt
    score_threshold: float = 0.5  # opencv_dnn, yunet
    max_side: int = 480  # detect on a copy whose longer side is at most this (speed); 0 = full size
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self) -> None:
        if self.detector not in DETECTORS:
            raise ValueError(f"faces.detector={self.detector!r}; expected one of {DETECTORS}")
        if self.on_no_face not in NO_FACE_POLICIES:
            raise ValueError(f"faces.on_no_face={self.on_no_face!r}; expected one of {NO_FACE_POLICIES}")
        if self.margin < 0 or not 0 <= self.min_face < 1:
            raise ValueError(f"faces.margin={self.margin} must be >= 0 and faces.min_face={self.min_face} in [0, 1)")
        if self.crop is not None:
            x0, y0, x1, y1 = self.crop
            if not (0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1):
                raise ValueError(
                    f"faces.crop={list(self.crop)}: expected fractions 0 <= x0 < x1 <= 1, 0 <= y0 < y1 <= 1"
                )

    @classmethod
    def from_config(cls, cfg) -> FaceOptions:
        """Options from a `faces` mapping (or None for the defaults); `crop` becomes a tuple."""
        d = dict(cfg or {})
        if d.get("crop") is not None:
            d["crop"] = tuple(float(v) for v in d["crop"])
        known = {k: d.pop(k) for k in list(d) if k in cls.__dataclass_fields__ and k != "extra"}
        return cls(**known, extra=d)

    def key(self) -> dict:
        """Everything that changes the crops (for the cache key), including the model files' size and mtime."""
        k = {f: getattr(self, f) for f in self.__dataclass_fields__ if f != "extra"} | {"extra": dict(self.extra)}
        for f in ("model", "config"):
            p = getattr(self, f)
            if p and Path(p).is_file():
                st = os.stat(p)
                k[f + "_stat"] = [st.st_size, st.st_mtime_ns]
        return k


# ---------------------------------------------------------------------------------------------- detectors

BUILT: Counter = Counter()  # detectors built in this process, by detector name (tests check "once per process")
_CACHE: dict[str, Detector] = {}


def _need_file(path: str | None, what: str, help_text: str) -> str:
    if not path:
        raise FaceModelError(f"faces.detector needs {what} (not set); {help_text}")
    if not Path(path).expanduser().is_file():
        raise FaceModelError(f"{what} {path} not found; {help_text}")
    return str(Path(path).expanduser())


def _short(e: Exception) -> str:
    return " ".join(str(e).split())  # OpenCV's messages span lines


def _bgr(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image


class Detector:
    """Finds face boxes (x, y, w, h) in an image (grey or BGR), largest first, in that image's pixels."""

    def __init__(self, opts: FaceOptions):
        self.opts = opts
        BUILT[opts.detector] += 1

    def __call__(self, image: np.ndarray) -> list[tuple[int, int, int, int]]:
        h, w = image.shape[:2]
        scale = 1.0
        if self.opts.max_side and max(h, w) > self.opts.max_side:
            scale = self.opts.max_side / max(h, w)
            image = cv2.resize(
                image, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA
            )
        min_side = self.opts.min_face * min(image.shape[:2])
        boxes = [b for b in self.detect(image) if min(b[2], b[3]) >= min_side]
        boxes = [tuple(int(round(v / scale)) for v in b) for b in boxes]
        return sorted(boxes, key=lambda b: -b[2] * b[3])

    def detect(self, image: np.ndarray) -> list[tuple[float, float, float, float]]:
        """Raw face boxes (x, y, w, h) in `image`'s pixels, unfiltered and unsorted; subclasses implement it."""
        raise NotImplementedError


class HaarDetector(Detector):
    """OpenCV's bundled frontal-face Haar cascade (`scale_factor`, `min_neighbors`)."""

    def __init__(self, opts: FaceOptions):
        super().__init__(opts)
        path = cv2.data.haarcascades + "haarcascade_frontalface_default.xml"
        self.clf = cv2.CascadeClassifier(path)
        if self.clf.empty():
            raise FaceModelError(
                f"OpenCV's Haar cascade {path} did not load; install opencv-python-headless<5 "
                "(5.x wheels ship no cascades)"
            )

    def detect(self, image):
        gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        side = max(1, int(min(gray.shape[:2]) * self.opts.min_face))
        boxes = self.clf.detectMultiScale(
            gray, scaleFactor=self.opts.scale_factor, minNeighbors=self.opts.min_neighbors, minSize=(side, side)
        )
        return [tuple(b) for b in np.asarray(boxes).reshape(-1, 4)]


def parse_ssd(out: np.ndarray, w: int, h: int, threshold: float) -> list[tuple[float, float, float, float]]:
    """Boxes from the ResNet-10 SSD output (1, 1, N, 7): [_, class, score, x0, y0, x1, y1] in [0, 1]."""
    boxes = []
    for det in np.asarray(out).reshape(-1, 7):
        if det[2] < threshold:
            continue
        x0, y0, x1, y1 = np.clip(det[3:7], 0.0, 1.0) * [w, h, w, h]
        if x1 > x0 and y1 > y0:
            boxes.append((float(x0), float(y0), float(x1 - x0), float(y1 - y0)))
    return boxes


class DnnDetector(Detector):
    """OpenCV's ResNet-10 SSD face model from the user's `config` (prototxt) and `model` (caffemodel)."""

    def __init__(self, opts: FaceOptions):
        super().__init__(opts)
        config = _need_file(opts.config, "faces.config (deploy.prototxt)", DNN_HELP)
        model = _need_file(opts.model, "faces.model (res10_300x300_ssd_iter_140000.caffemodel)", DNN_HELP)
        try:
            self.net = cv2.dnn.readNetFromCaffe(config, model)
        except cv2.error as e:
            raise FaceModelError(f"OpenCV could not load {config} + {model} ({_short(e)}); {DNN_HELP}") from None

    def detect(self, image):
        bgr = _bgr(image)
        h, w = bgr.shape[:2]
        blob = cv2.dnn.blobFromImage(cv2.resize(bgr, (300, 300)), 1.0, (300, 300), (104.0, 177.0, 123.0))
        self.net.setInput(blob)
        return parse_ssd(self.net.forward(), w, h, self.opts.score_threshold)


def parse_yunet(faces: np.ndarray | None) -> list[tuple[float, float, float, float]]:
    """Boxes from FaceDetectorYN.detect's (N, 15) rows: x, y, w, h, 5 landmarks, score."""
    if faces is None:
        return []
    return [tuple(float(v) for v in row[:4]) for row in np.asarray(faces).reshape(-1, 15) if row[2] > 0 and row[3] > 0]


class YuNetDetector(Detector):
    """OpenCV's FaceDetectorYN with the user's YuNet ONNX `model`."""

    def __init__(self, opts: FaceOptions):
        super().__init__(opts)
        model = _need_file(opts.model, "faces.model (YuNet .onnx)", YUNET_HELP)
        try:
            self.net = cv2.FaceDetectorYN.create(model, "", (320, 320), opts.score_threshold, 0.3, 5000)
        except cv2.error as e:
            raise FaceModelError(f"OpenCV could not load {model} ({_short(e)}); {YUNET_HELP}") from None

    def detect(self, image):
        bgr = _bgr(image)
        self.net.setInputSize((bgr.shape[1], bgr.shape[0]))
        _, faces = self.net.detect(bgr)
        return parse_yunet(faces)


_CLASSES = {"haar": HaarDetector, "opencv_dnn": DnnDetector, "yunet": YuNetDetector}


def get_detector(opts: FaceOptions) -> Detector | None:
    """This process's detector for these options, built on first use (None for detector=none)."""
    if opts.detector == "none":
        return None
    key = json.dumps(opts.key(), sort_keys=True, default=str)
    if key not in _CACHE:
        _CACHE[key] = _CLASSES[opts.detector](opts)
    return _CACHE[key]


def detect_faces(image: np.ndarray, opts: FaceOptions) -> list[tuple[int, int, int, int]]:
    """Face boxes (x, y, w, h), largest first."""
    det = get_detector(opts)
    return [] if det is None else det(image)


# ---------------------------------------------------------------------------------------------- crops


def center_box(h: int, w: int) -> tuple[int, int, int, int]:
    """The largest centred square (x, y, side, side) of an h x w image."""
    side = min(h, w)
    return ((w - side) // 2, (h - side) // 2, side, side)


def expand_box(box, h: int, w: int, margin: float, square: bool) -> tuple[int, int, int, int]:
    """`box` (x, y, w, h) grown by `margin` of its size on each side about its centre, squared on the longer side
    if `square`; it may leave the image (`crop_box` pads)."""
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
    return image[y : y + bh, x : x + bw]


def locate_face(image: np.ndarray, opts: FaceOptions) -> tuple[tuple[int, int, int, int] | None, bool]:
    """The crop box for an image and whether a face was found (always True for detector=none)."""
    h, w = image.shape[:2]
    if opts.detector == "none":
        if opts.crop is None:
            return (0, 0, w, h), True
        x0, y0, x1, y1 = opts.crop
        box = (int(x0 * w), int(y0 * h), int((x1 - x0) * w), int((y1 - y0) * h))
        return expand_box(box, h, w, 0.0, opts.square), True
    faces = detect_faces(image, opts)
    if faces:
        return expand_box(faces[0], h, w, opts.margin, opts.square), True  # the largest face
    if opts.on_no_face == "skip":
        return None, False
    return center_box(h, w), False
