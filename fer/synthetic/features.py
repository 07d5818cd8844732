"""The facial features over the head: eyes, brows (with forehead and glabella lines), nose, mouth (with the
nasolabial folds and chin) and cheeks. Soft shadows and blush go into float maps that the image step blurs."""

from __future__ import annotations

import math

import cv2
import numpy as np

from fer.synthetic.face import FaceParams
from fer.synthetic.geometry import Projection, ellipse_points, fill, stroke, visibility
from fer.synthetic.palette import rgb, tone


def draw_features(img, P: Projection, fp: FaceParams, A: dict, dark_map, blush_map) -> None:
    """All features, in painting order; `dark_map` and `blush_map` (float, image-sized) collect soft shading."""
    _draw_eyes(img, P, fp, A, dark_map)
    _draw_brows(img, P, fp, A)
    _draw_nose(img, P, fp, A, dark_map)
    _draw_mouth(img, P, fp, A, dark_map)
    _draw_cheeks(P, fp, A, blush_map)


def _line_colour(fp: FaceParams) -> tuple:
    """Wrinkles, creases and outlines: a darker shade of the skin."""
    return tone(fp.skin, 0.55)


def _draw_eyes(img, P: Projection, fp: FaceParams, A: dict, dark_map) -> None:
    """Eye whites, irises and highlights, lids, crease and lashes, crow's feet, and the sockets' shadows."""
    skin = fp.skin
    U = P.unit
    line_col = _line_colour(fp)
    ey0 = fp.eye_y
    wide, squint = max(A["eye_open"], 0.0), max(-A["eye_open"], 0.0)
    cheek = A["cheek"]
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
        upper = base - hu * np.sin(np.pi * uu**0.9) ** 0.85
        lower = base + hl * np.sin(np.pi * uu**1.1)
        pu, zr = P(xs, upper, dz=-0.04)
        vis = visibility(zr)
        if vis <= 0.02:
            continue
        pl, _ = P(xs, lower, dz=-0.04)
        r = 0.5 * w
        icx, icy = ex + A["gaze_x"] * w * 0.3, ey - 0.12 * fp.eye_h + A["gaze_y"] * fp.eye_h
        # eye white
        white = np.concatenate([pu, pl[::-1]])
        fill(img, white, rgb(232, 230, 226), vis)
        ix, iy = ellipse_points(icx, icy, r, r, 28)
        pi_, _ = P(ix, iy, dz=-0.03)
        fill(img, pi_, tone(fp.iris, 0.7), vis)
        fill(img, pi_.mean(0) + (pi_ - pi_.mean(0)) * 0.82, fp.iris, vis)
        fill(img, pi_.mean(0) + (pi_ - pi_.mean(0)) * 0.42, rgb(12, 10, 10), vis)
        hx, hy = ellipse_points(icx - 0.3 * r, icy - 0.3 * r, 0.12 * r, 0.12 * r, 10)
        fill(img, P(hx, hy, dz=-0.02)[0], rgb(250, 250, 250), 0.9 * vis)
        # lids cover the iris outside the eye opening
        cov_u, _ = P(xs, upper - 2.2 * r, dz=-0.04)
        cov_l, _ = P(xs, lower + 2.2 * r, dz=-0.04)
        fill(img, np.concatenate([pu, cov_u[::-1]]), skin)
        fill(img, np.concatenate([pl, cov_l[::-1]]), skin)
        # crease, lashes, lower lid
        crease_off = 0.022 + 0.018 * wide - 0.008 * squint
        cu = np.linspace(0.12, 0.9, 12)
        cxs = ex - s * w + 2 * s * w * cu
        cys = ey + 0.006 - 0.014 * cu - (hu + crease_off) * np.sin(np.pi * cu**0.9) ** 0.7
        stroke(img, P(cxs, cys, dz=-0.03)[0], 0.006 * U, line_col, 0.35 * fp.crease * vis)
        stroke(img, pu, (0.006 + 0.007 * uu) * U, rgb(35, 28, 28), 0.95 * vis)
        stroke(img, pl, 0.003 * U, tone(skin, 0.6), 0.5 * vis)
        if cheek > 0.15:  # lower-lid bulge and crow's feet
            bl = lower + 0.03 + 0.0 * uu
            stroke(img, P(xs[3:-3], bl[3:-3], dz=-0.03)[0], 0.004 * U, line_col, 0.35 * cheek * vis)
            ox, oy = ex + s * (w + 0.02), ey
            for ang in (-0.45, 0.0, 0.45):
                lx = ox + s * np.array([0.0, 0.05]) * math.cos(ang)
                ly = oy + np.array([0.0, 0.05]) * math.sin(ang)
                stroke(img, P(lx, ly)[0], 0.003 * U, line_col, 0.35 * cheek * vis)
        # eye socket shadow (soft)
        sp, _ = P(np.array([ex]), np.array([ey - 0.03]))
        cv2.ellipse(
            dark_map,
            (int(sp[0, 0]), int(sp[0, 1])),
            (max(1, int(0.16 * U * abs(P.ct) + 0.05 * U)), max(1, int(0.09 * U))),
            0,
            0,
            360,
            0.08,
            -1,
        )


