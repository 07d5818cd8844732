"""Drawing primitives: face coordinates projected to pixels, and anti-aliased fills and strokes."""

from __future__ import annotations

import math

import cv2
import numpy as np

from fer.synthetic.palette import clamp


class Projection:
    """Face coordinates (x right, y down, unit = half head height, origin = head centre) -> image pixels.

    Points lie on an ellipsoid-ish surface (depth `z`); yaw turns about the vertical axis, roll in the image.
    """

    def __init__(self, cx, cy, unit, yaw_deg, roll_deg, a):
        self.cx, self.cy, self.unit, self.a = cx, cy, unit, a
        self.depth = 0.85
        t, r = math.radians(yaw_deg), math.radians(roll_deg)
        self.ct, self.st, self.cr, self.sr = math.cos(t), math.sin(t), math.cos(r), math.sin(r)

    def z(self, x, y):
        """Depth of the face surface at (x, y)."""
        return self.depth * np.sqrt(np.maximum(1 - (x / self.a) ** 2 - (y / 1.25) ** 2, 0.0))

    def __call__(self, x, y, dz=0.0, z=None):
        """Pixels of points on the surface (raised by `dz`, or at depth `z`), and their depth after the turn."""
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


def fixed_point(p):
    """Pixel coordinates as OpenCV's 4-bit fixed point (shift=4): sub-pixel accurate polygons."""
    return np.round(np.asarray(p, np.float64) * 16).astype(np.int32).reshape(-1, 1, 2)


def fill(img, p, color, alpha=1.0):
    """Fill polygon `p` (N x 2 pixels) anti-aliased, blended with opacity `alpha` within its bounding box."""
    p = np.asarray(p, np.float64).reshape(-1, 2)
    if len(p) < 3 or alpha <= 0.01:
        return
    if alpha >= 0.99:
        cv2.fillPoly(img, [fixed_point(p)], color, cv2.LINE_AA, 4)
        return
    h, w = img.shape[:2]
    x0, y0 = max(int(p[:, 0].min()) - 2, 0), max(int(p[:, 1].min()) - 2, 0)
    x1, y1 = min(int(p[:, 0].max()) + 3, w), min(int(p[:, 1].max()) + 3, h)
    if x1 <= x0 or y1 <= y0:
        return
    roi = img[y0:y1, x0:x1]
    tmp = roi.copy()
    cv2.fillPoly(tmp, [fixed_point(p - (x0, y0))], color, cv2.LINE_AA, 4)
    roi[:] = cv2.addWeighted(tmp, float(alpha), roi, 1.0 - float(alpha), 0.0)


def ribbon(p, hw):
    """A polygon around polyline `p` (N x 2 pixels) with half-widths `hw` (pixels)."""
    p = np.asarray(p, np.float64)
    hw = np.maximum(np.broadcast_to(np.asarray(hw, np.float64), (len(p),)), 0.35)
    d = np.gradient(p, axis=0)
    n = np.stack([-d[:, 1], d[:, 0]], 1)
    n /= np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-9)
    return np.concatenate([p + n * hw[:, None], (p - n * hw[:, None])[::-1]], 0)


def stroke(img, p, hw, color, alpha=1.0):
    """A line along polyline `p` with half-widths `hw` (pixels; a number or one per point)."""
    fill(img, ribbon(p, hw), color, alpha)


def ellipse_points(cx, cy, ax, ay, n=24):
    """`n` points (xs, ys) around an axis-aligned ellipse."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return cx + ax * np.cos(t), cy + ay * np.sin(t)


def visibility(zr, lo=-0.02, hi=0.12):
    """0 (turned away) .. 1 (facing the camera) from the turned depths `zr` of a feature's points."""
    return clamp((float(np.mean(zr)) - lo) / (hi - lo), 0.0, 1.0)
