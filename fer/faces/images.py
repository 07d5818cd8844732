"""Robust image decoding: any bit depth, alpha, palette, CMYK or EXIF-rotated file becomes 8-bit grey or BGR.

Decoding goes through Pillow, which (unlike `cv2.imread`) refuses truncated files instead of returning a
half-grey picture, understands CMYK (including Adobe's inverted JPEGs) and applies EXIF orientation.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

COLORS = ("gray", "rgb")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif", ".pgm", ".ppm"}
ImageFile.LOAD_TRUNCATED_IMAGES = False  # a truncated file is an error, never a silently padded image
ALPHA_BACKGROUND = (255, 255, 255)  # transparent pixels are composited onto white, as most viewers show them


class BadImageError(ValueError):
    """An image that cannot be used; the message names the file, the reason and the remedy."""


def _to_uint8_array(img: Image.Image) -> np.ndarray:
    """An 8-bit 'L' or 'RGB' array from any Pillow mode."""
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        a = np.asarray(img, dtype=np.float64)
        # 16-bit files usually span 0..65535; a few tools store 8-bit values in 16-bit containers.
        hi = 65535.0 if a.max() > 255 else 255.0
        return np.clip(a / hi * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
        mode = img.mode
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, ALPHA_BACKGROUND + (255,))
        img = Image.alpha_composite(bg, rgba).convert("RGB" if mode.startswith(("RGB", "P")) else "L")
    elif mode == "1":
        img = img.convert("L")
    elif mode != "L" and mode != "RGB":  # CMYK, YCbCr, LAB, HSV, 48-bit RGB ...
        img = img.convert("RGB")
    return np.asarray(img, dtype=np.uint8)


def decode(path: str | Path) -> np.ndarray:
    """uint8 HxW (grey files) or HxWx3 RGB, exactly as stored (no colour conversion)."""
    path = Path(path)
    if not path.is_file():
        raise BadImageError(f"{path}: file not found; re-run the reader or restore the file")
    if path.stat().st_size == 0:
        raise BadImageError(f"{path}: empty (zero-byte) file; re-download it or delete it")
    try:
        with Image.open(path) as img:
            img.load()
            img = ImageOps.exif_transpose(img)
            arr = _to_uint8_array(img)
    except UnidentifiedImageError:
        raise BadImageError(
            f"{path}: not an image file (unrecognised format); delete it or move it out of the dataset"
        ) from None
    except Image.DecompressionBombError as e:
        raise BadImageError(
            f"{path}: too large to decode safely ({e}); downscale it (a face crop needs far fewer pixels)"
        ) from None
    except (OSError, SyntaxError, ValueError) as e:
        raise BadImageError(
            f"{path}: cannot be decoded ({e}); the file is probably truncated or corrupt, re-download it"
        ) from None
    if arr.size == 0:
        raise BadImageError(f"{path}: image has no pixels; re-download it or delete it")
    return arr


def load_image(path: str | Path, color: str = "gray") -> np.ndarray:
    """uint8 HxW (gray) or HxWx3 (BGR, for color="rgb"; converted to RGB only at the model's input)."""
    if color not in COLORS:
        raise ValueError(f"color={color!r}; expected one of {COLORS}")
    arr = decode(path)
    if color == "gray":
        return arr if arr.ndim == 2 else cv2.cvtColor(arr, cv2.COLOR_RGB2GRAY)
    return cv2.cvtColor(arr, cv2.COLOR_GRAY2BGR) if arr.ndim == 2 else cv2.cvtColor(arr, cv2.COLOR_RGB2BGR)