def _draw_brows(img, P: Projection, fp: FaceParams, A: dict) -> None:
    """Brows raised, knit or lowered; forehead lines (AU1+2) and glabella lines (AU4)."""
    U = P.unit
    line_col = _line_colour(fp)
    ey0 = fp.eye_y
    raised, inner, lowered = A["brow_raise"], A["inner_brow"], A["brow_lower"]
    for s in (-1, 1):
        inner_x, outer_x = s * (fp.eye_dist - fp.eye_w * 0.95), s * (fp.eye_dist + fp.eye_w * 1.3)
        uu = np.linspace(0, 1, 14)
        bx = inner_x + (outer_x - inner_x) * uu - s * 0.04 * lowered * (1 - uu)
        by = (
            ey0
            - fp.brow_gap
            + 0.005 * s * fp.asym
            - fp.brow_arch * (1 - ((uu - 0.6) / 0.62) ** 2)
            - 0.1 * raised
            - 0.025 * max(raised, 0) * np.sin(np.pi * uu)
            - 0.095 * inner * (1 - uu) ** 1.5
            + 0.015 * inner * uu
            + 0.055 * lowered
            + 0.05 * lowered * (1 - uu) ** 2
        )
        p, zr = P(bx, by, dz=0.02)
        vis = visibility(zr)
        if vis > 0.02:
            taper = np.sqrt(np.sin(np.pi * (0.08 + 0.88 * uu)))
            stroke(img, p, fp.brow_thick * (1.25 - 0.6 * uu) * taper * U, fp.brow, 0.92 * vis)
    # forehead lines (AU1+2) and glabella lines (AU4)
    fr = max(raised, 0) + 0.5 * inner
    if fr > 0.25:
        for j in range(3):
            xx = np.linspace(-0.28, 0.28, 15)
            yy = ey0 - fp.brow_gap - 0.15 - 0.065 * j - 0.03 * (xx / 0.28) ** 2 - 0.05 * max(raised, 0)
            if yy.min() > fp.hairline + 0.06 + 0.1 * fp.fringe:
                stroke(img, P(xx, yy)[0], 0.004 * U, line_col, 0.35 * min(1.0, fr - 0.2))
    if lowered > 0.3:
        for s in (-1, 1):
            gx = np.array([s * 0.03, s * 0.035, s * 0.04])
            gy = ey0 - fp.brow_gap + 0.045 * lowered + np.array([-0.02, 0.03, 0.08])
            stroke(img, P(gx, gy)[0], 0.004 * U, line_col, 0.5 * (lowered - 0.25))


def _nose_geometry(fp: FaceParams, A: dict) -> tuple[float, float]:
    """The nose tip's height and the nose's half-width (wider when wrinkled)."""
    return fp.eye_y + fp.nose_len, fp.nose_w * (1 + 0.25 * A["nose_wrinkle"])


