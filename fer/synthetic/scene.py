"""The photo session around a face: background and main light per session (`sample_scene`), and per-image
nuisances on top (`sample_nuisance`: roll, shift, scale, lighting gradient, colour tint, blur and noise)."""

from __future__ import annotations

import math

import numpy as np

from fer.synthetic.palette import rgb, tone
from fer.synthetic.styles import JITTER


def sample_scene(style: str, rng: np.random.Generator) -> dict:
    """Session-level scene: background, main light."""
    u = rng.uniform
    if style == "kdef":
        bg = tone(rgb(186, 192, 204), u(0.95, 1.05))
        bg_grad = (0.0, u(0.04, 0.1))
    elif style == "ckplus":
        g = u(95, 145)
        bg = (g * u(0.95, 1.05), g, g * u(0.95, 1.05))
        bg_grad = (u(-0.25, 0.25), u(-0.1, 0.1))
    else:
        g = u(135, 185)
        bg = (g, g, g)
        bg_grad = (u(-0.1, 0.1), u(0.0, 0.12))
    lo, hi = JITTER[style].light
    return {
        "bg": bg,
        "bg_grad": bg_grad,
        "panel": u(0.0, 0.18) if (style == "ckplus" and rng.random() < 0.5) else 0.0,
        "light_angle": u(-math.pi, math.pi) if style == "ckplus" else u(-2.4, -0.7),
        "light": u(lo, hi),
        "bright": u(*JITTER[style].bright),
    }


def sample_nuisance(style: str, rng: np.random.Generator, scene: dict | None = None) -> dict:
    """One image's nuisances within its style's ranges, around `scene` (drawn from `rng` when not given)."""
    roll, shift, scale, _, _, noise, blur = JITTER[style]
    u = rng.uniform
    scene = sample_scene(style, rng) if scene is None else scene
    return {
        **scene,
        "roll": u(-roll, roll),
        "dx": u(-shift, shift),
        "dy": u(-shift, shift),
        "scale": 1 + u(-scale, scale),
        "light_angle": scene["light_angle"] + u(-0.3, 0.3),
        "light": scene["light"] * u(0.8, 1.2),
        "bright": scene["bright"] * u(0.97, 1.03),
        "tint": tuple(float(v) for v in u(-0.015, 0.015, 3)),
        "noise": u(*noise),
        "blur": u(*blur),
    }
