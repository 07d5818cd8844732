"""Deterministic parametric synthetic faces, written in the exact native layouts of KDEF, CK+ and JAFFE.

The licensed datasets can never be committed, so tests and the demo render cartoon-but-plausible faces with
OpenCV and save them in each dataset's own tree and naming; the real readers then serve both. Only numpy,
OpenCV, PIL and the standard library are used.

Faces
-----
A face is drawn from identity parameters (`FaceParams`: head shape, jaw, skin tone, feature spacing and
sizes, brows, lips, hair colour/style/fringe) and a set of continuous facial actions (FACS-like):
brow raise (AU1+2), inner brow raise (AU1), brow lowering/knit (AU4), eye opening (AU5 wide / AU7 squint),
cheek raise (AU6), lip corners up (AU12) / down (AU15), jaw drop (AU26/27), upper-lip raise (AU10), nose
wrinkle (AU9), lip stretch (AU20), lip press (AU24), a rounded mouth, teeth shown, and a one-sided corner
raise (AU14, contempt). Each expression class combines these with random per-image jitter, so classes are
learnable but overlap a little; `intensity` in [0, 1] scales all actions (CK+ sequences run 0 -> 1).
Per-image nuisances: a few degrees of roll, small shifts and scale changes, a lighting gradient, colour
tint, Gaussian blur and noise. KDEF's turned views (FL, HL, HR, FR) fake a head turn by rotating the face
points on an ellipsoid about the vertical axis (features compress and shift, far-side features vanish).

Where the face is (fractions of image width / height; `FACE_BOX`, `FACE_CROP`, `FEATURE_BOX` below)
--------------------------------------------------------------------------------------------------
The head (skin oval, crown to chin) is centred at (cx, cy) with half-height `unit` x image height; its
half-width is <= 0.79 unit, hair adds <= 0.12 unit, an open jaw <= 0.11 unit. Per-image jitter: roll
(kdef 2, ckplus 4, jaffe 2.5 degrees), shift (0.02 / 0.05 / 0.025 unit; CK+ adds a per-subject camera
offset of <= 0.1 x 0.06 unit) and scale (2 / 3 / 2.5 %). The boxes below cover all of it:

  style   size (w x h)     centre (cx, cy)  unit   head incl. hair          square crop (head + 4 %)
  kdef    562 x 762        (0.50, 0.425)    0.205  [0.22, 0.16, 0.78, 0.69]  [0.14, 0.159, 0.86, 0.691]
  ckplus  640 x 490 (480)  (0.50, 0.50)     0.285  [0.25, 0.11, 0.75, 0.89]  [0.193, 0.099, 0.807, 0.901]
  jaffe   256 x 256        (0.50, 0.50)     0.30   [0.19, 0.12, 0.81, 0.88]  [0.105, 0.105, 0.895, 0.895]

The square crop is 405 px (72 % of the shorter side) for KDEF, 393 px (80 %) for CK+, 202 px (79 %) for
JAFFE; as a box for `fer.data.faces` (`detector: none`) it is already square in pixels. `FEATURE_BOX`
is the inner face (cheek to cheek, raised brows to chin) for tight crops: kdef [0.307, 0.354, 0.693,
0.678], ckplus [0.315, 0.376, 0.685, 0.88], jaffe [0.286, 0.392, 0.714, 0.876]. `face_crop(img, style,
box)` cuts such a box squared around its centre. KDEF's turned views keep the head centre; the face
features move sideways by up to ~0.75 unit. Hair below the jaw (long styles), neck and shoulders lie
outside the head box.

Layouts (see /work/shared/DATASETS.md)
--------------------------------------
- KDEF: `KDEF/<AF01..BM..>/<AF01ANS.JPG>` colour JPEG 562 x 762, series A and B = same subject, plus
  `AKDEF/<F|M><expr><angle>.JPG` averaged faces (not for training).
- CK+: `cohn-kanade-images/S005/001/S005_001_00000001.png` grey PNG 640 x 490 (some subjects 640 x 480,
  a couple of frames 3-channel), labels `Emotion/S005/001/S005_001_000000NN_emotion.txt` on the last frame
  (`   3.0000000e+00\\n`), contempt sequences, unlabelled sequences (no label folder, or an empty one).
- JAFFE: `jaffe/<poser>.<EXPR><k>.<number>.tiff` grey TIFF 256 x 256 plus a `README`.

Determinism and caching: every random draw comes from `numpy.random.default_rng` seeded with a tuple
(seed, style, subject, image...), so the same arguments give byte-identical files. A render writes a
`.synthetic.json` stamp (per style, with its arguments) last; a later call with the same arguments finds
the stamp and the files and returns at once.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

__all__ = [
    "CLASSES", "EXPRESSIONS", "STYLES", "FACE_BOX", "FACE_CROP", "FEATURE_BOX", "FaceParams", "sample_actions", "draw_face",
    "render", "render_kdef", "render_ckplus", "render_jaffe", "face_crop",
]

RENDER_VERSION = 1  # bump when the drawing changes, so cached renders are redone

CLASSES = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
EXPRESSIONS = CLASSES + ("contempt",)
STYLES = ("kdef", "ckplus", "jaffe")

KDEF_CODES = {"fear": "AF", "angry": "AN", "disgust": "DI", "happy": "HA", "neutral": "NE", "sad": "SA",
              "surprise": "SU"}
KDEF_ANGLES = ("FL", "HL", "S", "HR", "FR")
# Degrees of head turn; negative turns the face towards the image's left.
KDEF_YAW = {"FL": -70.0, "HL": -35.0, "S": 0.0, "HR": 35.0, "FR": 70.0}
CKPLUS_CODES = {0: "neutral", 1: "angry", 2: "contempt", 3: "disgust", 4: "fear", 5: "happy", 6: "sad",
                7: "surprise"}
JAFFE_CODES = {"angry": "AN", "disgust": "DI", "fear": "FE", "happy": "HA", "neutral": "NE", "sad": "SA",
               "surprise": "SU"}
JAFFE_POSERS = ("KA", "KL", "KM", "KR", "MK", "NA", "NM", "TM", "UY", "YM")

# Framing per style: face centre (fractions of width, height) and `unit` = half head height / image height.
_FRAMING = {"kdef": (0.5, 0.425, 0.205), "ckplus": (0.5, 0.5, 0.285), "jaffe": (0.5, 0.5, 0.30)}
_SIZES = {"kdef": (562, 762), "ckplus": (640, 490), "jaffe": (256, 256)}
# Per-image jitter per style: roll (deg), shift (units), scale, light range, brightness, noise sigma, blur sigma.
_STYLE_NUIS = {
    "kdef": (2.0, 0.02, 0.02, (0.04, 0.18), (0.96, 1.06), (1.5, 3.5), (0.35, 0.7)),
    "ckplus": (4.0, 0.05, 0.03, (0.15, 0.45), (0.7, 0.88), (2.5, 6.0), (0.5, 1.0)),
    "jaffe": (2.5, 0.025, 0.025, (0.08, 0.3), (0.8, 1.0), (2.0, 4.0), (0.4, 0.8)),
}
_CK_CAMERA = (0.1, 0.06)  # CK+ per-subject camera offset (units), on top of 0.4 x the per-image shift


def _boxes(style: str) -> tuple[tuple, tuple, tuple]:
    """(head box incl. hair, square crop holding it, inner-face box) as fractions [x0, y0, x1, y1] of the
    native image size, covering every per-image jitter (roll, shift, scale; CK+ camera offsets)."""
    W, H = _SIZES[style]
    fx, fy, fu = _FRAMING[style]
    roll, shift, scale = _STYLE_NUIS[style][:3]
    if style == "ckplus":
        sx, sy = _CK_CAMERA[0] + 0.4 * shift, _CK_CAMERA[1] + 0.4 * shift
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
    head = (math.floor(x0 / W * 100) / 100, math.floor(y0 / H * 100) / 100,
            math.ceil(x1 / W * 100) / 100, math.ceil(y1 / H * 100) / 100)
    side = max(x1 - x0, y1 - y0) * 1.04
    cxp, cyp = (x0 + x1) / 2, (y0 + y1) / 2
    crop = tuple(round(v, 3) for v in ((cxp - side / 2) / W, (cyp - side / 2) / H, (cxp + side / 2) / W,
                                       (cyp + side / 2) / H))
    # inner face: cheek to cheek, from above the raised brows to the chin
    x0, y0, x1, y1 = box(0.62, 0.62, 0.3, 1.17)
    inner = (round(x0 / W, 3), round(y0 / H, 3), round(x1 / W, 3), round(y1 / H, 3))
    return head, crop, inner


# Head box incl. hair, a square crop holding it, and the inner face (fractions [x0, y0, x1, y1] of the image).
FACE_BOX = {s: _boxes(s)[0] for s in _FRAMING}
FACE_CROP = {s: _boxes(s)[1] for s in _FRAMING}
FEATURE_BOX = {s: _boxes(s)[2] for s in _FRAMING}

_STAMP = ".synthetic.json"
_PARTIAL = ".synthetic.partial"
_STYLE_IDS = {"kdef": 11, "ckplus": 12, "jaffe": 13, "draw": 19}

_ACTIONS = ("brow_raise", "inner_brow", "brow_lower", "eye_open", "cheek", "lip_corner", "jaw", "upper_lip",
            "nose_wrinkle", "lip_stretch", "lip_press", "mouth_round", "contempt")
_SIGNED = {"brow_raise", "eye_open", "lip_corner"}


def face_crop(image: np.ndarray, style: str, box=None) -> np.ndarray:
    """The square face crop of a rendered image (box = FACE_CROP[style] made square, as fer.data.faces does)."""
    h, w = image.shape[:2]
    x0, y0, x1, y1 = FACE_CROP[style] if box is None else box
    cx, cy = (x0 + x1) / 2 * w, (y0 + y1) / 2 * h
    side = max((x1 - x0) * w, (y1 - y0) * h)
    xa, ya = int(round(cx - side / 2)), int(round(cy - side / 2))
    s = int(round(side))
    pad = max(0, -xa, -ya, xa + s - w, ya + s - h)
    if pad:
        image = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        xa, ya = xa + pad, ya + pad
    return image[ya:ya + s, xa:xa + s]


# ----------------------------------------------------------------------------------------------------------
# identity parameters

def _rgb(r, g, b):
    return (float(b), float(g), float(r))


_SKIN_LIGHT = [_rgb(247, 218, 196), _rgb(238, 203, 178), _rgb(226, 188, 160), _rgb(214, 172, 146)]
_SKIN_MED = [_rgb(204, 156, 122), _rgb(186, 136, 102), _rgb(168, 118, 88)]
_SKIN_DARK = [_rgb(142, 98, 72), _rgb(116, 78, 56), _rgb(92, 62, 46)]
_SKIN_EASTASIAN = [_rgb(240, 210, 182), _rgb(232, 198, 168), _rgb(222, 186, 152)]
_HAIR = {"black": _rgb(26, 22, 20), "darkbrown": _rgb(58, 40, 30), "brown": _rgb(98, 68, 46),
         "lightbrown": _rgb(140, 104, 70), "blond": _rgb(196, 166, 112), "auburn": _rgb(128, 62, 38),
         "grey": _rgb(150, 148, 146)}
_IRIS = [_rgb(70, 45, 30), _rgb(100, 70, 45), _rgb(80, 110, 150), _rgb(90, 120, 100), _rgb(110, 120, 130)]


def _clamp(v, lo, hi):
    return float(min(hi, max(lo, v)))


def _mix(c1, c2, t):
    return tuple(float(a + (b - a) * t) for a, b in zip(c1, c2))


def _scale(c, k):
    return tuple(float(min(255.0, max(0.0, v * k))) for v in c)


@dataclass(frozen=True)
class FaceParams:
    """Identity of one synthetic subject. Lengths are in units of the half head height (crown..chin = 2)."""

    gender: str = "F"
    face_w: float = 0.76         # head half-width
    jaw: float = 0.5             # 0 narrow/pointed .. 1 square
    chin: float = 1.0            # chin position below the head centre
    skin: tuple = _rgb(232, 195, 168)
    eye_y: float = 0.06          # eye line below the head centre
    eye_dist: float = 0.30       # half distance between the eye centres
    eye_w: float = 0.125         # eye half-width
    eye_h: float = 0.052         # upper lid height above the eye line
    crease: float = 1.0          # visibility of the upper-lid crease
    iris: tuple = _IRIS[1]
    brow_gap: float = 0.135
    brow_thick: float = 0.026
    brow_arch: float = 0.025
    brow: tuple = _HAIR["brown"]
    nose_len: float = 0.37       # eye line to nose base
    nose_w: float = 0.115
    mouth_gap: float = 0.16      # nose base to mouth line
    mouth_w: float = 0.21
    lip_upper: float = 0.034
    lip_lower: float = 0.046
    lip: tuple = _rgb(190, 110, 110)
    hair: tuple = _HAIR["brown"]
    hair_style: int = 1          # 0 short, 1 medium (to the jaw), 2 long (to the shoulders)
    hair_volume: float = 0.08
    hairline: float = -0.52
    fringe: float = 0.0          # 0 none; else how far the fringe reaches towards the brows (0..1)
    parting: float = 0.0         # -1..1, side of the parting
    ear: float = 1.0
    stubble: float = 0.0
    blush: float = 0.1
    shirt: tuple = _rgb(120, 120, 124)
    expressiveness: float = 1.0  # scales all actions of this subject
    rest_corner: float = 0.0     # resting lip-corner offset (some people look sad or smiley at rest)
    rest_brow: float = 0.0       # resting brow height offset
    asym: float = 0.0            # small left/right asymmetry

    @classmethod
    def sample(cls, rng: np.random.Generator, *, gender: str | None = None, look: str = "any") -> "FaceParams":
        """A random identity. `look`: "kdef" (mostly light skin, grey T-shirt), "ckplus" (varied),
        "jaffe" (East-Asian female, dark hair, often a fringe) or "any"."""
        u = rng.uniform
        if gender is None:
            gender = "F" if rng.random() < 0.5 else "M"
        fem = gender == "F"
        # skin
        if look == "jaffe":
            skin = _mix(*[_SKIN_EASTASIAN[i] for i in rng.choice(3, 2, replace=False)], u())
        else:
            p = {"kdef": (0.85, 0.1, 0.05), "ckplus": (0.55, 0.25, 0.2)}.get(look, (0.5, 0.3, 0.2))
            pal = (_SKIN_LIGHT, _SKIN_MED, _SKIN_DARK)[int(rng.choice(3, p=p))]
            i, j = rng.choice(len(pal), 2, replace=False)
            skin = _mix(pal[i], pal[j], u())
        # hair
        if look == "jaffe":
            hname = "black" if rng.random() < 0.7 else "darkbrown"
        else:
            names = ["black", "darkbrown", "brown", "lightbrown", "blond", "auburn", "grey"]
            w = [0.12, 0.25, 0.25, 0.15, 0.15, 0.05, 0.03] if look == "kdef" else [0.3, 0.3, 0.2, 0.08, 0.07, 0.03, 0.02]
            hname = names[int(rng.choice(len(names), p=w))]
        hair = _scale(_HAIR[hname], u(0.85, 1.15))
        if look == "jaffe":
            style = int(rng.choice(3, p=(0.1, 0.45, 0.45)))
            fringe = u(0.5, 1.0) if rng.random() < 0.75 else 0.0
        elif fem:
            style = int(rng.choice(3, p=(0.15, 0.35, 0.5)))
            fringe = u(0.3, 1.0) if rng.random() < 0.35 else 0.0
        else:
            style = int(rng.choice(3, p=(0.75, 0.22, 0.03)))
            fringe = u(0.2, 0.6) if rng.random() < 0.15 else 0.0
        vol = {0: u(0.03, 0.06), 1: u(0.06, 0.10), 2: u(0.07, 0.12)}[style]
        brow_col = _scale(hair, 0.75) if hname not in ("blond", "grey") else _scale(_HAIR["lightbrown"], 0.8)
        lip = _mix(_scale(skin, 0.86), _rgb(185, 85, 90), u(0.25, 0.45) if fem else u(0.15, 0.3))
        if look == "kdef":
            shirt = _scale(_rgb(118, 118, 124), u(0.85, 1.15))
        else:
            shirt = tuple(float(v) for v in rng.uniform(30, 200, 3))
        asian = look == "jaffe"
        return cls(
            gender=gender,
            face_w=u(0.68, 0.74) if fem else u(0.72, 0.79),
            jaw=u(0.0, 0.5) if fem else u(0.4, 1.0),
            chin=u(0.95, 1.03) if fem else u(0.98, 1.06),
            skin=skin,
            eye_y=u(0.03, 0.08),
            eye_dist=u(0.28, 0.33),
            eye_w=u(0.13, 0.155),
            eye_h=u(0.048, 0.06) if asian else u(0.056, 0.07),
            crease=u(0.0, 0.5) if asian else u(0.6, 1.0),
            iris=_scale(_IRIS[0], u(0.7, 1.1)) if asian else _IRIS[int(rng.choice(5, p=(0.3, 0.25, 0.25, 0.1, 0.1)))],
            brow_gap=u(0.12, 0.155),
            brow_thick=u(0.017, 0.026) if fem else u(0.025, 0.037),
            brow_arch=u(0.01, 0.04),
            brow=brow_col,
            nose_len=u(0.35, 0.40),
            nose_w=u(0.10, 0.125) if fem else u(0.11, 0.14),
            mouth_gap=u(0.145, 0.175),
            mouth_w=u(0.18, 0.23),
            lip_upper=u(0.03, 0.042) if fem else u(0.024, 0.035),
            lip_lower=u(0.042, 0.056) if fem else u(0.035, 0.048),
            lip=lip,
            hair=hair,
            hair_style=style,
            hair_volume=vol,
            hairline=u(-0.58, -0.48) if fem else u(-0.56, -0.40),
            fringe=fringe,
            parting=u(-1, 1),
            ear=u(0.9, 1.1),
            stubble=(u(0.0, 0.5) if rng.random() < 0.3 else 0.0) if not fem else 0.0,
            blush=u(0.0, 0.25) if fem else u(0.0, 0.12),
            shirt=shirt,
            expressiveness=u(0.8, 1.15),
            rest_corner=_clamp(rng.normal(0, 0.08), -0.18, 0.18),
            rest_brow=_clamp(rng.normal(0, 0.08), -0.18, 0.18),
            asym=u(-1, 1),
        )

    def variant(self, rng: np.random.Generator, amount: float = 1.0) -> "FaceParams":
        """The same person on another day (KDEF series B): hair offset/volume and blush change slightly."""
        u = lambda a: float(rng.uniform(-a, a) * amount)  # noqa: E731
        return replace(
            self,
            hair_volume=_clamp(self.hair_volume + u(0.02), 0.02, 0.13),
            hairline=self.hairline + u(0.03),
            fringe=_clamp(self.fringe + u(0.15), 0, 1) if self.fringe > 0 else 0.0,
            parting=_clamp(self.parting + u(0.4), -1, 1),
            blush=_clamp(self.blush + u(0.05), 0, 0.3),
            hair=_scale(self.hair, 1 + u(0.06)),
        )

    @classmethod
    def average(cls, gender: str) -> "FaceParams":
        """A smooth, average-looking identity (AKDEF)."""
        fem = gender == "F"
        return cls(gender=gender, face_w=0.735 if fem else 0.78, jaw=0.25 if fem else 0.7,
                   chin=0.99 if fem else 1.02, skin=_SKIN_LIGHT[1], hair=_HAIR["brown"],
                   brow=_scale(_HAIR["brown"], 0.75), hair_style=1 if fem else 0,
                   hair_volume=0.08 if fem else 0.045, brow_thick=0.022 if fem else 0.031,
                   lip_upper=0.036 if fem else 0.03, lip_lower=0.049 if fem else 0.042,
                   lip=_mix(_scale(_SKIN_LIGHT[1], 0.86), _rgb(185, 85, 90), 0.3),
                   hairline=-0.53 if fem else -0.48)


# ----------------------------------------------------------------------------------------------------------
# facial actions per expression

def sample_actions(expression: str, rng: np.random.Generator, expressiveness: float = 1.0) -> dict:
    """Peak facial actions of one expressive image (before scaling by intensity), with random jitter."""
    if expression not in EXPRESSIONS:
        raise ValueError(f"unknown expression {expression!r}; expected one of {EXPRESSIONS}")
    u = rng.uniform
    a = dict.fromkeys(_ACTIONS, 0.0)
    teeth = 0.0
    side = 1.0 if rng.random() < 0.5 else -1.0
    if expression == "happy":
        a.update(lip_corner=u(0.65, 1.0), cheek=u(0.5, 1.0), eye_open=-u(0.1, 0.4))
        if rng.random() < 0.6:
            a.update(jaw=u(0.12, 0.4), upper_lip=u(0.2, 0.5))
            teeth = 1.0
    elif expression == "sad":
        a.update(inner_brow=u(0.7, 1.0), brow_lower=u(0.1, 0.35), lip_corner=-u(0.6, 1.0), eye_open=-u(0.1, 0.4),
                 lip_press=u(0.1, 0.4))
    elif expression == "angry":
        a.update(brow_lower=u(0.7, 1.0), eye_open=-u(0.2, 0.6), brow_raise=-u(0.0, 0.2))
        if rng.random() < 0.65:
            a.update(lip_press=u(0.6, 1.0), lip_corner=-u(0.0, 0.25))
        else:
            a.update(jaw=u(0.15, 0.35), upper_lip=u(0.4, 0.8), lip_stretch=u(0.0, 0.3))
            teeth = 1.0
    elif expression == "disgust":
        a.update(nose_wrinkle=u(0.6, 1.0), upper_lip=u(0.5, 1.0), brow_lower=u(0.3, 0.7), eye_open=-u(0.2, 0.5),
                 cheek=u(0.2, 0.5), lip_corner=-u(0.0, 0.35), jaw=u(0.0, 0.12))
        teeth = 1.0 if rng.random() < 0.5 else 0.0
    elif expression == "fear":
        a.update(brow_raise=u(0.5, 0.9), inner_brow=u(0.3, 0.7), brow_lower=u(0.3, 0.6), eye_open=u(0.6, 1.0),
                 lip_stretch=u(0.6, 1.0), jaw=u(0.1, 0.35))
        teeth = 1.0 if rng.random() < 0.6 else 0.0
    elif expression == "surprise":
        a.update(brow_raise=u(0.7, 1.0), eye_open=u(0.6, 1.0), jaw=u(0.6, 1.0), mouth_round=u(0.5, 1.0))
    elif expression == "contempt":
        a.update(contempt=u(0.6, 1.0), eye_open=-u(0.0, 0.2), brow_lower=u(0.0, 0.2))
    k = expressiveness * u(0.75, 1.1)
    for name in _ACTIONS:
        v = a[name] * k * u(0.85, 1.15) + rng.normal(0.0, 0.05)
        a[name] = _clamp(v, -1.0 if name in _SIGNED else 0.0, 1.0)
    a["teeth"] = teeth
    a["contempt_side"] = side
    a["gaze_x"] = float(rng.normal(0, 0.12))
    a["gaze_y"] = float(rng.normal(0, 0.05))
    return a


def _scaled(actions: dict, intensity: float, params: FaceParams) -> dict:
    t = _clamp(intensity, 0.0, 1.0)
    a = {k: (v * t if k in _ACTIONS else v) for k, v in actions.items()}
    a["lip_corner"] = _clamp(a["lip_corner"] + params.rest_corner, -1, 1)
    a["brow_raise"] = _clamp(a["brow_raise"] + params.rest_brow, -1, 1)
    return a


# ----------------------------------------------------------------------------------------------------------
# scene / nuisance

def _sample_scene(style: str, rng: np.random.Generator) -> dict:
    """Session-level scene: background, main light."""
    u = rng.uniform
    if style == "kdef":
        bg = _scale(_rgb(186, 192, 204), u(0.95, 1.05))
        bg_grad = (0.0, u(0.04, 0.1))
    elif style == "ckplus":
        g = u(95, 145)
        bg = (g * u(0.95, 1.05), g, g * u(0.95, 1.05))
        bg_grad = (u(-0.25, 0.25), u(-0.1, 0.1))
    else:
        g = u(135, 185)
        bg = (g, g, g)
        bg_grad = (u(-0.1, 0.1), u(0.0, 0.12))
    lo, hi = _STYLE_NUIS[style][3]
    return {"bg": bg, "bg_grad": bg_grad, "panel": u(0.0, 0.18) if (style == "ckplus" and rng.random() < 0.5) else 0.0,
            "light_angle": u(-math.pi, math.pi) if style == "ckplus" else u(-2.4, -0.7),
            "light": u(lo, hi), "bright": u(*_STYLE_NUIS[style][4])}


def _sample_nuisance(style: str, rng: np.random.Generator, scene: dict | None = None) -> dict:
    roll, shift, scale, _, _, noise, blur = _STYLE_NUIS[style]
    u = rng.uniform
    scene = _sample_scene(style, rng) if scene is None else scene
    return {**scene,
            "roll": u(-roll, roll), "dx": u(-shift, shift), "dy": u(-shift, shift), "scale": 1 + u(-scale, scale),
            "light_angle": scene["light_angle"] + u(-0.3, 0.3), "light": scene["light"] * u(0.8, 1.2),
            "bright": scene["bright"] * u(0.97, 1.03), "tint": tuple(float(v) for v in u(-0.015, 0.015, 3)),
            "noise": u(*noise), "blur": u(*blur)}


# ----------------------------------------------------------------------------------------------------------
# geometry helpers

class _Proj:
    """Face coordinates (x right, y down, unit = half head height, origin = head centre) -> image pixels.

    Points lie on an ellipsoid-ish surface (depth `z`); yaw turns about the vertical axis, roll in the image.
    """

    def __init__(self, cx, cy, unit, yaw_deg, roll_deg, a):
        self.cx, self.cy, self.unit, self.a = cx, cy, unit, a
        self.depth = 0.85
        t, r = math.radians(yaw_deg), math.radians(roll_deg)
        self.ct, self.st, self.cr, self.sr = math.cos(t), math.sin(t), math.cos(r), math.sin(r)

    def z(self, x, y):
        return self.depth * np.sqrt(np.maximum(1 - (x / self.a) ** 2 - (y / 1.25) ** 2, 0.0))

    def __call__(self, x, y, dz=0.0, z=None):
        x = np.asarray(x, np.float64)
        y = np.asarray(y, np.float64)
        if z is None:
            z = self.z(x, y) + dz
        xr = x * self.ct + z * self.st
        zr = -x * self.st + z * self.ct
        return self.flat(xr, y), zr

    def flat(self, xr, y):
        """Already-turned coordinates -> pixels (roll, scale, shift)."""
        xr = np.asarray(xr, np.float64)
        y = np.asarray(y, np.float64)
        X = xr * self.cr - y * self.sr
        Y = xr * self.sr + y * self.cr
        return np.stack([self.cx + X * self.unit, self.cy + Y * self.unit], -1)


def _pts(p):
    return np.round(np.asarray(p, np.float64) * 16).astype(np.int32).reshape(-1, 1, 2)


def _fill(img, p, color, alpha=1.0):
    p = np.asarray(p, np.float64).reshape(-1, 2)
    if len(p) < 3 or alpha <= 0.01:
        return
    if alpha >= 0.99:
        cv2.fillPoly(img, [_pts(p)], color, cv2.LINE_AA, 4)
        return
    h, w = img.shape[:2]
    x0, y0 = max(int(p[:, 0].min()) - 2, 0), max(int(p[:, 1].min()) - 2, 0)
    x1, y1 = min(int(p[:, 0].max()) + 3, w), min(int(p[:, 1].max()) + 3, h)
    if x1 <= x0 or y1 <= y0:
        return
    roi = img[y0:y1, x0:x1]
    tmp = roi.copy()
    cv2.fillPoly(tmp, [_pts(p - (x0, y0))], color, cv2.LINE_AA, 4)
    roi[:] = cv2.addWeighted(tmp, float(alpha), roi, 1.0 - float(alpha), 0.0)


def _ribbon(p, hw):
    """A polygon around polyline `p` (N x 2 pixels) with half-widths `hw` (pixels)."""
    p = np.asarray(p, np.float64)
    hw = np.maximum(np.broadcast_to(np.asarray(hw, np.float64), (len(p),)), 0.35)
    d = np.gradient(p, axis=0)
    n = np.stack([-d[:, 1], d[:, 0]], 1)
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-9)
    return np.concatenate([p + n * hw[:, None], (p - n * hw[:, None])[::-1]], 0)


def _stroke(img, p, hw, color, alpha=1.0):
    _fill(img, _ribbon(p, hw), color, alpha)


def _ellipse_pts(cx, cy, ax, ay, n=24):
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return cx + ax * np.cos(t), cy + ay * np.sin(t)


def _vis(zr, lo=-0.02, hi=0.12):
    return _clamp((float(np.mean(zr)) - lo) / (hi - lo), 0.0, 1.0)


# ----------------------------------------------------------------------------------------------------------
# the face

def _mouth(fp: FaceParams, A: dict):
    my = fp.eye_y + fp.nose_len + fp.mouth_gap
    smile, frown = max(A["lip_corner"], 0.0), max(-A["lip_corner"], 0.0)
    jaw, ul, st, pr = A["jaw"], A["upper_lip"], A["lip_stretch"], A["lip_press"]
    rnd = A["mouth_round"] * min(1.0, jaw * 1.5)
    mw = fp.mouth_w * (1 + 0.18 * smile + 0.3 * st - 0.15 * pr - 0.42 * rnd)
    cyb = my - 0.085 * smile + 0.085 * frown + 0.015 * st
    xl, xr, yl, yr = -mw, mw, cyb, cyb
    c = A["contempt"]
    if A["contempt_side"] > 0:
        xr, yr = xr + 0.04 * c, yr - 0.075 * c
    else:
        xl, yl = xl - 0.04 * c, yl - 0.075 * c
    u = np.linspace(-1, 1, 25)
    x = np.where(u < 0, -u * xl, u * xr)
    corner = np.where(u < 0, yl, yr)
    centre = my + 0.01 * frown - 0.004 * smile
    line = centre + (corner - centre) * np.abs(u) ** (1.6 + 0.6 * smile)
    gap = 0.2 * jaw + 0.02 * st * (jaw > 0.05)
    bell = np.maximum(1 - u ** 2, 0.0)
    shape = bell ** (0.8 - 0.35 * rnd)
    ui = line - (0.25 * gap * shape + 0.035 * ul * bell ** 0.6)
    li = line + 0.75 * gap * shape
    tu = fp.lip_upper * (1 - 0.75 * pr) * (1 - 0.3 * ul) * (1 - 0.2 * st)
    tl = fp.lip_lower * (1 - 0.7 * pr) * (1 - 0.25 * st) * (1 - 0.25 * smile)
    bow = 1 - 0.3 * np.exp(-(u / 0.13) ** 2)
    uo = ui - tu * bell ** 0.55 * bow - 0.003
    lo = li + tl * bell ** 0.5
    return dict(x=x, ui=ui, li=li, uo=uo, lo=lo, line=line, gap=gap, my=my, corners=((xl, yl), (xr, yr)))


def _draw_head(img, P: _Proj, fp: FaceParams, A: dict):
    a = fp.face_w
    skin = fp.skin
    hair = fp.hair
    ct, st = P.ct, P.st
    jaw = A["jaw"]
    vol = fp.hair_volume
    # -- long hair behind the shoulders
    if fp.hair_style == 2:
        hw = (a + vol + 0.08) * (0.7 + 0.3 * abs(ct)) + 0.3 * abs(st)
        ys = np.array([-0.3, 0.4, 1.0, 1.5, 1.62, 1.66, 1.62, 1.5, 1.0, 0.4, -0.3])
        xs = np.array([-1.0, -1.02, -1.08, -1.12, -0.9, 0.0, 0.9, 1.12, 1.08, 1.02, 1.0]) * hw - 0.25 * st
        _fill(img, P.flat(xs, ys), _scale(hair, 0.8))
    # -- shoulders, neck
    sx = -0.1 * st
    ex, ey = _ellipse_pts(sx, 2.27, 2.0 - 0.3 * abs(st), 0.85, 40)
    _fill(img, P.flat(ex, ey), fp.shirt)
    nx = (np.array([-0.46, -0.5, -0.55, -0.34, 0.0, 0.34, 0.55, 0.5, 0.46]) * a * (1 + 0.7 * abs(st))
          + sx - 0.3 * P.depth * st)
    ny = np.array([0.2, 1.1, 1.45, 1.56, 1.60, 1.56, 1.45, 1.1, 0.2])
    _fill(img, P.flat(nx, ny), _scale(skin, 0.8))
    col = np.linspace(-0.55, 0.55, 15) * a
    coll = 1.45 + 0.15 * np.sqrt(np.maximum(1 - (col / (0.55 * a)) ** 2, 0.0))
    col = col + sx - 0.08 * st
    _stroke(img, P.flat(col, coll), 0.02 * P.unit, _scale(fp.shirt, 0.8))
    # -- skull (hair volume), cut at ear level for short hair
    cut = {0: fp.eye_y + 0.2, 1: 0.55, 2: 0.9}[fp.hair_style] + 0.4 * abs(st)
    sw = math.sqrt((a * ct) ** 2 + (1.05 * P.depth * st) ** 2) + vol
    sh = 1.0 + vol * 1.2
    t = np.linspace(0, 2 * np.pi, 60, endpoint=False)
    hx = -0.12 * P.depth * st + sw * np.cos(t)
    hy = -0.02 + sh * np.sin(t)
    keep = hy < cut
    _fill(img, P.flat(hx[keep], hy[keep]), hair)
    # -- ears (far side before the face, near side after)
    ears = []
    for s in (-1, 1):
        ex, ey = _ellipse_pts(s * (a - 0.02), fp.eye_y + 0.1, 0.075 * fp.ear, 0.145 * fp.ear, 18)
        p, zr = P(ex, ey, z=np.full_like(ex, -0.1) + 0.0 * ex)
        ears.append((p, zr, s))
    hidden_ears = fp.hair_style >= 1

    def draw_ear(p):
        _fill(img, p, _scale(skin, 0.93))
        c = p.mean(0)
        _fill(img, c + (p - c) * 0.55, _scale(skin, 0.75), 0.6)

    for p, zr, s in ears:
        if np.mean(zr) < 0.05 and not hidden_ears:
            draw_ear(p)
    _draw_side_hair(img, P, fp, back=True)
    # -- face region (skin): convex hull of the projected surface below the hairline
    tt = np.linspace(0, 2 * np.pi, 72, endpoint=False)
    c, s_ = np.cos(tt), np.sin(tt)
    e = 1 - 0.3 * fp.jaw
    k = 0.46 - 0.24 * fp.jaw
    chin = fp.chin + 0.11 * jaw
    x = np.where(s_ < 0, a * c, a * np.sign(c) * np.abs(c) ** e * (1 - k * s_ ** 2))
    y = np.where(s_ < 0, s_, s_ * chin)
    hl = fp.hairline + 0.28 * (x / a) ** 2
    y = np.maximum(y, hl)
    grid_x = np.concatenate([x * r for r in (1.0, 0.85, 0.6, 0.3)])
    grid_y = np.concatenate([y * r for r in (1.0, 0.85, 0.6, 0.3)])
    gp, _ = P(grid_x, grid_y)
    if abs(st) > 0.02:  # turned head: the cheek reaches back to the ear, the jaw has an angle
        sj = 0.7
        xj = a * math.sqrt(1 - sj ** 2) ** e * (1 - k * sj ** 2)
        ys_ = np.linspace(fp.hairline + 0.25, 0.3, 5)
        ex_ = np.concatenate([np.full(5, -0.92 * a), np.full(5, 0.92 * a), [-xj, xj]])
        ey_ = np.concatenate([ys_, ys_, [sj * chin, sj * chin]])
        gp2, _ = P(ex_, ey_, z=np.concatenate([np.full(10, -0.08), [-0.05, -0.05]]))
        gp = np.concatenate([gp, gp2])
    hull = cv2.convexHull(gp.astype(np.float32)).reshape(-1, 2)
    _fill(img, hull, skin)
    face_mask_poly = hull
    if fp.stubble > 0:  # a darker beard shadow on the lower face
        sxs = np.linspace(-1, 1, 21) * a * 0.95
        top = fp.eye_y + fp.nose_len + 0.02
        bottom = np.minimum(chin * np.sqrt(np.maximum(1 - (sxs / a) ** 2, 0.0)) + 0.02, chin + 0.02)
        p, _ = P(np.concatenate([sxs, sxs[::-1]]), np.concatenate([np.full(21, top), bottom[::-1]]))
        _fill(img, p, _mix(skin, _rgb(60, 55, 55), 0.35), 0.35 * fp.stubble)
    for p, zr, s in ears:
        if np.mean(zr) >= 0.05 and not hidden_ears:
            draw_ear(p)
    return face_mask_poly, chin


def _draw_features(img, P: _Proj, fp: FaceParams, A: dict, dark_map, blush_map):
    skin = fp.skin
    U = P.unit
    line_col = _scale(skin, 0.55)
    ey0 = fp.eye_y
    wide, squint = max(A["eye_open"], 0.0), max(-A["eye_open"], 0.0)
    cheek = A["cheek"]
    # ---------------- eyes
    for s in (-1, 1):
        ex = s * fp.eye_dist
        ey = ey0 - 0.006 * s * fp.asym
        w = fp.eye_w
        up = max(0.15, 1 + 1.1 * wide - 0.6 * squint - 0.3 * cheek)
        lowf = max(0.1, 1 + 0.6 * wide - 0.65 * cheek - 0.4 * squint)
        hu, hl = fp.eye_h * up, fp.eye_h * 0.6 * lowf
        uu = np.linspace(0, 1, 17)
        xs = ex - s * w + 2 * s * w * uu
        base = ey + 0.006 - 0.014 * uu
        upper = base - hu * np.sin(np.pi * uu ** 0.9) ** 0.85
        lower = base + hl * np.sin(np.pi * uu ** 1.1)
        pu, zr = P(xs, upper, dz=-0.04)
        vis = _vis(zr)
        if vis <= 0.02:
            continue
        pl, _ = P(xs, lower, dz=-0.04)
        r = 0.5 * w
        icx, icy = ex + A["gaze_x"] * w * 0.3, ey - 0.12 * fp.eye_h + A["gaze_y"] * fp.eye_h
        # eye white
        white = np.concatenate([pu, pl[::-1]])
        _fill(img, white, _rgb(232, 230, 226), vis)
        ix, iy = _ellipse_pts(icx, icy, r, r, 28)
        pi_, _ = P(ix, iy, dz=-0.03)
        _fill(img, pi_, _scale(fp.iris, 0.7), vis)
        _fill(img, pi_.mean(0) + (pi_ - pi_.mean(0)) * 0.82, fp.iris, vis)
        _fill(img, pi_.mean(0) + (pi_ - pi_.mean(0)) * 0.42, _rgb(12, 10, 10), vis)
        hx, hy = _ellipse_pts(icx - 0.3 * r, icy - 0.3 * r, 0.12 * r, 0.12 * r, 10)
        _fill(img, P(hx, hy, dz=-0.02)[0], _rgb(250, 250, 250), 0.9 * vis)
        # lids cover the iris outside the eye opening
        cov_u, _ = P(xs, upper - 2.2 * r, dz=-0.04)
        cov_l, _ = P(xs, lower + 2.2 * r, dz=-0.04)
        _fill(img, np.concatenate([pu, cov_u[::-1]]), skin)
        _fill(img, np.concatenate([pl, cov_l[::-1]]), skin)
        # crease, lashes, lower lid
        crease_off = 0.022 + 0.018 * wide - 0.008 * squint
        cu = np.linspace(0.12, 0.9, 12)
        cxs = ex - s * w + 2 * s * w * cu
        cys = ey + 0.006 - 0.014 * cu - (hu + crease_off) * np.sin(np.pi * cu ** 0.9) ** 0.7
        _stroke(img, P(cxs, cys, dz=-0.03)[0], 0.006 * U, line_col, 0.35 * fp.crease * vis)
        _stroke(img, pu, (0.006 + 0.007 * uu) * U, _rgb(35, 28, 28), 0.95 * vis)
        _stroke(img, pl, 0.003 * U, _scale(skin, 0.6), 0.5 * vis)
        if cheek > 0.15:  # lower-lid bulge and crow's feet
            bl = lower + 0.03 + 0.0 * uu
            _stroke(img, P(xs[3:-3], bl[3:-3], dz=-0.03)[0], 0.004 * U, line_col, 0.35 * cheek * vis)
            ox, oy = ex + s * (w + 0.02), ey
            for ang in (-0.45, 0.0, 0.45):
                lx = ox + s * np.array([0.0, 0.05]) * math.cos(ang)
                ly = oy + np.array([0.0, 0.05]) * math.sin(ang)
                _stroke(img, P(lx, ly)[0], 0.003 * U, line_col, 0.35 * cheek * vis)
        # eye socket shadow (soft)
        sp, _ = P(np.array([ex]), np.array([ey - 0.03]))
        cv2.ellipse(dark_map, (int(sp[0, 0]), int(sp[0, 1])), (max(1, int(0.16 * U * abs(P.ct) + 0.05 * U)), max(1, int(0.09 * U))),
                    0, 0, 360, 0.08, -1)
    # ---------------- brows
    R, I, L = A["brow_raise"], A["inner_brow"], A["brow_lower"]
    for s in (-1, 1):
        inner_x, outer_x = s * (fp.eye_dist - fp.eye_w * 0.95), s * (fp.eye_dist + fp.eye_w * 1.3)
        uu = np.linspace(0, 1, 14)
        bx = inner_x + (outer_x - inner_x) * uu - s * 0.04 * L * (1 - uu)
        by = (ey0 - fp.brow_gap + 0.005 * s * fp.asym
              - fp.brow_arch * (1 - ((uu - 0.6) / 0.62) ** 2)
              - 0.1 * R - 0.025 * max(R, 0) * np.sin(np.pi * uu)
              - 0.095 * I * (1 - uu) ** 1.5 + 0.015 * I * uu
              + 0.055 * L + 0.05 * L * (1 - uu) ** 2)
        p, zr = P(bx, by, dz=0.02)
        vis = _vis(zr)
        if vis > 0.02:
            taper = np.sqrt(np.sin(np.pi * (0.08 + 0.88 * uu)))
            _stroke(img, p, fp.brow_thick * (1.25 - 0.6 * uu) * taper * U, fp.brow, 0.92 * vis)
    # forehead lines (AU1+2) and glabella lines (AU4)
    fr = max(R, 0) + 0.5 * I
    if fr > 0.25:
        for j in range(3):
            xx = np.linspace(-0.28, 0.28, 15)
            yy = ey0 - fp.brow_gap - 0.15 - 0.065 * j - 0.03 * (xx / 0.28) ** 2 - 0.05 * max(R, 0)
            if yy.min() > fp.hairline + 0.06 + 0.1 * fp.fringe:
                _stroke(img, P(xx, yy)[0], 0.004 * U, line_col, 0.35 * min(1.0, fr - 0.2))
    if L > 0.3:
        for s in (-1, 1):
            gx = np.array([s * 0.03, s * 0.035, s * 0.04])
            gy = ey0 - fp.brow_gap + 0.045 * L + np.array([-0.02, 0.03, 0.08])
            _stroke(img, P(gx, gy)[0], 0.004 * U, line_col, 0.5 * (L - 0.25))
    # ---------------- nose
    N = A["nose_wrinkle"]
    tip = ey0 + fp.nose_len
    nw = fp.nose_w * (1 + 0.25 * N)
    # side silhouette of the nose (visible when the head is turned)
    px = np.array([0.0, 0.0, 0.0, 0.0, 0.0])
    py = np.array([ey0 - 0.03, tip - 0.06, tip - 0.01, tip + 0.02, tip + 0.03])
    pz = P.z(px, py) + np.array([0.03, 0.16, 0.2, 0.13, 0.02])
    if abs(P.st) > 0.1:
        s_near = -1 if P.st > 0 else 1
        bx = np.array([s_near * nw * 0.9, s_near * 0.05])
        byy = np.array([tip + 0.02, ey0 - 0.02])
        p1, _ = P(px, py, z=pz)
        p2, _ = P(bx, byy)
        _fill(img, np.concatenate([p1, p2]), skin)
        _stroke(img, p1[1:4], 0.004 * U, _scale(skin, 0.7), 0.5)
    for s in (-1, 1):
        nx_, ny_ = _ellipse_pts(s * nw * 0.45, tip + 0.012 - 0.02 * N, 0.03 * (1 + 0.2 * N), 0.014, 14)
        p, zr = P(nx_, ny_, dz=0.06)
        v = _vis(zr)
        _fill(img, p, _scale(skin, 0.35), 0.8 * v)
        ax = s * np.array([nw * 0.55, nw * 0.95, nw * 1.0, nw * 0.75])
        ay = np.array([tip - 0.06, tip - 0.02, tip + 0.01, tip + 0.03]) - 0.015 * N
        _stroke(img, P(ax, ay, dz=0.05)[0], 0.005 * U, line_col, 0.4 * v)
    ls = -1 if math.cos(A.get("_light", 0.0)) > 0 else 1  # shadow side of the bridge
    bx = np.array([ls * 0.06, ls * 0.065, ls * nw * 0.55])
    byy = np.array([ey0 - 0.02, ey0 + 0.15, tip - 0.07])
    _stroke(img, P(bx, byy, dz=0.06)[0], 0.01 * U, _scale(skin, 0.8), 0.15)
    cv2.ellipse(dark_map, tuple(int(v) for v in P(np.array([0.0]), np.array([tip + 0.045]))[0][0]),
                (max(1, int(0.07 * U)), max(1, int(0.025 * U))), 0, 0, 360, 0.1, -1)
    if N > 0.2:  # nose wrinkles
        for j in range(3):
            wx = np.linspace(-0.055, 0.055, 7)
            wy = ey0 + 0.05 + 0.04 * j - 0.012 * (1 - (wx / 0.055) ** 2)
            _stroke(img, P(wx, wy, dz=0.08)[0], 0.004 * U, line_col, 0.55 * (N - 0.1))
        for s in (-1, 1):
            dx = s * np.array([0.06, 0.1])
            dy = np.array([ey0 + 0.08, ey0 + 0.16])
            _stroke(img, P(dx, dy, dz=0.05)[0], 0.004 * U, line_col, 0.45 * (N - 0.1))
    # ---------------- mouth
    m = _mouth(fp, A)
    x = m["x"]
    (xl, yl), (xr, yr) = m["corners"]
    # nasolabial folds
    fold = 0.12 + 0.5 * A["cheek"] + 0.35 * A["upper_lip"] + 0.3 * N + 0.15 * A["lip_stretch"]
    for s, (cxc, cyc) in ((-1, (xl, yl)), (1, (xr, yr))):
        f = fold + (0.4 * A["contempt"] if (s > 0) == (A["contempt_side"] > 0) else 0.0)
        t = np.linspace(0, 1, 12)
        p0 = np.array([s * nw * 1.05, tip - 0.03])
        p2 = np.array([cxc + s * 0.045, cyc + 0.035])
        p1 = np.array([s * (abs(cxc) + 0.08), (tip + cyc) / 2])
        q = (1 - t)[:, None] ** 2 * p0 + 2 * ((1 - t) * t)[:, None] * p1 + (t ** 2)[:, None] * p2
        pp, zr = P(q[:, 0], q[:, 1])
        _stroke(img, pp, (0.004 + 0.004 * np.sin(np.pi * t)) * U, line_col, min(0.7, f) * _vis(zr))
    pu_o, zr = P(x, m["uo"], dz=0.03)
    mvis = _vis(zr, -0.3, -0.1)
    pu_i, _ = P(x, m["ui"], dz=0.03)
    pl_i, _ = P(x, m["li"], dz=0.03)
    pl_o, _ = P(x, m["lo"], dz=0.03)
    if m["gap"] > 0.004 or A["upper_lip"] > 0.3:
        _fill(img, np.concatenate([pu_i, pl_i[::-1]]), _rgb(70, 28, 32), mvis)
        if A["jaw"] > 0.45:
            tx, ty = _ellipse_pts(0, m["my"] + 0.75 * m["gap"] * 0.8, 0.6 * abs(xr), 0.25 * m["gap"], 20)
            _fill(img, P(tx, ty, dz=0.02)[0], _rgb(165, 80, 85), 0.8 * mvis)
        if A["teeth"] > 0.5:
            th = 0.045
            keep = np.abs(np.linspace(-1, 1, len(x))) < 0.8
            tp_top, _ = P(x[keep], m["ui"][keep] - 0.005, dz=0.02)
            tp_bot, _ = P(x[keep], m["ui"][keep] + th * (1 - np.linspace(-1, 1, len(x))[keep] ** 2) ** 0.3, dz=0.02)
            _fill(img, np.concatenate([tp_top, tp_bot[::-1]]), _rgb(236, 230, 218), mvis)
            for tx_ in (-0.1, -0.04, 0.04, 0.1):
                tl, _ = P(np.array([tx_, tx_]), np.interp(tx_, x, m["ui"]) + np.array([0.0, th * 0.9]), dz=0.02)
                _stroke(img, tl, 0.003 * U, _rgb(190, 180, 170), 0.5 * mvis)
    _fill(img, np.concatenate([pu_o, pu_i[::-1]]), fp.lip, mvis)
    _fill(img, np.concatenate([pl_i, pl_o[::-1]]), _scale(fp.lip, 1.05), mvis)
    _stroke(img, pu_i if m["gap"] <= 0.004 else pu_i[2:-2], 0.005 * U, _scale(fp.lip, 0.45), 0.8 * mvis)
    for (cxc, cyc) in ((xl, yl), (xr, yr)):
        dx, dy = _ellipse_pts(cxc, cyc, 0.012, 0.007, 10)
        _fill(img, P(dx, dy, dz=0.03)[0], _scale(skin, 0.6), 0.5 * mvis)
    # chin crease, shadow under the lower lip
    cyy = m["lo"].max() + 0.05 + 0.02 * A["lip_press"]
    cx_ = np.linspace(-0.07, 0.07, 9)
    _stroke(img, P(cx_, cyy - 0.01 * (1 - (cx_ / 0.07) ** 2))[0], 0.004 * U, line_col, 0.12 + 0.4 * A["lip_press"])
    cpt = P(np.array([0.0]), np.array([m["lo"].max() + 0.03]))[0][0]
    cv2.ellipse(dark_map, (int(cpt[0]), int(cpt[1])), (max(1, int(0.09 * U)), max(1, int(0.025 * U))), 0, 0, 360,
                0.08, -1)
    # cheeks (soft)
    for s in (-1, 1):
        cp, zr = P(np.array([s * (fp.eye_dist + 0.02)]), np.array([ey0 + 0.2 - 0.03 * cheek]))
        if _vis(zr) > 0.2:
            cv2.ellipse(blush_map, (int(cp[0, 0]), int(cp[0, 1])), (max(1, int(0.13 * U)), max(1, int(0.085 * U))),
                        0, 0, 360, float(fp.blush * 0.5 + 0.25 * cheek), -1)


def _draw_side_hair(img, P: _Proj, fp: FaceParams, back: bool):
    """Side hair of medium / long styles: the far side (turned head) behind the face, the near side over it."""
    if fp.hair_style < 1:
        return
    a, hair, vol = fp.face_w, fp.hair, fp.hair_volume
    end = 0.45 if fp.hair_style == 1 else 1.55
    ys = np.linspace(fp.hairline + 0.02, end, 18)
    t = (ys - ys[0]) / (end - ys[0])
    face = a * np.sqrt(np.maximum(1 - (ys / 1.05) ** 2, 0.0025))
    inner = np.maximum(face * 0.9, np.where(ys > 0.5, 0.58 * a, 0.0))
    outer = a * np.sqrt(np.maximum(1 - (ys / 1.12) ** 2, 0.6)) + vol + 0.09 * np.maximum(ys - 0.3, 0.0)
    outer = np.maximum(outer, inner + 0.08)
    tip = np.clip((1 - t) / 0.12, 0, 1) ** 0.5  # rounded ends
    outer = inner + (outer - inner) * np.maximum(tip, 0.25)
    ys_out = ys + 0.03 * np.cos(np.arange(18) * 2.3) * (t > 0.85)
    z = -0.12 * abs(P.st) + 0.05 * P.ct
    for s in (-1, 1):
        xs = s * np.concatenate([inner, outer[::-1]])
        yy = np.concatenate([ys, ys_out[::-1]])
        p, zr = P(xs, yy, z=np.full(len(xs), z))
        if (float(np.mean(zr)) < 0.0) != back:
            continue
        _fill(img, p, hair)
        for j in (0.35, 0.65):  # a few strands
            sx = s * (inner + (outer - inner) * j)[3:-2]
            _stroke(img, P(sx, ys[3:-2], z=np.full(len(sx), z))[0], 0.004 * P.unit, _scale(hair, 0.7 if hair[0] > 60 else 1.8),
                    0.15)


def _draw_hair_front(img, P: _Proj, fp: FaceParams):
    a, hair, vol = fp.face_w, fp.hair, fp.hair_volume
    _draw_side_hair(img, P, fp, back=False)
    # fringe / top
    xs = np.linspace(-1, 1, 25) * fp.face_w * 0.98
    hl = fp.hairline + 0.28 * (xs / a) ** 2
    if fp.fringe > 0:
        target = fp.eye_y - fp.brow_gap - fp.brow_arch - 0.1
        depth = fp.fringe * (target - fp.hairline)
        jag = 0.025 * np.cos(np.arange(25) * 2.1) ** 2
        bottom = np.minimum(hl + depth * (1 - 0.5 * np.abs(xs / a) ** 3) - jag, np.maximum(hl, target))
        top = hl - 0.08
        p, _ = P(np.concatenate([xs, xs[::-1]]), np.concatenate([bottom, top[::-1]]), dz=0.03)
        _fill(img, p, hair)
    # strands from the parting towards the hairline
    px = fp.parting * 0.2
    top = -1.0 - 0.6 * vol
    for j, xe in enumerate(np.linspace(-0.85, 0.85, 7) * a):
        t = np.linspace(0, 1, 9)
        ye = fp.hairline + 0.28 * (xe / a) ** 2 - 0.05
        sx = px + (xe - px) * t ** 0.8
        sy = top + (ye - top) * (1 - (1 - t) ** 1.6)
        if fp.fringe > 0 and abs(xe) < 0.6 * a:
            sy = sy + 0.6 * fp.fringe * (fp.eye_y - fp.brow_gap - 0.1 - fp.hairline) * t ** 2
        p, _ = P(sx, sy, z=np.full(9, 0.55) * np.sqrt(1 - t * 0.5))
        _stroke(img, p[1:-1], 0.005 * P.unit, _scale(hair, 0.7 if hair[0] > 60 else 1.8), 0.12 + 0.06 * (j % 3))


def _background(style, w, h, nuis, cx, cy, unit):
    b = np.asarray(nuis["bg"], np.float32)
    gx, gy = nuis["bg_grad"]
    xs = (np.arange(w, dtype=np.float32) - w / 2) / w
    ys = (np.arange(h, dtype=np.float32) - h / 2) / h
    g = 1 - gx * xs[None, :] * 2 - gy * ys[:, None] * 2
    if style == "jaffe":
        r2 = xs[None, :] ** 2 + ys[:, None] ** 2
        g = g * (1 - 0.35 * r2)
    img = g[:, :, None] * b[None, None, :]
    if nuis.get("panel", 0) > 0:
        pw = int(nuis["panel"] * w)
        img[:, :pw] *= 0.6
    return np.clip(img, 0, 255).astype(np.uint8)


def _render(params: FaceParams, A: dict, nuis: dict, size, style: str, yaw: float, rng, *, grey: bool = False,
            work_scale: float | None = None, smooth: bool = False) -> np.ndarray:
    W, H = int(size[0]), int(size[1])
    if work_scale is None:
        work_scale = 0.5 if max(W, H) > 420 else 1.0
    w, h = max(16, int(round(W * work_scale))), max(16, int(round(H * work_scale)))
    fx, fy, fu = _FRAMING[style]
    unit = fu * h * nuis["scale"]
    cx = fx * w + nuis["dx"] * unit
    cy = fy * h + nuis["dy"] * unit
    img = _background(style, w, h, nuis, cx, cy, unit)
    P = _Proj(cx, cy, unit, yaw, nuis["roll"], params.face_w)
    A = dict(A)
    A["_light"] = nuis["light_angle"]
    dark = np.zeros((h, w), np.float32)
    blush = np.zeros((h, w), np.float32)
    face_poly, _ = _draw_head(img, P, params, A)
    _draw_features(img, P, params, A, dark, blush)
    _draw_hair_front(img, P, params)
    # soft shading (face-edge falloff, sockets, shadows, blush) on the head's box only
    sig = max(1.0, 0.09 * unit)
    fp_ = face_poly.reshape(-1, 2)
    pad = int(3 * sig) + 2
    x0, y0 = max(int(fp_[:, 0].min()) - pad, 0), max(int(fp_[:, 1].min()) - pad, 0)
    x1, y1 = min(int(fp_[:, 0].max()) + pad, w), min(int(fp_[:, 1].max()) + pad, h)
    # lighting gradient and brightness
    ang, L = nuis["light_angle"], nuis["light"]
    xs = (np.arange(w, dtype=np.float32) - np.float32(cx)) * np.float32(L * math.cos(ang) / (2.2 * unit))
    ys = (np.arange(h, dtype=np.float32) - np.float32(cy)) * np.float32(L * math.sin(ang) / (2.2 * unit))
    g = np.clip(np.float32(nuis["bright"]) * (1 + xs[None, :] + ys[:, None]), 0.3, 1.6)
    f = img.astype(np.float32)
    if x1 > x0 and y1 > y0:
        mask = np.zeros((y1 - y0, x1 - x0), np.float32)
        cv2.fillPoly(mask, [_pts(fp_ - (x0, y0))], 1.0, cv2.LINE_AA, 4)
        edge = cv2.GaussianBlur(mask, (0, 0), sig)
        shade = 1.0 - 0.22 * (1.0 - edge) * mask - cv2.GaussianBlur(dark[y0:y1, x0:x1], (0, 0), max(1.0, 0.04 * unit))
        bl = cv2.GaussianBlur(blush[y0:y1, x0:x1], (0, 0), max(1.0, 0.05 * unit)) * mask * 0.35
        roi = f[y0:y1, x0:x1]
        pink = np.asarray(_rgb(215, 110, 120), np.float32)
        roi += bl[:, :, None] * (pink[None, None, :] - roi)
        g[y0:y1, x0:x1] *= shade
    tint = 1 + np.asarray(nuis["tint"], np.float32)
    f *= g[:, :, None] * tint[None, None, :]
    blur = nuis["blur"] * (1.6 if smooth else 1.0)
    f = cv2.GaussianBlur(f, (0, 0), max(0.3, blur))
    if grey:
        f = cv2.cvtColor(f, cv2.COLOR_BGR2GRAY)
    # sensor noise at the drawing resolution (upscaling correlates it a little, as JPEG/demosaicing would)
    sigma = 0.0 if smooth else nuis["noise"] * (1.0 if work_scale >= 1 else 1.3)
    if sigma > 0:
        f += rng.standard_normal(f.shape, dtype=np.float32) * np.float32(sigma)
    out = np.clip(f + 0.5, 0, 255).astype(np.uint8)
    if (w, h) != (W, H):
        out = cv2.resize(out, (W, H), interpolation=cv2.INTER_LINEAR)
    return out


def draw_face(params: FaceParams, expression: str, intensity: float, size: tuple[int, int],
              rng: np.random.Generator, *, style: str = "kdef", yaw: float = 0.0, actions: dict | None = None,
              nuisance: dict | None = None, grey: bool = False, smooth: bool = False) -> np.ndarray:
    """One face image, H x W x 3 uint8 BGR (H x W when `grey`). `size` is (width, height).

    `style` picks framing, background and lighting (kdef, ckplus, jaffe); `yaw` (degrees) fakes a head turn.
    Peak `actions` (from `sample_actions`) and `nuisance` are drawn from `rng` unless given; `intensity`
    scales the actions (0 = neutral face of this subject).
    """
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; expected one of {STYLES}")
    if actions is None:
        actions = sample_actions(expression, rng, params.expressiveness)
    if nuisance is None:
        nuisance = _sample_nuisance(style, rng)
    return _render(params, _scaled(actions, intensity, params), nuisance, size, style, yaw, rng, grey=grey,
                   smooth=smooth)


# ----------------------------------------------------------------------------------------------------------
# caching

def _json_args(args: dict) -> dict:
    return json.loads(json.dumps(args))


def _count_files(root: Path, suffixes: tuple[str, ...]) -> int:
    n = 0
    stack = [root]
    while stack:
        d = stack.pop()
        try:
            with os.scandir(d) as it:
                for e in it:
                    if e.is_dir(follow_symlinks=False):
                        stack.append(e.path)
                    elif e.name.lower().endswith(suffixes):
                        n += 1
        except FileNotFoundError:
            return -1
    return n


def _read_stamp(out: Path) -> dict:
    try:
        return json.loads((out / _STAMP).read_text())
    except (OSError, ValueError):
        return {}


def _cached(out: Path, style: str, args: dict, tops: tuple[str, ...], suffixes) -> dict | None:
    entry = _read_stamp(out).get(style)
    if not entry or entry.get("args") != _json_args(args) or entry.get("version") != RENDER_VERSION:
        return None
    n = sum(max(_count_files(out / t, suffixes), 0) for t in tops)
    if n != entry.get("files"):
        return None
    return {**entry["summary"], "root": str(out), "cached": True}


def _begin(out: Path, style: str, tops: tuple[str, ...]) -> None:
    """Remove a previous (stamped or interrupted) synthetic render of this style, then mark this one partial."""
    out.mkdir(parents=True, exist_ok=True)
    stamp = _read_stamp(out)
    partial = out / f"{_PARTIAL}.{style}"
    if style in stamp or partial.exists():
        for t in tops:
            shutil.rmtree(out / t, ignore_errors=True)
    if style in stamp:
        stamp.pop(style)
        _write_json(out / _STAMP, stamp)
    partial.write_text("rendering\n")


def _finish(out: Path, style: str, args: dict, summary: dict, tops, suffixes) -> dict:
    stamp = _read_stamp(out)
    n = sum(max(_count_files(out / t, suffixes), 0) for t in tops)
    seconds = summary.pop("seconds", None)  # kept out of the stamp, so renders stay byte-identical
    stamp[style] = {"version": RENDER_VERSION, "args": _json_args(args), "summary": summary, "files": n}
    _write_json(out / _STAMP, stamp)
    (out / f"{_PARTIAL}.{style}").unlink(missing_ok=True)
    return {**summary, "root": str(out), "cached": False, "seconds": seconds}


def _write_json(path: Path, obj) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1, sort_keys=True) + "\n")
    os.replace(tmp, path)


def _rng(*key) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([int(k) for k in key]))


# ----------------------------------------------------------------------------------------------------------
# KDEF

def render_kdef(out_dir, *, subjects: int = 14, seed: int = 0, angles=KDEF_ANGLES, akdef: bool = True) -> dict:
    """`out_dir/KDEF/<AF01..>/<AF01ANS.JPG>` (and `out_dir/AKDEF/`): subjects alternate F/M from 01."""
    angles = tuple(angles)
    bad = [a for a in angles if a not in KDEF_ANGLES]
    if bad or not angles:
        raise ValueError(f"KDEF angles {bad or angles} invalid; expected a non-empty subset of {KDEF_ANGLES}")
    if not 1 <= subjects <= 198:
        raise ValueError(f"KDEF subjects={subjects}; expected 1..198 (two-digit numbers per gender)")
    out = Path(out_dir)
    args = {"subjects": subjects, "seed": seed, "angles": list(angles), "akdef": akdef}
    tops, sfx = ("KDEF", "AKDEF"), (".jpg",)
    hit = _cached(out, "kdef", args, tops, sfx)
    if hit:
        return hit
    t0 = time.perf_counter()
    _begin(out, "kdef", tops)
    sid = _STYLE_IDS["kdef"]
    size = _SIZES["kdef"]
    q = [cv2.IMWRITE_JPEG_QUALITY, 92]
    n = 0
    codes = [KDEF_CODES[c] for c in CLASSES]
    for i in range(subjects):
        gender = "F" if i % 2 == 0 else "M"
        num = i // 2 + 1
        base = FaceParams.sample(_rng(seed, sid, i, 0), gender=gender, look="kdef")
        for si, series in enumerate("AB"):
            srng = _rng(seed, sid, i, 1, si)
            fp = base if si == 0 else base.variant(srng)
            scene = _sample_scene("kdef", srng)
            folder = out / "KDEF" / f"{series}{gender}{num:02d}"
            folder.mkdir(parents=True, exist_ok=True)
            for ci, cls in enumerate(CLASSES):
                # one expression per (session, class); the angles are shot in one go
                erng = _rng(seed, sid, i, 2, si, ci)
                peak = sample_actions(cls, erng, fp.expressiveness)
                for angle in angles:
                    irng = _rng(seed, sid, i, 3, si, ci, KDEF_ANGLES.index(angle))
                    nuis = _sample_nuisance("kdef", irng, scene)
                    img = _render(fp, _scaled(peak, 1.0, fp), nuis, size, "kdef", KDEF_YAW[angle], irng)
                    name = f"{series}{gender}{num:02d}{codes[ci]}{angle}.JPG"
                    if not cv2.imwrite(str(folder / name), img, q):
                        raise OSError(f"could not write {folder / name}")
                    n += 1
    extra = 0
    if akdef:
        adir = out / "AKDEF"
        adir.mkdir(parents=True, exist_ok=True)
        for gi, gender in enumerate("FM"):
            fp = FaceParams.average(gender)
            for ci, cls in enumerate(CLASSES):
                peak = sample_actions(cls, _rng(seed, sid, 900, gi, ci), 1.0)
                peak = {k: (_clamp(_PROTO_MEAN.get(cls, {}).get(k, 0.0), -1, 1) if k in _ACTIONS else v)
                        for k, v in peak.items()}
                peak.update(gaze_x=0.0, gaze_y=0.0)
                for angle in angles:
                    irng = _rng(seed, sid, 901, gi, ci, KDEF_ANGLES.index(angle))
                    nuis = _sample_nuisance("kdef", irng, _sample_scene("kdef", _rng(seed, sid, 902)))
                    nuis.update(roll=0.0, dx=0.0, dy=0.0, scale=1.0)
                    img = _render(fp, _scaled(peak, 1.0, fp), nuis, size, "kdef", KDEF_YAW[angle], irng, smooth=True)
                    cv2.imwrite(str(adir / f"{gender}{codes[ci]}{angle}.JPG"), img, q)
                    extra += 1
    summary = {"style": "kdef", "images": n, "subjects": subjects, "extra_images": extra,
               "seconds": round(time.perf_counter() - t0, 2)}
    return _finish(out, "kdef", args, summary, tops, sfx)


# mean actions per class (for the averaged AKDEF faces)
_PROTO_MEAN = {
    "happy": {"lip_corner": 0.85, "cheek": 0.75, "eye_open": -0.25, "jaw": 0.2, "upper_lip": 0.3},
    "sad": {"inner_brow": 0.8, "brow_lower": 0.25, "lip_corner": -0.75, "eye_open": -0.15, "lip_press": 0.2},
    "angry": {"brow_lower": 0.85, "eye_open": -0.4, "lip_press": 0.8, "lip_corner": -0.1},
    "disgust": {"nose_wrinkle": 0.8, "upper_lip": 0.75, "brow_lower": 0.5, "eye_open": -0.35, "cheek": 0.35,
                "lip_corner": -0.2},
    "fear": {"brow_raise": 0.7, "inner_brow": 0.5, "brow_lower": 0.45, "eye_open": 0.8, "lip_stretch": 0.75,
             "jaw": 0.3},
    "surprise": {"brow_raise": 0.85, "eye_open": 0.8, "jaw": 0.75, "mouth_round": 0.65},
}


# ----------------------------------------------------------------------------------------------------------
# CK+

# Sequence emotions cycle through this order, so a subject's sequences are distinct emotions.
_CK_CYCLE = (5, 2, 7, 1, 3, 6, 4)


def _ck_subject_ids(n: int, seed: int) -> list[int]:
    rng = _rng(seed, _STYLE_IDS["ckplus"], 77)
    ids, cur = [], 5
    step_max = max(1, min(6, (990 - 5) // max(n, 1)))
    for _ in range(n):
        ids.append(cur)
        cur += int(rng.integers(1, step_max + 1))
    if ids[-1] > 999:
        raise ValueError(f"CK+ subjects={n}: too many for three-digit ids")
    return ids


def render_ckplus(out_dir, *, subjects: int = 12, seed: int = 1, sequences_per_subject: int = 4,
                  frames=(6, 10)) -> dict:
    """`out_dir/cohn-kanade-images/Sxxx/yyy/Sxxx_yyy_0000000n.png` and `out_dir/Emotion/.../*_emotion.txt`.

    Each sequence runs from neutral (first frame) to the peak of one emotion (last frame). A third of the
    sequences (global index 2, 5, 8, 11, ...) are unlabelled: the first keeps an empty label folder, the others
    have none. Emotions cycle (happy, contempt, surprise, anger, disgust, sadness, fear), so a subject's
    sequences differ and contempt (code 2) appears; subjects 2, 7, 12, ... are 640 x 480; two frames (first
    frame of sequence 1, last frame of sequence 3, counting from 0) are 3-channel PNGs.
    """
    if not 1 <= sequences_per_subject <= 7:
        raise ValueError(f"sequences_per_subject={sequences_per_subject}; expected 1..7 (distinct emotions)")
    f0, f1 = int(frames[0]), int(frames[1])
    if not 2 <= f0 <= f1:
        raise ValueError(f"frames={frames}; expected (min, max) with 2 <= min <= max")
    out = Path(out_dir)
    args = {"subjects": subjects, "seed": seed, "sequences_per_subject": sequences_per_subject, "frames": [f0, f1]}
    tops, sfx = ("cohn-kanade-images", "Emotion"), (".png", ".txt")
    hit = _cached(out, "ckplus", args, tops, sfx)
    if hit:
        return hit
    t0 = time.perf_counter()
    _begin(out, "ckplus", tops)
    sid = _STYLE_IDS["ckplus"]
    ids = _ck_subject_ids(subjects, seed)
    n = labelled = g = 0
    empty_done = False
    colour_frames = 0
    for i, subj in enumerate(ids):
        S = f"S{subj:03d}"
        fp = FaceParams.sample(_rng(seed, sid, i, 0), look="ckplus")
        srng = _rng(seed, sid, i, 1)
        scene = _sample_scene("ckplus", srng)
        size = (640, 480) if i % 5 == 1 else (640, 490)
        cam_dx, cam_dy = srng.uniform(-_CK_CAMERA[0], _CK_CAMERA[0]), srng.uniform(-_CK_CAMERA[1], _CK_CAMERA[1])
        seq_no = 0
        for j in range(sequences_per_subject):
            seq_no += 1 + (1 if (j > 0 and srng.random() < 0.12) else 0)
            code = _CK_CYCLE[(i * sequences_per_subject + j) % len(_CK_CYCLE)]
            unlabelled = g % 6 in (2, 5)
            qrng = _rng(seed, sid, i, 2, j)
            peak = sample_actions(CKPLUS_CODES[code], qrng, fp.expressiveness * 1.05)
            nuis0 = _sample_nuisance("ckplus", qrng, scene)
            nuis0["dx"] = 0.4 * nuis0["dx"] + cam_dx
            nuis0["dy"] = 0.4 * nuis0["dy"] + cam_dy
            drift = qrng.uniform(-1.5, 1.5, 3)
            nf = int(qrng.integers(f0, f1 + 1))
            Q = f"{seq_no:03d}"
            d = out / "cohn-kanade-images" / S / Q
            d.mkdir(parents=True, exist_ok=True)
            for k in range(nf):
                t = k / (nf - 1)
                inten = t * t * (3 - 2 * t)
                frng = _rng(seed, sid, i, 3, j, k)
                nuis = dict(nuis0, roll=nuis0["roll"] + drift[0] * t, dx=nuis0["dx"] + 0.01 * drift[1] * t,
                            dy=nuis0["dy"] + 0.01 * drift[2] * t, noise=nuis0["noise"] * frng.uniform(0.9, 1.1))
                a = dict(peak, gaze_x=peak["gaze_x"] * t, gaze_y=peak["gaze_y"] * t)
                colour = (g == 1 and k == 0) or (g == 3 and k == nf - 1)
                img = _render(fp, _scaled(a, inten, fp), nuis, size, "ckplus", 0.0, frng, grey=not colour)
                colour_frames += colour
                name = d / f"{S}_{Q}_{k + 1:08d}.png"
                if not cv2.imwrite(str(name), img):
                    raise OSError(f"could not write {name}")
                n += 1
            ld = out / "Emotion" / S / Q
            if unlabelled:
                if not empty_done:
                    ld.mkdir(parents=True, exist_ok=True)
                    empty_done = True
            else:
                ld.mkdir(parents=True, exist_ok=True)
                (ld / f"{S}_{Q}_{nf:08d}_emotion.txt").write_text(f"   {float(code):.7e}\n")
                labelled += 1
            g += 1
    summary = {"style": "ckplus", "images": n, "subjects": subjects, "sequences": g, "labelled_sequences": labelled,
               "colour_frames": colour_frames, "seconds": round(time.perf_counter() - t0, 2)}
    return _finish(out, "ckplus", args, summary, tops, sfx)


# ----------------------------------------------------------------------------------------------------------
# JAFFE

def _extra_posers(n: int) -> list[str]:
    names = []
    for a in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
        for b in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
            if a + b not in JAFFE_POSERS:
                names.append(a + b)
            if len(names) == n:
                return names
    raise ValueError("too many JAFFE posers")


_JAFFE_README = """Synthetic JAFFE-style images (fer.data.synthetic), NOT the real JAFFE database.

