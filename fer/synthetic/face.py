"""The face model: who a synthetic subject is (`FaceParams`) and what an expression does (facial actions).

A face is drawn from identity parameters (head shape, jaw, skin tone, feature spacing and sizes, brows, lips,
hair colour/style/fringe) and a set of continuous facial actions (FACS-like): brow raise (AU1+2), inner brow
raise (AU1), brow lowering/knit (AU4), eye opening (AU5 wide / AU7 squint), cheek raise (AU6), lip corners up
(AU12) / down (AU15), jaw drop (AU26/27), upper-lip raise (AU10), nose wrinkle (AU9), lip stretch (AU20), lip
press (AU24), a rounded mouth, teeth shown, and a one-sided corner raise (AU14, contempt). Each expression class
combines these with random per-image jitter, so classes are learnable but overlap a little; an intensity in
[0, 1] scales all actions (CK+ sequences run 0 -> 1).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from fer.classes import CLASSES
from fer.synthetic.palette import HAIR, IRIS, SKIN_DARK, SKIN_EAST_ASIAN, SKIN_LIGHT, SKIN_MEDIUM, clamp, mix, rgb, tone

# The 7 classes plus CK+'s contempt, which the renderer can draw (CK+ sequences with label 2).
EXPRESSIONS = (*CLASSES, "contempt")
ACTIONS = (
    "brow_raise",
    "inner_brow",
    "brow_lower",
    "eye_open",
    "cheek",
    "lip_corner",
    "jaw",
    "upper_lip",
    "nose_wrinkle",
    "lip_stretch",
    "lip_press",
    "mouth_round",
    "contempt",
)
SIGNED_ACTIONS = {"brow_raise", "eye_open", "lip_corner"}  # these run -1..1 (e.g. squint .. wide), the rest 0..1


@dataclass(frozen=True)
class FaceParams:
    """Identity of one synthetic subject. Lengths are in units of the half head height (crown..chin = 2)."""

    gender: str = "F"
    face_w: float = 0.76  # head half-width
    jaw: float = 0.5  # 0 narrow/pointed .. 1 square
    chin: float = 1.0  # chin position below the head centre
    skin: tuple = rgb(232, 195, 168)
    eye_y: float = 0.06  # eye line below the head centre
    eye_dist: float = 0.30  # half distance between the eye centres
    eye_w: float = 0.125  # eye half-width
    eye_h: float = 0.052  # upper lid height above the eye line
    crease: float = 1.0  # visibility of the upper-lid crease
    iris: tuple = IRIS[1]
    brow_gap: float = 0.135
    brow_thick: float = 0.026
    brow_arch: float = 0.025
    brow: tuple = HAIR["brown"]
    nose_len: float = 0.37  # eye line to nose base
    nose_w: float = 0.115
    mouth_gap: float = 0.16  # nose base to mouth line
    mouth_w: float = 0.21
    lip_upper: float = 0.034
    lip_lower: float = 0.046
    lip: tuple = rgb(190, 110, 110)
    hair: tuple = HAIR["brown"]
    hair_style: int = 1  # 0 short, 1 medium (to the jaw), 2 long (to the shoulders)
    hair_volume: float = 0.08
    hairline: float = -0.52
    fringe: float = 0.0  # 0 none; else how far the fringe reaches towards the brows (0..1)
    parting: float = 0.0  # -1..1, side of the parting
    ear: float = 1.0
    stubble: float = 0.0
    blush: float = 0.1
    shirt: tuple = rgb(120, 120, 124)
    expressiveness: float = 1.0  # scales all actions of this subject
    rest_corner: float = 0.0  # resting lip-corner offset (some people look sad or smiley at rest)
    rest_brow: float = 0.0  # resting brow height offset
    asym: float = 0.0  # small left/right asymmetry

    @classmethod
    def sample(cls, rng: np.random.Generator, *, gender: str | None = None, look: str = "any") -> FaceParams:
        """A random identity. `look`: "kdef" (mostly light skin, grey T-shirt), "ckplus" (varied),
        "jaffe" (East-Asian female, dark hair, often a fringe) or "any"."""
        u = rng.uniform
        if gender is None:
            gender = "F" if rng.random() < 0.5 else "M"
        fem = gender == "F"
        skin = _sample_skin(rng, look)
        hair, hair_name, style, fringe = _sample_hair(rng, look, fem)
        vol = {0: u(0.03, 0.06), 1: u(0.06, 0.10), 2: u(0.07, 0.12)}[style]
        brow_col = tone(hair, 0.75) if hair_name not in ("blond", "grey") else tone(HAIR["lightbrown"], 0.8)
        lip = mix(tone(skin, 0.86), rgb(185, 85, 90), u(0.25, 0.45) if fem else u(0.15, 0.3))
        if look == "kdef":
            shirt = tone(rgb(118, 118, 124), u(0.85, 1.15))
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
            iris=tone(IRIS[0], u(0.7, 1.1)) if asian else IRIS[int(rng.choice(5, p=(0.3, 0.25, 0.25, 0.1, 0.1)))],
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
            rest_corner=clamp(rng.normal(0, 0.08), -0.18, 0.18),
            rest_brow=clamp(rng.normal(0, 0.08), -0.18, 0.18),
            asym=u(-1, 1),
        )

    def variant(self, rng: np.random.Generator, amount: float = 1.0) -> FaceParams:
        """The same person on another day (KDEF series B): hair offset/volume and blush change slightly."""

        def u(a):
            return float(rng.uniform(-a, a) * amount)

        return replace(
            self,
            hair_volume=clamp(self.hair_volume + u(0.02), 0.02, 0.13),
            hairline=self.hairline + u(0.03),
            fringe=clamp(self.fringe + u(0.15), 0, 1) if self.fringe > 0 else 0.0,
            parting=clamp(self.parting + u(0.4), -1, 1),
            blush=clamp(self.blush + u(0.05), 0, 0.3),
            hair=tone(self.hair, 1 + u(0.06)),
        )

    @classmethod
    def average(cls, gender: str) -> FaceParams:
        """A smooth, average-looking identity (AKDEF)."""
        fem = gender == "F"
        return cls(
            gender=gender,
            face_w=0.735 if fem else 0.78,
            jaw=0.25 if fem else 0.7,
            chin=0.99 if fem else 1.02,
            skin=SKIN_LIGHT[1],
            hair=HAIR["brown"],
            brow=tone(HAIR["brown"], 0.75),
            hair_style=1 if fem else 0,
            hair_volume=0.08 if fem else 0.045,
            brow_thick=0.022 if fem else 0.031,
            lip_upper=0.036 if fem else 0.03,
            lip_lower=0.049 if fem else 0.042,
            lip=mix(tone(SKIN_LIGHT[1], 0.86), rgb(185, 85, 90), 0.3),
            hairline=-0.53 if fem else -0.48,
        )


def _sample_skin(rng: np.random.Generator, look: str) -> tuple:
    """A skin colour between two palette entries; the palette depends on the dataset's look."""
    u = rng.uniform
    if look == "jaffe":
        return mix(*[SKIN_EAST_ASIAN[i] for i in rng.choice(3, 2, replace=False)], u())
    p = {"kdef": (0.85, 0.1, 0.05), "ckplus": (0.55, 0.25, 0.2)}.get(look, (0.5, 0.3, 0.2))
    pal = (SKIN_LIGHT, SKIN_MEDIUM, SKIN_DARK)[int(rng.choice(3, p=p))]
    i, j = rng.choice(len(pal), 2, replace=False)
    return mix(pal[i], pal[j], u())


