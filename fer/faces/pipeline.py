"""One face pipeline: from an image file to the network's input, the same in training and in use.

`FacePipeline` holds everything between a photo and the network: the face options (detector, crop, margin,
square), the crop size, the colour, the resize rule and the backbone's mean/std. The face cache crops training
images with it, `fer.deploy.predict` and `fer.deploy.export` use the copy saved inside the checkpoint, and GAN
evaluation takes its size and colour from there, so what a model sees in use is what it saw in training.

Only OpenCV, NumPy and Pillow (image files, fer/faces/images.py) here: an exported model predicts without torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import cv2
import numpy as np

from fer.errors import ConfigError
from fer.faces.detection import FaceOptions, center_box, crop_box, detect_faces, expand_box, locate_face
from fer.faces.images import BadImageError, load_image

COLORS = ("gray", "rgb")
# Shrinking averages pixel areas (no aliasing); enlarging interpolates bilinearly. Decided by the crop's height.
RESIZE = "area when shrinking, linear when enlarging"
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def check_image_size(value, key: str = "data.image_size") -> None:
    """A face crop's side in pixels: a positive integer (`--size 0` would reach OpenCV as an empty image)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{key}={value!r}: expected a positive image size in pixels (e.g. 224)")


def check_color(value, key: str = "data.color") -> None:
    """A crop's colour: one of COLORS."""
    if value not in COLORS:
        raise ConfigError(f"{key}={value!r}: expected one of {', '.join(COLORS)}")


@dataclass(frozen=True)
class Face:
    """One face of an image: its crop box (x, y, w, h) in the image, whether a detector found it, the crop."""

    box: tuple[int, int, int, int]
    found: bool
    crop: np.ndarray  # (size, size, channels) uint8; RGB or grey


