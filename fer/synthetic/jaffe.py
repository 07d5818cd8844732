"""JAFFE's layout: `jaffe/<poser>.<EXPR><k>.<number>.tiff`, grey TIFF 256 x 256, in one folder with a `README`."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

from PIL import Image

from fer.classes import JAFFE_CODES
from fer.synthetic.face import FaceParams
from fer.synthetic.image import draw_face
from fer.synthetic.scene import sample_nuisance, sample_scene
from fer.synthetic.stamp import begin, cached, finish
from fer.synthetic.styles import SIZES, STYLE_IDS, keyed_rng

POSERS = ("KA", "KL", "KM", "KR", "MK", "NA", "NM", "TM", "UY", "YM")

README = """Synthetic JAFFE-style images (fer.synthetic), NOT the real JAFFE database.

Layout as in the real download: one folder of 256 x 256 8-bit grey TIFF images named
<poser>.<EXPR><k>.<number>.tiff (EXPR: AN DI FE HA NE SA SU; k: per-expression index; number: running
image number with gaps). Readers must ignore this file.
"""


def posers_for(subjects: int) -> tuple[str, ...]:
    """The first `subjects` posers (KA, KL, ...), inventing two-letter names past the real 10."""
    if subjects < 1:
        raise ValueError(f"JAFFE subjects={subjects}; expected >= 1")
    if subjects <= len(POSERS):
        return POSERS[:subjects]
    extra = [a + b for a in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" for b in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if a + b not in POSERS]
    if subjects - len(POSERS) > len(extra):
        raise ValueError("too many JAFFE posers")
    return POSERS + tuple(extra[: subjects - len(POSERS)])


def render_jaffe(out_dir, *, posers=POSERS, per_expression: int = 3, seed: int = 2) -> dict:
    """`out_dir/jaffe/<poser>.<EXPR><k>.<number>.tiff` (grey 256 x 256) and `out_dir/jaffe/README`."""
    posers = tuple(str(p) for p in posers)
    if not posers or any("." in p or not p for p in posers) or len(set(posers)) != len(posers):
        raise ValueError(f"JAFFE posers {posers}: expected distinct non-empty names without dots")
    if per_expression < 1:
        raise ValueError(f"per_expression={per_expression}; expected >= 1")
    out = Path(out_dir)
    args = {"posers": list(posers), "per_expression": per_expression, "seed": seed}
    tops, sfx = ("jaffe",), (".tiff", ".tif")
    hit = cached(out, "jaffe", args, tops, sfx)
    if hit:
        return hit
    t0 = time.perf_counter()
    begin(out, "jaffe", tops)
    sid = STYLE_IDS["jaffe"]
    d = out / "jaffe"
    d.mkdir(parents=True, exist_ok=True)
    (d / "README").write_text(README)
    grng = keyed_rng(seed, sid, 999)
    number, n = 0, 0
    for pi, poser in enumerate(posers):
        fp = FaceParams.sample(keyed_rng(seed, sid, pi, 0), gender="F", look="jaffe")
        fp = replace(fp, expressiveness=fp.expressiveness * 0.95)
        scene = sample_scene("jaffe", keyed_rng(seed, sid, pi, 1))
        for ci, (code, expression) in enumerate(sorted(JAFFE_CODES.items())):  # AN, DI, FE, ..., SU
            for k in range(1, per_expression + 1):
                number += 1 + int(grng.random() < 0.03)
                irng = keyed_rng(seed, sid, pi, 2, ci, k)
                nuisance = sample_nuisance("jaffe", irng, scene)
                img = draw_face(fp, expression, 1.0, SIZES["jaffe"], irng, style="jaffe", grey=True, nuisance=nuisance)
                Image.fromarray(img).save(d / f"{poser}.{code}{k}.{number}.tiff", format="TIFF")
                n += 1
    summary = {"style": "jaffe", "images": n, "subjects": len(posers), "seconds": round(time.perf_counter() - t0, 2)}
    return finish(out, "jaffe", args, summary, tops, sfx)