def _sample_hair(rng: np.random.Generator, look: str, fem: bool) -> tuple[tuple, str, int, float]:
    """Hair colour, its palette name, style (0 short, 1 medium, 2 long) and fringe length."""
    u = rng.uniform
    if look == "jaffe":
        name = "black" if rng.random() < 0.7 else "darkbrown"
    else:
        names = ["black", "darkbrown", "brown", "lightbrown", "blond", "auburn", "grey"]
        w = [0.12, 0.25, 0.25, 0.15, 0.15, 0.05, 0.03] if look == "kdef" else [0.3, 0.3, 0.2, 0.08, 0.07, 0.03, 0.02]
        name = names[int(rng.choice(len(names), p=w))]
    hair = tone(HAIR[name], u(0.85, 1.15))
    if look == "jaffe":
        style = int(rng.choice(3, p=(0.1, 0.45, 0.45)))
        fringe = u(0.5, 1.0) if rng.random() < 0.75 else 0.0
    elif fem:
        style = int(rng.choice(3, p=(0.15, 0.35, 0.5)))
        fringe = u(0.3, 1.0) if rng.random() < 0.35 else 0.0
    else:
        style = int(rng.choice(3, p=(0.75, 0.22, 0.03)))
        fringe = u(0.2, 0.6) if rng.random() < 0.15 else 0.0
    return hair, name, style, fringe


