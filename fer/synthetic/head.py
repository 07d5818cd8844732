"""The head: long hair behind the shoulders, shoulders and neck, the skull's hair volume, ears, the skin of the
face (whose outline later bounds the soft shading), stubble; side hair and the fringe over the face."""

from __future__ import annotations

import math

import cv2
import numpy as np

from fer.synthetic.face import FaceParams
from fer.synthetic.geometry import Projection, ellipse_points, fill, stroke
from fer.synthetic.palette import mix, rgb, tone


def draw_head(img, P: Projection, fp: FaceParams, A: dict):
    """Everything behind the facial features, back to front. Returns the face outline (pixels) and the chin
    position (lower when the jaw drops)."""
    if fp.hair_style == 2:
        _draw_long_hair_back(img, P, fp)
    _draw_shoulders(img, P, fp)
    _draw_skull_hair(img, P, fp)
    ears = _ear_outlines(P, fp)
    hidden_ears = fp.hair_style >= 1
    for p, zr in ears:  # the far ear before the face, the near one after it
        if np.mean(zr) < 0.05 and not hidden_ears:
            _draw_ear(img, p, fp.skin)
    draw_side_hair(img, P, fp, back=True)
    chin = fp.chin + 0.11 * A["jaw"]
    outline = _face_outline(P, fp, chin)
    fill(img, outline, fp.skin)
    if fp.stubble > 0:
        _draw_stubble(img, P, fp, chin)
    for p, zr in ears:
        if np.mean(zr) >= 0.05 and not hidden_ears:
            _draw_ear(img, p, fp.skin)
    return outline, chin


def _draw_long_hair_back(img, P: Projection, fp: FaceParams) -> None:
    """Long hair hanging behind the shoulders."""
    hw = (fp.face_w + fp.hair_volume + 0.08) * (0.7 + 0.3 * abs(P.ct)) + 0.3 * abs(P.st)
    ys = np.array([-0.3, 0.4, 1.0, 1.5, 1.62, 1.66, 1.62, 1.5, 1.0, 0.4, -0.3])
    xs = np.array([-1.0, -1.02, -1.08, -1.12, -0.9, 0.0, 0.9, 1.12, 1.08, 1.02, 1.0]) * hw - 0.25 * P.st
    fill(img, P.flat(xs, ys), tone(fp.hair, 0.8))


def _draw_shoulders(img, P: Projection, fp: FaceParams) -> None:
    """Shoulders (the shirt), the neck and the collar line."""
    a, st = fp.face_w, P.st
    sx = -0.1 * st
    ex, ey = ellipse_points(sx, 2.27, 2.0 - 0.3 * abs(st), 0.85, 40)
    fill(img, P.flat(ex, ey), fp.shirt)
    nx = (
        np.array([-0.46, -0.5, -0.55, -0.34, 0.0, 0.34, 0.55, 0.5, 0.46]) * a * (1 + 0.7 * abs(st))
        + sx
        - 0.3 * P.depth * st
    )
    ny = np.array([0.2, 1.1, 1.45, 1.56, 1.60, 1.56, 1.45, 1.1, 0.2])
    fill(img, P.flat(nx, ny), tone(fp.skin, 0.8))
    col = np.linspace(-0.55, 0.55, 15) * a
    coll = 1.45 + 0.15 * np.sqrt(np.maximum(1 - (col / (0.55 * a)) ** 2, 0.0))
    col = col + sx - 0.08 * st
    stroke(img, P.flat(col, coll), 0.02 * P.unit, tone(fp.shirt, 0.8))


def _draw_skull_hair(img, P: Projection, fp: FaceParams) -> None:
    """The hair volume around the skull, cut at ear level for short hair."""
    ct, st, vol = P.ct, P.st, fp.hair_volume
    cut = {0: fp.eye_y + 0.2, 1: 0.55, 2: 0.9}[fp.hair_style] + 0.4 * abs(st)
    sw = math.sqrt((fp.face_w * ct) ** 2 + (1.05 * P.depth * st) ** 2) + vol
    sh = 1.0 + vol * 1.2
    t = np.linspace(0, 2 * np.pi, 60, endpoint=False)
    hx = -0.12 * P.depth * st + sw * np.cos(t)
    hy = -0.02 + sh * np.sin(t)
    keep = hy < cut
    fill(img, P.flat(hx[keep], hy[keep]), fp.hair)


def _ear_outlines(P: Projection, fp: FaceParams) -> list:
    """(pixels, turned depths) of the left and right ear."""
    ears = []
    for s in (-1, 1):
        ex, ey = ellipse_points(s * (fp.face_w - 0.02), fp.eye_y + 0.1, 0.075 * fp.ear, 0.145 * fp.ear, 18)
        p, zr = P(ex, ey, z=np.full_like(ex, -0.1) + 0.0 * ex)
        ears.append((p, zr))
    return ears


