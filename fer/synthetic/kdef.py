"""KDEF's layout: `KDEF/<AF01..BM..>/<AF01ANS.JPG>`, colour JPEG 562 x 762, series A and B = two sessions of
the same subject, five angles per expression; plus `AKDEF/<F|M><expr><angle>.JPG` averaged faces (not for
training). KDEF's turned views (FL, HL, HR, FR) fake a head turn by rotating the face points on an ellipsoid
about the vertical axis (features compress and shift, far-side features vanish)."""

from __future__ import annotations

import time
from pathlib import Path

import cv2

from fer.classes import CLASSES, KDEF_CODES
from fer.synthetic.face import ACTIONS, FaceParams, sample_actions, scale_actions
from fer.synthetic.image import render_image
from fer.synthetic.palette import clamp
from fer.synthetic.scene import sample_nuisance, sample_scene
from fer.synthetic.stamp import begin, cached, finish
from fer.synthetic.styles import SIZES, STYLE_IDS, keyed_rng

ANGLES = ("FL", "HL", "S", "HR", "FR")
# Degrees of head turn; negative turns the face towards the image's left.
YAW = {"FL": -70.0, "HL": -35.0, "S": 0.0, "HR": 35.0, "FR": 70.0}
CODE_OF_CLASS = {name: code for code, name in KDEF_CODES.items()}
JPEG = [cv2.IMWRITE_JPEG_QUALITY, 92]

# Mean actions per class, for the averaged AKDEF faces.
AVERAGE_ACTIONS = {
    "happy": {"lip_corner": 0.85, "cheek": 0.75, "eye_open": -0.25, "jaw": 0.2, "upper_lip": 0.3},
    "sad": {"inner_brow": 0.8, "brow_lower": 0.25, "lip_corner": -0.75, "eye_open": -0.15, "lip_press": 0.2},
    "angry": {"brow_lower": 0.85, "eye_open": -0.4, "lip_press": 0.8, "lip_corner": -0.1},
    "disgust": {
        "nose_wrinkle": 0.8,
        "upper_lip": 0.75,
        "brow_lower": 0.5,
        "eye_open": -0.35,
        "cheek": 0.35,
        "lip_corner": -0.2,
    },
    "fear": {
        "brow_raise": 0.7,
        "inner_brow": 0.5,
        "brow_lower": 0.45,
        "eye_open": 0.8,
        "lip_stretch": 0.75,
        "jaw": 0.3,
    },
    "surprise": {"brow_raise": 0.85, "eye_open": 0.8, "jaw": 0.75, "mouth_round": 0.65},
}


def render_kdef(out_dir, *, subjects: int = 14, seed: int = 0, angles=ANGLES, akdef: bool = True) -> dict:
    """`out_dir/KDEF/<AF01..>/<AF01ANS.JPG>` (and `out_dir/AKDEF/`): subjects alternate F/M from 01."""
    angles = tuple(angles)
    bad = [a for a in angles if a not in ANGLES]
    if bad or not angles:
        raise ValueError(f"KDEF angles {bad or angles} invalid; expected a non-empty subset of {ANGLES}")
    if not 1 <= subjects <= 198:
        raise ValueError(f"KDEF subjects={subjects}; expected 1..198 (two-digit numbers per gender)")
    out = Path(out_dir)
    args = {"subjects": subjects, "seed": seed, "angles": list(angles), "akdef": akdef}
    tops, sfx = ("KDEF", "AKDEF"), (".jpg",)
    hit = cached(out, "kdef", args, tops, sfx)
    if hit:
        return hit
    t0 = time.perf_counter()
    begin(out, "kdef", tops)
    n = sum(_render_subject(out / "KDEF", i, seed, angles) for i in range(subjects))
    extra = _render_akdef(out / "AKDEF", seed, angles) if akdef else 0
    summary = {
        "style": "kdef",
        "images": n,
        "subjects": subjects,
        "extra_images": extra,
        "seconds": round(time.perf_counter() - t0, 2),
    }
    return finish(out, "kdef", args, summary, tops, sfx)


def _render_subject(root: Path, i: int, seed: int, angles: tuple[str, ...]) -> int:
    """Both sessions (A, B) of subject `i`: one expression per (session, class), shot at every angle."""
    sid = STYLE_IDS["kdef"]
    gender = "F" if i % 2 == 0 else "M"
    num = i // 2 + 1
    base = FaceParams.sample(keyed_rng(seed, sid, i, 0), gender=gender, look="kdef")
    n = 0
    for si, series in enumerate("AB"):
        srng = keyed_rng(seed, sid, i, 1, si)
        fp = base if si == 0 else base.variant(srng)
        scene = sample_scene("kdef", srng)
        folder = root / f"{series}{gender}{num:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        for ci, cls in enumerate(CLASSES):
            erng = keyed_rng(seed, sid, i, 2, si, ci)
            peak = sample_actions(cls, erng, fp.expressiveness)
            for angle in angles:
                irng = keyed_rng(seed, sid, i, 3, si, ci, ANGLES.index(angle))
                nuis = sample_nuisance("kdef", irng, scene)
                img = render_image(fp, scale_actions(peak, 1.0, fp), nuis, SIZES["kdef"], "kdef", YAW[angle], irng)
                name = f"{series}{gender}{num:02d}{CODE_OF_CLASS[cls]}{angle}.JPG"
                if not cv2.imwrite(str(folder / name), img, JPEG):
                    raise OSError(f"could not write {folder / name}")
                n += 1
    return n


def _render_akdef(root: Path, seed: int, angles: tuple[str, ...]) -> int:
    """The averaged faces: one smooth, average identity per gender with each class's mean actions."""
    sid = STYLE_IDS["kdef"]
    root.mkdir(parents=True, exist_ok=True)
    n = 0
    for gi, gender in enumerate("FM"):
        fp = FaceParams.average(gender)
        for ci, cls in enumerate(CLASSES):
            peak = sample_actions(cls, keyed_rng(seed, sid, 900, gi, ci), 1.0)
            mean = AVERAGE_ACTIONS.get(cls, {})
            peak = {k: (clamp(mean.get(k, 0.0), -1, 1) if k in ACTIONS else v) for k, v in peak.items()}
            peak.update(gaze_x=0.0, gaze_y=0.0)
            for angle in angles:
                irng = keyed_rng(seed, sid, 901, gi, ci, ANGLES.index(angle))
                nuis = sample_nuisance("kdef", irng, sample_scene("kdef", keyed_rng(seed, sid, 902)))
                nuis.update(roll=0.0, dx=0.0, dy=0.0, scale=1.0)
                actions = scale_actions(peak, 1.0, fp)
                img = render_image(fp, actions, nuis, SIZES["kdef"], "kdef", YAW[angle], irng, smooth=True)
                cv2.imwrite(str(root / f"{gender}{CODE_OF_CLASS[cls]}{angle}.JPG"), img, JPEG)
                n += 1
    return n
