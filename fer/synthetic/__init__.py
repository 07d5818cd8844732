"""Deterministic parametric synthetic faces, written in the exact native layouts of KDEF, CK+ and JAFFE.

The licensed datasets can never be committed, so tests and the demo render cartoon-but-plausible faces with
OpenCV and save them in each dataset's own tree and naming; the real readers then serve both
(`python -m fer.data render-synthetic <kdef|ckplus|jaffe> <out dir>`, or `sources=synthetic`).

Modules: `face` (identity parameters and facial actions per expression), `scene` (session and per-image
nuisances), `styles` (sizes, framing, jitter and face boxes per dataset look), `geometry`, `head`, `features`
and `image` (the drawing), `stamp` (the render cache), and one module per dataset layout (`kdef`, `ckplus`,
`jaffe`).

Determinism and caching: every random draw comes from `numpy.random.default_rng` seeded with a tuple
(seed, style, subject, image...), so the same arguments give byte-identical files. A render writes a
`.synthetic.json` stamp (per style, with its arguments) last; a later call with the same arguments finds the
stamp and the files and returns at once, without drawing.
"""

from __future__ import annotations

from pathlib import Path

from fer.errors import DatasetLayoutError
from fer.synthetic.ckplus import render_ckplus
from fer.synthetic.face import EXPRESSIONS, FaceParams, sample_actions
from fer.synthetic.image import draw_face
from fer.synthetic.jaffe import posers_for, render_jaffe
from fer.synthetic.kdef import render_kdef
from fer.synthetic.styles import FACE_CROP, FEATURE_BOX, STYLES

__all__ = [
    "EXPRESSIONS",
    "FACE_CROP",
    "FEATURE_BOX",
    "STYLES",
    "FaceParams",
    "draw_face",
    "render",
    "render_ckplus",
    "render_jaffe",
    "render_kdef",
    "sample_actions",
]


def render(style: str, out_dir: str | Path, *, subjects: int | None = None, seed: int = 0, **opts) -> dict:
    """Render one style's native tree into `out_dir` (cached: a complete render with the same arguments is
    not redone). `subjects` defaults to the style's default (KDEF 14, CK+ 12, JAFFE 10 posers); for JAFFE it
    takes the first posers (KA, KL, ...), inventing two-letter names past 10. Returns
    {"style", "root", "images", "subjects", ...}."""
    if Path(out_dir).exists() and not Path(out_dir).is_dir():
        raise DatasetLayoutError(f"{out_dir} is a file: synthetic faces are rendered into a folder; give a folder path")
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
            opts["posers"] = posers_for(subjects)
        return render_jaffe(out_dir, seed=seed, **opts)
    raise ValueError(f"unknown synthetic style {style!r}; expected one of {STYLES}")