def _draw_nose(img, P: Projection, fp: FaceParams, A: dict, dark_map) -> None:
    """The side silhouette of a turned nose, nostrils, wings, the bridge's shadow, and wrinkles (AU9)."""
    skin = fp.skin
    U = P.unit
    line_col = _line_colour(fp)
    ey0 = fp.eye_y
    N = A["nose_wrinkle"]
    tip, nw = _nose_geometry(fp, A)
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
        fill(img, np.concatenate([p1, p2]), skin)
        stroke(img, p1[1:4], 0.004 * U, tone(skin, 0.7), 0.5)
    for s in (-1, 1):
        nx_, ny_ = ellipse_points(s * nw * 0.45, tip + 0.012 - 0.02 * N, 0.03 * (1 + 0.2 * N), 0.014, 14)
        p, zr = P(nx_, ny_, dz=0.06)
        v = visibility(zr)
        fill(img, p, tone(skin, 0.35), 0.8 * v)
        ax = s * np.array([nw * 0.55, nw * 0.95, nw * 1.0, nw * 0.75])
        ay = np.array([tip - 0.06, tip - 0.02, tip + 0.01, tip + 0.03]) - 0.015 * N
        stroke(img, P(ax, ay, dz=0.05)[0], 0.005 * U, line_col, 0.4 * v)
    ls = -1 if math.cos(A.get("_light", 0.0)) > 0 else 1  # shadow side of the bridge
    bx = np.array([ls * 0.06, ls * 0.065, ls * nw * 0.55])
    byy = np.array([ey0 - 0.02, ey0 + 0.15, tip - 0.07])
    stroke(img, P(bx, byy, dz=0.06)[0], 0.01 * U, tone(skin, 0.8), 0.15)
    cv2.ellipse(
        dark_map,
        tuple(int(v) for v in P(np.array([0.0]), np.array([tip + 0.045]))[0][0]),
        (max(1, int(0.07 * U)), max(1, int(0.025 * U))),
        0,
        0,
        360,
        0.1,
        -1,
    )
    if N > 0.2:  # nose wrinkles
        for j in range(3):
            wx = np.linspace(-0.055, 0.055, 7)
            wy = ey0 + 0.05 + 0.04 * j - 0.012 * (1 - (wx / 0.055) ** 2)
            stroke(img, P(wx, wy, dz=0.08)[0], 0.004 * U, line_col, 0.55 * (N - 0.1))
        for s in (-1, 1):
            dx = s * np.array([0.06, 0.1])
            dy = np.array([ey0 + 0.08, ey0 + 0.16])
            stroke(img, P(dx, dy, dz=0.05)[0], 0.004 * U, line_col, 0.45 * (N - 0.1))