def _draw_ear(img, p, skin) -> None:
    fill(img, p, tone(skin, 0.93))
    c = p.mean(0)
    fill(img, c + (p - c) * 0.55, tone(skin, 0.75), 0.6)


def _face_outline(P: Projection, fp: FaceParams, chin: float) -> np.ndarray:
    """The skin region: convex hull of the projected face surface below the hairline (pixels)."""
    a = fp.face_w
    tt = np.linspace(0, 2 * np.pi, 72, endpoint=False)
    c, s_ = np.cos(tt), np.sin(tt)
    e = 1 - 0.3 * fp.jaw
    k = 0.46 - 0.24 * fp.jaw
    x = np.where(s_ < 0, a * c, a * np.sign(c) * np.abs(c) ** e * (1 - k * s_**2))
    y = np.where(s_ < 0, s_, s_ * chin)
    hl = fp.hairline + 0.28 * (x / a) ** 2
    y = np.maximum(y, hl)
    grid_x = np.concatenate([x * r for r in (1.0, 0.85, 0.6, 0.3)])
    grid_y = np.concatenate([y * r for r in (1.0, 0.85, 0.6, 0.3)])
    gp, _ = P(grid_x, grid_y)
    if abs(P.st) > 0.02:  # turned head: the cheek reaches back to the ear, the jaw has an angle
        sj = 0.7
        xj = a * math.sqrt(1 - sj**2) ** e * (1 - k * sj**2)
        ys_ = np.linspace(fp.hairline + 0.25, 0.3, 5)
        ex_ = np.concatenate([np.full(5, -0.92 * a), np.full(5, 0.92 * a), [-xj, xj]])
        ey_ = np.concatenate([ys_, ys_, [sj * chin, sj * chin]])
        gp2, _ = P(ex_, ey_, z=np.concatenate([np.full(10, -0.08), [-0.05, -0.05]]))
        gp = np.concatenate([gp, gp2])
    return cv2.convexHull(gp.astype(np.float32)).reshape(-1, 2)


def _draw_stubble(img, P: Projection, fp: FaceParams, chin: float) -> None:
    """A darker beard shadow on the lower face."""
    a = fp.face_w
    sxs = np.linspace(-1, 1, 21) * a * 0.95
    top = fp.eye_y + fp.nose_len + 0.02
    bottom = np.minimum(chin * np.sqrt(np.maximum(1 - (sxs / a) ** 2, 0.0)) + 0.02, chin + 0.02)
    p, _ = P(np.concatenate([sxs, sxs[::-1]]), np.concatenate([np.full(21, top), bottom[::-1]]))
    fill(img, p, mix(fp.skin, rgb(60, 55, 55), 0.35), 0.35 * fp.stubble)


def draw_side_hair(img, P: Projection, fp: FaceParams, back: bool):
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
        fill(img, p, hair)
        for j in (0.35, 0.65):  # a few strands
            sx = s * (inner + (outer - inner) * j)[3:-2]
            stroke(
                img,
                P(sx, ys[3:-2], z=np.full(len(sx), z))[0],
                0.004 * P.unit,
                tone(hair, 0.7 if hair[0] > 60 else 1.8),
                0.15,
            )


def draw_hair_front(img, P: Projection, fp: FaceParams):
    """Hair over the face: the near side hair, the fringe, and strands from the parting to the hairline."""
    a, hair, vol = fp.face_w, fp.hair, fp.hair_volume
    draw_side_hair(img, P, fp, back=False)
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
        fill(img, p, hair)
    # strands from the parting towards the hairline
    px = fp.parting * 0.2
    top = -1.0 - 0.6 * vol
    for j, xe in enumerate(np.linspace(-0.85, 0.85, 7) * a):
        t = np.linspace(0, 1, 9)
        ye = fp.hairline + 0.28 * (xe / a) ** 2 - 0.05
        sx = px + (xe - px) * t**0.8
        sy = top + (ye - top) * (1 - (1 - t) ** 1.6)
        if fp.fringe > 0 and abs(xe) < 0.6 * a:
            sy = sy + 0.6 * fp.fringe * (fp.eye_y - fp.brow_gap - 0.1 - fp.hairline) * t**2
        p, _ = P(sx, sy, z=np.full(9, 0.55) * np.sqrt(1 - t * 0.5))
        stroke(img, p[1:-1], 0.005 * P.unit, tone(hair, 0.7 if hair[0] > 60 else 1.8), 0.12 + 0.06 * (j % 3))