def sample_actions(expression: str, rng: np.random.Generator, expressiveness: float = 1.0) -> dict:
    """Peak facial actions of one expressive image (before scaling by intensity), with random jitter."""
    if expression not in EXPRESSIONS:
        raise ValueError(f"unknown expression {expression!r}; expected one of {EXPRESSIONS}")
    u = rng.uniform
    a = dict.fromkeys(ACTIONS, 0.0)
    teeth = 0.0
    side = 1.0 if rng.random() < 0.5 else -1.0
    if expression == "happy":
        a.update(lip_corner=u(0.65, 1.0), cheek=u(0.5, 1.0), eye_open=-u(0.1, 0.4))
        if rng.random() < 0.6:
            a.update(jaw=u(0.12, 0.4), upper_lip=u(0.2, 0.5))
            teeth = 1.0
    elif expression == "sad":
        a.update(
            inner_brow=u(0.7, 1.0),
            brow_lower=u(0.1, 0.35),
            lip_corner=-u(0.6, 1.0),
            eye_open=-u(0.1, 0.4),
            lip_press=u(0.1, 0.4),
        )
    elif expression == "angry":
        a.update(brow_lower=u(0.7, 1.0), eye_open=-u(0.2, 0.6), brow_raise=-u(0.0, 0.2))
        if rng.random() < 0.65:
            a.update(lip_press=u(0.6, 1.0), lip_corner=-u(0.0, 0.25))
        else:
            a.update(jaw=u(0.15, 0.35), upper_lip=u(0.4, 0.8), lip_stretch=u(0.0, 0.3))
            teeth = 1.0
    elif expression == "disgust":
        a.update(
            nose_wrinkle=u(0.6, 1.0),
            upper_lip=u(0.5, 1.0),
            brow_lower=u(0.3, 0.7),
            eye_open=-u(0.2, 0.5),
            cheek=u(0.2, 0.5),
            lip_corner=-u(0.0, 0.35),
            jaw=u(0.0, 0.12),
        )
        teeth = 1.0 if rng.random() < 0.5 else 0.0
    elif expression == "fear":
        a.update(
            brow_raise=u(0.5, 0.9),
            inner_brow=u(0.3, 0.7),
            brow_lower=u(0.3, 0.6),
            eye_open=u(0.6, 1.0),
            lip_stretch=u(0.6, 1.0),
            jaw=u(0.1, 0.35),
        )
        teeth = 1.0 if rng.random() < 0.6 else 0.0
    elif expression == "surprise":
        a.update(brow_raise=u(0.7, 1.0), eye_open=u(0.6, 1.0), jaw=u(0.6, 1.0), mouth_round=u(0.5, 1.0))
    elif expression == "contempt":
        a.update(contempt=u(0.6, 1.0), eye_open=-u(0.0, 0.2), brow_lower=u(0.0, 0.2))
    k = expressiveness * u(0.75, 1.1)
    for name in ACTIONS:
        v = a[name] * k * u(0.85, 1.15) + rng.normal(0.0, 0.05)
        a[name] = clamp(v, -1.0 if name in SIGNED_ACTIONS else 0.0, 1.0)
    a["teeth"] = teeth
    a["contempt_side"] = side
    a["gaze_x"] = float(rng.normal(0, 0.12))
    a["gaze_y"] = float(rng.normal(0, 0.05))
    return a


def scale_actions(actions: dict, intensity: float, params: FaceParams) -> dict:
    """Peak actions scaled by `intensity` (0 = this subject's neutral face), plus the subject's resting offsets."""
    t = clamp(intensity, 0.0, 1.0)
    a = {k: (v * t if k in ACTIONS else v) for k, v in actions.items()}
    a["lip_corner"] = clamp(a["lip_corner"] + params.rest_corner, -1, 1)
    a["brow_raise"] = clamp(a["brow_raise"] + params.rest_brow, -1, 1)
    return a