def _draw_mouth(img, P: Projection, fp: FaceParams, A: dict, dark_map) -> None:
    """Nasolabial folds, the mouth opening, tongue and teeth, lips and corners, the chin crease and shadow."""
    skin = fp.skin
    U = P.unit
    line_col = _line_colour(fp)
    N = A["nose_wrinkle"]
    tip, nw = _nose_geometry(fp, A)
    m = mouth_shape(fp, A)
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
        q = (1 - t)[:, None] ** 2 * p0 + 2 * ((1 - t) * t)[:, None] * p1 + (t**2)[:, None] * p2
        pp, zr = P(q[:, 0], q[:, 1])
        stroke(img, pp, (0.004 + 0.004 * np.sin(np.pi * t)) * U, line_col, min(0.7, f) * visibility(zr))
    pu_o, zr = P(x, m["uo"], dz=0.03)
    mvis = visibility(zr, -0.3, -0.1)
    pu_i, _ = P(x, m["ui"], dz=0.03)
    pl_i, _ = P(x, m["li"], dz=0.03)
    pl_o, _ = P(x, m["lo"], dz=0.03)
    if m["gap"] > 0.004 or A["upper_lip"] > 0.3:
        fill(img, np.concatenate([pu_i, pl_i[::-1]]), rgb(70, 28, 32), mvis)
        if A["jaw"] > 0.45:
            tx, ty = ellipse_points(0, m["my"] + 0.75 * m["gap"] * 0.8, 0.6 * abs(xr), 0.25 * m["gap"], 20)
            fill(img, P(tx, ty, dz=0.02)[0], rgb(165, 80, 85), 0.8 * mvis)
        if A["teeth"] > 0.5:
            th = 0.045
            keep = np.abs(np.linspace(-1, 1, len(x))) < 0.8
            tp_top, _ = P(x[keep], m["ui"][keep] - 0.005, dz=0.02)
            tp_bot, _ = P(x[keep], m["ui"][keep] + th * (1 - np.linspace(-1, 1, len(x))[keep] ** 2) ** 0.3, dz=0.02)
            fill(img, np.concatenate([tp_top, tp_bot[::-1]]), rgb(236, 230, 218), mvis)
            for tx_ in (-0.1, -0.04, 0.04, 0.1):
                tl, _ = P(np.array([tx_, tx_]), np.interp(tx_, x, m["ui"]) + np.array([0.0, th * 0.9]), dz=0.02)
                stroke(img, tl, 0.003 * U, rgb(190, 180, 170), 0.5 * mvis)
    fill(img, np.concatenate([pu_o, pu_i[::-1]]), fp.lip, mvis)
    fill(img, np.concatenate([pl_i, pl_o[::-1]]), tone(fp.lip, 1.05), mvis)
    stroke(img, pu_i if m["gap"] <= 0.004 else pu_i[2:-2], 0.005 * U, tone(fp.lip, 0.45), 0.8 * mvis)
    for cxc, cyc in ((xl, yl), (xr, yr)):
        dx, dy = ellipse_points(cxc, cyc, 0.012, 0.007, 10)
        fill(img, P(dx, dy, dz=0.03)[0], tone(skin, 0.6), 0.5 * mvis)
    # chin crease, shadow under the lower lip
    cyy = m["lo"].max() + 0.05 + 0.02 * A["lip_press"]
    cx_ = np.linspace(-0.07, 0.07, 9)
    stroke(img, P(cx_, cyy - 0.01 * (1 - (cx_ / 0.07) ** 2))[0], 0.004 * U, line_col, 0.12 + 0.4 * A["lip_press"])
    cpt = P(np.array([0.0]), np.array([m["lo"].max() + 0.03]))[0][0]
    cv2.ellipse(
        dark_map, (int(cpt[0]), int(cpt[1])), (max(1, int(0.09 * U)), max(1, int(0.025 * U))), 0, 0, 360, 0.08, -1
    )


def _draw_cheeks(P: Projection, fp: FaceParams, A: dict, blush_map) -> None:
    """Blush (and raised cheeks, AU6) as soft ellipses in `blush_map`."""
    U = P.unit
    ey0 = fp.eye_y
    cheek = A["cheek"]
    for s in (-1, 1):
        cp, zr = P(np.array([s * (fp.eye_dist + 0.02)]), np.array([ey0 + 0.2 - 0.03 * cheek]))
        if visibility(zr) > 0.2:
            cv2.ellipse(
                blush_map,
                (int(cp[0, 0]), int(cp[0, 1])),
                (max(1, int(0.13 * U)), max(1, int(0.085 * U))),
                0,
                0,
                360,
                float(fp.blush * 0.5 + 0.25 * cheek),
                -1,
            )


def mouth_shape(fp: FaceParams, A: dict) -> dict:
    """Lip curves (face units) for the actions `A`: x, inner/outer upper and lower lip lines, the opening and
    the corners."""
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
    bell = np.maximum(1 - u**2, 0.0)
    shape = bell ** (0.8 - 0.35 * rnd)
    ui = line - (0.25 * gap * shape + 0.035 * ul * bell**0.6)
    li = line + 0.75 * gap * shape
    tu = fp.lip_upper * (1 - 0.75 * pr) * (1 - 0.3 * ul) * (1 - 0.2 * st)
    tl = fp.lip_lower * (1 - 0.7 * pr) * (1 - 0.25 * st) * (1 - 0.25 * smile)
    bow = 1 - 0.3 * np.exp(-((u / 0.13) ** 2))
    uo = ui - tu * bell**0.55 * bow - 0.003
    lo = li + tl * bell**0.5
    corners = ((xl, yl), (xr, yr))
    return {"x": x, "ui": ui, "li": li, "uo": uo, "lo": lo, "line": line, "gap": gap, "my": my, "corners": corners}