@dataclass(frozen=True)
class FacePipeline:
    """Everything from an image to the network's input: face options, crop size, colour, the backbone's mean/std."""

    faces: FaceOptions = field(default_factory=FaceOptions)
    size: int = 224
    color: str = "gray"  # what the crops hold; grey crops are replicated to the trunk's channels by the model
    mean: tuple[float, ...] = IMAGENET_MEAN  # the backbone's, per input channel, for pixels in [0, 1]
    std: tuple[float, ...] = IMAGENET_STD

    def __post_init__(self) -> None:
        if self.color not in COLORS:
            raise ValueError(f"color={self.color!r}; expected one of {COLORS}")
        if int(self.size) < 1:
            raise ValueError(f"size={self.size}; expected a positive number of pixels")

    @property
    def channels(self) -> int:
        """Channels of a crop: 1 for grey, 3 for RGB."""
        return 1 if self.color == "gray" else 3

    # ------------------------------------------------------------------------------------------ images

    def load(self, path: str | Path, gray_source: bool = False) -> np.ndarray:
        """The image as OpenCV holds it (grey, or BGR for color=rgb). A grey-by-nature source read for an RGB
        model is replicated to three channels, as a colour decoder would."""
        if gray_source and self.color == "rgb":
            return cv2.cvtColor(load_image(path, "gray"), cv2.COLOR_GRAY2BGR)
        return load_image(path, self.color)

    def from_bgr(self, frame: np.ndarray) -> np.ndarray:
        """A decoded BGR frame (OpenCV's VideoCapture) as `load` holds images: grey made as for image files."""
        return cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if self.color == "gray" else frame

    def resize(self, face: np.ndarray) -> np.ndarray:
        """A face crop resized to (size, size) by the RESIZE rule."""
        interp = cv2.INTER_AREA if face.shape[0] > self.size else cv2.INTER_LINEAR
        return cv2.resize(face, (self.size, self.size), interpolation=interp)

    def crop(self, image: np.ndarray, box) -> np.ndarray:
        """The (size, size, channels) uint8 crop of `box`, RGB for colour images (OpenCV decodes BGR)."""
        face = crop_box(image, box)
        if face.size == 0:  # a fixed crop of a tiny image (e.g. 1x1) rounds to no pixel: the image is unusable
            h, w = image.shape[:2]
            raise BadImageError(
                f"{w}x{h} pixels: too small for the face crop box {list(box)}; delete the image or drop faces.crop"
            )
        face = self.resize(face)
        face = face[:, :, None] if face.ndim == 2 else face[:, :, ::-1]  # BGR -> RGB, once, here
        return np.ascontiguousarray(face)

    def training_face(self, image: np.ndarray) -> Face | None:
        """The face training uses: the largest one (or the fixed crop); None when there is none and
        `on_no_face=skip`."""
        box, found = locate_face(image, self.faces)
        return None if box is None else Face(box, found, self.crop(image, box))

    def all_faces(self, image: np.ndarray) -> list[Face]:
        """Every face, largest first, cropped as in training. With no face found, the centre crop marked
        `found=False` (`on_no_face=center`) or nothing (`skip`)."""
        opts = self.faces
        if opts.detector == "none":  # the whole image or the fixed crop: exactly the training crop
            return [self.training_face(image)]
        h, w = image.shape[:2]
        boxes = [expand_box(b, h, w, opts.margin, opts.square) for b in detect_faces(image, opts)]
        if boxes:
            return [Face(b, True, self.crop(image, b)) for b in boxes]
        return [] if opts.on_no_face == "skip" else [Face(center_box(h, w), False, self.crop(image, center_box(h, w)))]

    def batch(self, crops: list[np.ndarray]) -> np.ndarray:
        """Crops -> the network's (N, C, H, W) uint8 input (normalization is part of the model)."""
        return np.ascontiguousarray(np.stack(crops).transpose(0, 3, 1, 2))

    def normalize(self, batch: np.ndarray) -> np.ndarray:
        """(N, C, H, W) uint8 -> float32 as the model normalizes it: grey replicated to the backbone's channels,
        then (x - 255 mean) / (255 std). For runtimes that take the normalized tensor."""
        x = batch.astype(np.float32)
        if x.shape[1] == 1 and len(self.mean) == 3:
            x = np.repeat(x, 3, axis=1)
        mean = (np.asarray(self.mean, np.float32) * np.float32(255)).reshape(1, -1, 1, 1)
        std = (np.asarray(self.std, np.float32) * np.float32(255)).reshape(1, -1, 1, 1)
        return (x - mean) / std

    # ------------------------------------------------------------------------------------------ storage

    def to_dict(self) -> dict:
        """Plain values (checkpoints load with weights_only=True; ONNX metadata is JSON)."""
        d = asdict(self)
        d["faces"] = {k: v for k, v in asdict(self.faces).items() if k != "extra"} | dict(self.faces.extra)
        if d["faces"].get("crop") is not None:
            d["faces"]["crop"] = list(d["faces"]["crop"])
        d["mean"], d["std"] = list(self.mean), list(self.std)
        d["resize"] = RESIZE
        return d

    @classmethod
    def from_dict(cls, d: dict) -> FacePipeline:
        """The pipeline `to_dict` saved (unknown keys ignored, missing ones defaulted)."""
        known = {f.name for f in fields(cls)}
        d = {k: v for k, v in dict(d).items() if k in known}
        return cls(
            faces=FaceOptions.from_config(d.pop("faces", {})),
            size=int(d.pop("size", 224)),
            color=str(d.pop("color", "gray")),
            mean=tuple(float(v) for v in d.pop("mean", IMAGENET_MEAN)),
            std=tuple(float(v) for v in d.pop("std", IMAGENET_STD)),
        )

    def with_faces(
        self,
        detector: str | None = None,
        on_no_face: str | None = None,
        model: str | None = None,
        config: str | None = None,
    ) -> FacePipeline:
        """The same pipeline with another detector, no-face policy or detector model files (`fer.predict
        --detector/--on-no-face/--detector-model/--detector-config`)."""
        given = (("detector", detector), ("on_no_face", on_no_face), ("model", model), ("config", config))
        changes = {k: v for k, v in given if v}
        if all(getattr(self.faces, k) == v for k, v in changes.items()):
            return self
        d = self.to_dict()
        return FacePipeline.from_dict(d | {"faces": d["faces"] | changes})
