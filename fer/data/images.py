"""Robust image decoding: any bit depth, alpha, palette or CMYK file becomes 8-bit grey or BGR."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

COLORS = ("gray", "rgb")


class BadImageError(ValueError):
    """An image that cannot be used; the message names the file, the reason and the remedy."""


def load_image(path: str | Path, color: str = "gray") -> np.ndarray:
    """uint8 HxW (gray) or HxWx3 (BGR, for color="rgb"; converted to RGB only at the model's input)."""
    path = Path(path)
    if color not in COLORS:
        raise ValueError(f"color={color!r}; expected one of {COLORS}")
    if not path.is_file():
        raise BadImageError(f"{path}: file not found; re-run the reader or restore the file")
    if path.stat().st_size == 0:
        raise BadImageError(f"{path}: empty (zero-byte) file; re-download or delete it")
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None or img.size == 0:
        raise BadImageError(f"{path}: not a readable image (truncated or not an image file); re-download or delete it")
    if img.dtype != np.uint8:  # 16-bit or float images
        img = img.astype(np.float64)
        hi = 65535.0 if img.max() > 255 else 255.0
        img = np.clip(img / hi * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if img.ndim == 3 and img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    elif img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if color == "gray":
        return img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    return img if img.ndim == 3 else cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