Layout as in the real download: one folder of 256 x 256 8-bit grey TIFF images named
<poser>.<EXPR><k>.<number>.tiff (EXPR: AN DI FE HA NE SA SU; k: per-expression index; number: running
image number with gaps). Readers must ignore this file.
"""


def render_jaffe(out_dir, *, posers=JAFFE_POSERS, per_expression: int = 3, seed: int = 2) -> dict:
    """`out_dir/jaffe/<poser>.<EXPR><k>.<number>.tiff` (grey 256 x 256) and `out_dir/jaffe/README`."""
    posers = tuple(str(p) for p in posers)
    if not posers or any("." in p or not p for p in posers) or len(set(posers)) != len(posers):
        raise ValueError(f"JAFFE posers {posers}: expected distinct non-empty names without dots")
    if per_expression < 1:
        raise ValueError(f"per_expression={per_expression}; expected >= 1")
    out = Path(out_dir)
    args = {"posers": list(posers), "per_expression": per_expression, "seed": seed}
    tops, sfx = ("jaffe",), (".tiff", ".tif")
    hit = _cached(out, "jaffe", args, tops, sfx)
    if hit:
        return hit
    t0 = time.perf_counter()
    _begin(out, "jaffe", tops)
    sid = _STYLE_IDS["jaffe"]
    d = out / "jaffe"
    d.mkdir(parents=True, exist_ok=True)
    (d / "README").write_text(_JAFFE_README)
    grng = _rng(seed, sid, 999)
    number, n = 0, 0
    order = ("AN", "DI", "FE", "HA", "NE", "SA", "SU")
    inv = {v: k for k, v in JAFFE_CODES.items()}
    for pi, poser in enumerate(posers):
        fp = FaceParams.sample(_rng(seed, sid, pi, 0), gender="F", look="jaffe")
        fp = replace(fp, expressiveness=fp.expressiveness * 0.95)
        scene = _sample_scene("jaffe", _rng(seed, sid, pi, 1))
        for ci, code in enumerate(order):
            for k in range(1, per_expression + 1):
                number += 1 + int(grng.random() < 0.03)
                irng = _rng(seed, sid, pi, 2, ci, k)
                img = draw_face(fp, inv[code], 1.0, _SIZES["jaffe"], irng, style="jaffe", grey=True,
                                nuisance=_sample_nuisance("jaffe", irng, scene))
                Image.fromarray(img).save(d / f"{poser}.{code}{k}.{number}.tiff", format="TIFF")
                n += 1
    summary = {"style": "jaffe", "images": n, "subjects": len(posers), "seconds": round(time.perf_counter() - t0, 2)}
    return _finish(out, "jaffe", args, summary, tops, sfx)


# ----------------------------------------------------------------------------------------------------------

def render(style: str, out_dir: str | Path, *, subjects: int | None = None, seed: int = 0, **opts) -> dict:
    """Render one style's native tree into `out_dir` (cached: a complete render with the same arguments is
    not redone). `subjects` defaults to the style's default (KDEF 14, CK+ 12, JAFFE 10 posers); for JAFFE it
    takes the first posers (KA, KL, ...), inventing two-letter names past 10. Returns
    {"style", "root", "images", "subjects", ...}."""
    if style == "kdef":
        if subjects is not None:
            opts["subjects"] = subjects
        return render_kdef(out_dir, seed=seed, **opts)
    if style == "ckplus":
        if subjects is not None:
            opts["subjects"] = subjects
        return render_ckplus(out_dir, seed=seed, **opts)
    if style == "jaffe":
        if subjects is not None:
            if "posers" in opts:
                raise ValueError("give JAFFE either subjects or posers, not both")
            if subjects < 1:
                raise ValueError(f"JAFFE subjects={subjects}; expected >= 1")
            opts["posers"] = (JAFFE_POSERS[:subjects] if subjects <= len(JAFFE_POSERS)
                              else JAFFE_POSERS + tuple(_extra_posers(subjects - len(JAFFE_POSERS))))
        return render_jaffe(out_dir, seed=seed, **opts)
    raise ValueError(f"unknown synthetic style {style!r}; expected one of {STYLES}")


if __name__ == "__main__":  # pragma: no cover - `python -m fer.data.synthetic kdef /tmp/kdef`
    import sys

    print(render(sys.argv[1], sys.argv[2], **({"subjects": int(sys.argv[3])} if len(sys.argv) > 3 else {})))
