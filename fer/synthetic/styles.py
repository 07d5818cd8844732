"""What differs between the three dataset looks: image size, framing, per-image jitter, and the face boxes.

Framing: the head (skin oval, crown to chin) is centred at (cx, cy) (fractions of width, height) with half-height
`unit` x image height; its half-width is <= 0.79 unit, hair adds <= 0.12 unit, an open jaw <= 0.11 unit.
Per-image jitter: roll, shift (units; CK+ adds a per-subject camera offset) and scale. The boxes below cover
all of it:

  style   size (w x h)     centre (cx, cy)  unit   head incl. hair          square crop (head + 4 %)
  kdef    562 x 762        (0.50, 0.425)    0.205  [0.22, 0.16, 0.78, 0.69]  [0.14, 0.159, 0.86, 0.691]
  ckplus  640 x 490 (480)  (0.50, 0.50)     0.285  [0.25, 0.11, 0.75, 0.89]  [0.193, 0.099, 0.807, 0.901]
  jaffe   256 x 256        (0.50, 0.50)     0.30   [0.19, 0.12, 0.81, 0.88]  [0.105, 0.105, 0.895, 0.895]

The square crop is 405 px (72 % of the shorter side) for KDEF, 393 px (80 %) for CK+, 202 px (79 %) for JAFFE;
as a box for `fer.faces.detection` (`detector: none`) it is already square in pixels. `FEATURE_BOX` is the inner
face (cheek to cheek, raised brows to chin) for tight crops: kdef [0.307, 0.354, 0.693, 0.678], ckplus
[0.315, 0.376, 0.685, 0.88], jaffe [0.286, 0.392, 0.714, 0.876]. KDEF's turned views keep the head centre; the
face features move sideways by up to ~0.75 unit. Hair below the jaw (long styles), neck and shoulders lie
outside the head box.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

STYLES = ("kdef", "ckplus", "jaffe")

# Native image size (width, height); CK+ has some 640 x 480 subjects too.
SIZES = {"kdef": (562, 762), "ckplus": (640, 490), "jaffe": (256, 256)}
# Face centre (fractions of width, height) and `unit` = half head height / image height.
FRAMING = {"kdef": (0.5, 0.425, 0.205), "ckplus": (0.5, 0.5, 0.285), "jaffe": (0.5, 0.5, 0.30)}


class Jitter(NamedTuple):
    """Per-image nuisance ranges of one style."""

    roll: float  # degrees
    shift: float  # units
    scale: float  # relative
    light: tuple[float, float]  # lighting-gradient strength
    bright: tuple[float, float]  # brightness factor
    noise: tuple[float, float]  # sensor noise sigma
    blur: tuple[float, float]  # Gaussian blur sigma


JITTER = {
    "kdef": Jitter(2.0, 0.02, 0.02, (0.04, 0.18), (0.96, 1.06), (1.5, 3.5), (0.35, 0.7)),
    "ckplus": Jitter(4.0, 0.05, 0.03, (0.15, 0.45), (0.7, 0.88), (2.5, 6.0), (0.5, 1.0)),
    "jaffe": Jitter(2.5, 0.025, 0.025, (0.08, 0.3), (0.8, 1.0), (2.0, 4.0), (0.4, 0.8)),
}
CK_CAMERA = (0.1, 0.06)  # CK+ per-subject camera offset (units), on top of 0.4 x the per-image shift

# Seeds mix these in, so two styles never share random draws.
STYLE_IDS = {"kdef": 11, "ckplus": 12, "jaffe": 13, "draw": 19}


def keyed_rng(*key) -> np.random.Generator:
    """A generator seeded by a tuple of integers (seed, style id, subject, image, ...)."""
    return np.random.default_rng(np.random.SeedSequence([int(k) for k in key]))


def _boxes(style: str) -> tuple[tuple, tuple, tuple]:
    """(head box incl. hair, square crop holding it, inner-face box) as fractions [x0, y0, x1, y1] of the
    native image size, covering every per-image jitter (roll, shift, scale; CK+ camera offsets)."""
    W, H = SIZES[style]
    fx, fy, fu = FRAMING[style]
    roll, shift, scale = JITTER[style][:3]
    if style == "ckplus":
        sx, sy = CK_CAMERA[0] + 0.4 * shift, CK_CAMERA[1] + 0.4 * shift
    else:
        sx = sy = shift
    u = fu * H * (1 + scale)
    sr = math.sin(math.radians(roll))

    def box(left, right, top, bottom, margin=0.0):
        hw = max(left, right)
        x0 = fx * W - (left * (1 + margin) + sx + sr * max(top, bottom)) * u
        x1 = fx * W + (right * (1 + margin) + sx + sr * max(top, bottom)) * u
        y0 = fy * H - (top * (1 + margin) + sy + sr * hw) * u
        y1 = fy * H + (bottom * (1 + margin) + sy + sr * hw) * u
        return x0, y0, x1, y1

    # head: half-width <= 0.79 + hair 0.12; crown + hair <= 1.17; chin + open jaw <= 1.17
    x0, y0, x1, y1 = box(0.91, 0.91, 1.17, 1.17)
    head = (
        math.floor(x0 / W * 100) / 100,
        math.floor(y0 / H * 100) / 100,
        math.ceil(x1 / W * 100) / 100,
        math.ceil(y1 / H * 100) / 100,
    )
    side = max(x1 - x0, y1 - y0) * 1.04
    cxp, cyp = (x0 + x1) / 2, (y0 + y1) / 2
    crop = tuple(
        round(v, 3) for v in ((cxp - side / 2) / W, (cyp - side / 2) / H, (cxp + side / 2) / W, (cyp + side / 2) / H)
    )
    # inner face: cheek to cheek, from above the raised brows to the chin
    x0, y0, x1, y1 = box(0.62, 0.62, 0.3, 1.17)
    inner = (round(x0 / W, 3), round(y0 / H, 3), round(x1 / W, 3), round(y1 / H, 3))
    return head, crop, inner


# A square crop holding the head incl. hair, and the inner face (fractions [x0, y0, x1, y1] of the image).
FACE_CROP = {s: _boxes(s)[1] for s in STYLES}
FEATURE_BOX = {s: _boxes(s)[2] for s in STYLES}
