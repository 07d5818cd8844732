"""One image: background, head, features and hair drawn at a working resolution, then soft shading, lighting,
tint, blur, sensor noise and the resize to the native size. `draw_face` is the public entry."""

from __future__ import annotations

import math

import cv2
import numpy as np

from fer.synthetic.face import FaceParams, sample_actions, scale_actions
from fer.synthetic.features import draw_features
from fer.synthetic.geometry import Projection, fixed_point
from fer.synthetic.head import draw_hair_front, draw_head
from fer.synthetic.palette import rgb
from fer.synthetic.scene import sample_nuisance
from fer.synthetic.styles import FRAMING, STYLES


def draw_face(
    params: FaceParams,
    expression: str,
    intensity: float,
    size: tuple[int, int],
    rng: np.random.Generator,
    *,
    style: str = "kdef",
    yaw: float = 0.0,
    actions: dict | None = None,
    nuisance: dict | None = None,
    grey: bool = False,
    smooth: bool = False,
) -> np.ndarray:
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
        nuisance = sample_nuisance(style, rng)
    scaled = scale_actions(actions, intensity, params)
    return render_image(params, scaled, nuisance, size, style, yaw, rng, grey=grey, smooth=smooth)


def render_image(
    params: FaceParams,
    A: dict,
    nuis: dict,
    size,
    style: str,
    yaw: float,
    rng,
    *,
    grey: bool = False,
    work_scale: float | None = None,
    smooth: bool = False,
) -> np.ndarray:
    """The image of a face with (already scaled) actions `A` under nuisances `nuis`; `rng` draws the noise.
    Large images are drawn at half size (`work_scale`) and resized; `smooth` (AKDEF) blurs more, adds no noise."""
    W, H = int(size[0]), int(size[1])
    if work_scale is None:
        work_scale = 0.5 if max(W, H) > 420 else 1.0
    w, h = max(16, int(round(W * work_scale))), max(16, int(round(H * work_scale)))
    fx, fy, fu = FRAMING[style]
    unit = fu * h * nuis["scale"]
    cx = fx * w + nuis["dx"] * unit
    cy = fy * h + nuis["dy"] * unit
    img = background(style, w, h, nuis)
    P = Projection(cx, cy, unit, yaw, nuis["roll"], params.face_w)
    A = dict(A)
    A["_light"] = nuis["light_angle"]
    dark = np.zeros((h, w), np.float32)
    blush = np.zeros((h, w), np.float32)
    face_outline, _ = draw_head(img, P, params, A)
    draw_features(img, P, params, A, dark, blush)
    draw_hair_front(img, P, params)
    f = _shade(img, nuis, face_outline, dark, blush, cx, cy, unit)
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


def background(style: str, w: int, h: int, nuis: dict) -> np.ndarray:
    """The backdrop: a colour with a gradient (JAFFE: a vignette; CK+: sometimes a darker panel)."""
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


def _shade(img, nuis: dict, face_outline, dark, blush, cx: float, cy: float, unit: float) -> np.ndarray:
    """The drawing as float32 under the lighting gradient, brightness and tint, with soft shading (face-edge
    falloff, sockets, shadows, blush) on the head's box only."""
    h, w = img.shape[:2]
    sig = max(1.0, 0.09 * unit)
    fp_ = face_outline.reshape(-1, 2)
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
        cv2.fillPoly(mask, [fixed_point(fp_ - (x0, y0))], 1.0, cv2.LINE_AA, 4)
        edge = cv2.GaussianBlur(mask, (0, 0), sig)
        shadows = cv2.GaussianBlur(dark[y0:y1, x0:x1], (0, 0), max(1.0, 0.04 * unit))
        shade = 1.0 - 0.22 * (1.0 - edge) * mask - shadows
        bl = cv2.GaussianBlur(blush[y0:y1, x0:x1], (0, 0), max(1.0, 0.05 * unit)) * mask * 0.35
        roi = f[y0:y1, x0:x1]
        pink = np.asarray(rgb(215, 110, 120), np.float32)
        roi += bl[:, :, None] * (pink[None, None, :] - roi)
        g[y0:y1, x0:x1] *= shade
    tint = 1 + np.asarray(nuis["tint"], np.float32)
    f *= g[:, :, None] * tint[None, None, :]
    return f
