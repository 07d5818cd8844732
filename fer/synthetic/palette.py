"""Colours (BGR float triples, as OpenCV draws them) and the palettes identities are drawn from."""

from __future__ import annotations


def rgb(r, g, b):
    """An RGB colour as OpenCV's BGR order."""
    return (float(b), float(g), float(r))


SKIN_LIGHT = [rgb(247, 218, 196), rgb(238, 203, 178), rgb(226, 188, 160), rgb(214, 172, 146)]
SKIN_MEDIUM = [rgb(204, 156, 122), rgb(186, 136, 102), rgb(168, 118, 88)]
SKIN_DARK = [rgb(142, 98, 72), rgb(116, 78, 56), rgb(92, 62, 46)]
SKIN_EAST_ASIAN = [rgb(240, 210, 182), rgb(232, 198, 168), rgb(222, 186, 152)]
HAIR = {
    "black": rgb(26, 22, 20),
    "darkbrown": rgb(58, 40, 30),
    "brown": rgb(98, 68, 46),
    "lightbrown": rgb(140, 104, 70),
    "blond": rgb(196, 166, 112),
    "auburn": rgb(128, 62, 38),
    "grey": rgb(150, 148, 146),
}
IRIS = [rgb(70, 45, 30), rgb(100, 70, 45), rgb(80, 110, 150), rgb(90, 120, 100), rgb(110, 120, 130)]


def clamp(v, lo, hi):
    """`v` limited to [lo, hi], as a Python float."""
    return float(min(hi, max(lo, v)))


def mix(c1, c2, t):
    """The colour a fraction `t` of the way from `c1` to `c2`."""
    return tuple(float(a + (b - a) * t) for a, b in zip(c1, c2, strict=True))


def tone(c, k):
    """Colour `c` lightened (k > 1) or darkened (k < 1), kept within 0..255."""
    return tuple(float(min(255.0, max(0.0, v * k))) for v in c)
