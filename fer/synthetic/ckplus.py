"""CK+'s layout: `cohn-kanade-images/S005/001/S005_001_00000001.png` grey PNG 640 x 490 (some subjects 640 x 480,
a couple of frames 3-channel), labels `Emotion/S005/001/S005_001_000000NN_emotion.txt` on the last frame
(`   3.0000000e+00\\n`), contempt sequences, unlabelled sequences (no label folder, or an empty one)."""

from __future__ import annotations

import time
from pathlib import Path

import cv2

from fer.classes import CKPLUS_CODES
from fer.synthetic.face import FaceParams, sample_actions, scale_actions
from fer.synthetic.image import render_image
from fer.synthetic.scene import sample_nuisance, sample_scene
from fer.synthetic.stamp import begin, cached, finish
from fer.synthetic.styles import CK_CAMERA, STYLE_IDS, keyed_rng

# Sequence emotions cycle through this order, so a subject's sequences are distinct emotions.
EMOTION_CYCLE = (5, 2, 7, 1, 3, 6, 4)


def render_ckplus(
    out_dir, *, subjects: int = 12, seed: int = 1, sequences_per_subject: int = 4, frames=(6, 10)
) -> dict:
    """`out_dir/cohn-kanade-images/Sxxx/yyy/Sxxx_yyy_0000000n.png` and `out_dir/Emotion/.../*_emotion.txt`.

    Each sequence runs from neutral (first frame) to the peak of one emotion (last frame). A third of the
    sequences (global index 2, 5, 8, 11, ...) are unlabelled: the first keeps an empty label folder, the others
    have none. Emotions cycle (happy, contempt, surprise, anger, disgust, sadness, fear), so a subject's
    sequences differ and contempt (code 2) appears; subjects 2, 7, 12, ... are 640 x 480; two frames (first
    frame of sequence 1, last frame of sequence 3, counting from 0) are 3-channel PNGs.
    """
    if not 1 <= sequences_per_subject <= 7:
        raise ValueError(f"sequences_per_subject={sequences_per_subject}; expected 1..7 (distinct emotions)")
    f0, f1 = int(frames[0]), int(frames[1])
    if not 2 <= f0 <= f1:
        raise ValueError(f"frames={frames}; expected (min, max) with 2 <= min <= max")
    out = Path(out_dir)
    args = {"subjects": subjects, "seed": seed, "sequences_per_subject": sequences_per_subject, "frames": [f0, f1]}
    tops, sfx = ("cohn-kanade-images", "Emotion"), (".png", ".txt")
    hit = cached(out, "ckplus", args, tops, sfx)
    if hit:
        return hit
    t0 = time.perf_counter()
    begin(out, "ckplus", tops)
    sid = STYLE_IDS["ckplus"]
    n = labelled = g = 0
    empty_done = False
    colour_frames = 0
    for i, subj in enumerate(_subject_ids(subjects, seed)):
        S = f"S{subj:03d}"
        fp = FaceParams.sample(keyed_rng(seed, sid, i, 0), look="ckplus")
        srng = keyed_rng(seed, sid, i, 1)
        scene = sample_scene("ckplus", srng)
        size = (640, 480) if i % 5 == 1 else (640, 490)
        camera = srng.uniform(-CK_CAMERA[0], CK_CAMERA[0]), srng.uniform(-CK_CAMERA[1], CK_CAMERA[1])
        seq_no = 0
        for j in range(sequences_per_subject):
            seq_no += 1 + (1 if (j > 0 and srng.random() < 0.12) else 0)
            code = EMOTION_CYCLE[(i * sequences_per_subject + j) % len(EMOTION_CYCLE)]
            Q = f"{seq_no:03d}"
            colour = {1: "first", 3: "last"}.get(g)  # two 3-channel frames, as in the real set
            nf = _render_sequence(
                out / "cohn-kanade-images" / S / Q,
                f"{S}_{Q}",
                fp,
                CKPLUS_CODES[code],
                scene,
                camera,
                size,
                colour,
                (f0, f1),
                (seed, sid, i),
                j,
            )
            colour_frames += colour is not None
            n += nf
            ld = out / "Emotion" / S / Q
            if g % 6 in (2, 5):  # unlabelled
                if not empty_done:
                    ld.mkdir(parents=True, exist_ok=True)
                    empty_done = True
            else:
                ld.mkdir(parents=True, exist_ok=True)
                (ld / f"{S}_{Q}_{nf:08d}_emotion.txt").write_text(f"   {float(code):.7e}\n")
                labelled += 1
            g += 1
    summary = {
        "style": "ckplus",
        "images": n,
        "subjects": subjects,
        "sequences": g,
        "labelled_sequences": labelled,
        "colour_frames": colour_frames,
        "seconds": round(time.perf_counter() - t0, 2),
    }
    return finish(out, "ckplus", args, summary, tops, sfx)


def _render_sequence(
    folder: Path,
    stem: str,
    fp: FaceParams,
    emotion: str,
    scene: dict,
    camera,
    size,
    colour: str | None,
    frames: tuple[int, int],
    key: tuple,
    j: int,
) -> int:
    """Sequence `j` of a subject (random draws keyed by `key` + j): frames from neutral to the emotion's peak,
    with a little head drift; `colour` ("first"/"last") keeps that frame 3-channel. Returns the frame count."""
    qrng = keyed_rng(*key, 2, j)
    peak = sample_actions(emotion, qrng, fp.expressiveness * 1.05)
    nuis0 = sample_nuisance("ckplus", qrng, scene)
    nuis0["dx"] = 0.4 * nuis0["dx"] + camera[0]
    nuis0["dy"] = 0.4 * nuis0["dy"] + camera[1]
    drift = qrng.uniform(-1.5, 1.5, 3)
    nf = int(qrng.integers(frames[0], frames[1] + 1))
    folder.mkdir(parents=True, exist_ok=True)
    colour_index = {"first": 0, "last": nf - 1}.get(colour)
    for k in range(nf):
        t = k / (nf - 1)
        intensity = t * t * (3 - 2 * t)
        frng = keyed_rng(*key, 3, j, k)
        nuis = dict(
            nuis0,
            roll=nuis0["roll"] + drift[0] * t,
            dx=nuis0["dx"] + 0.01 * drift[1] * t,
            dy=nuis0["dy"] + 0.01 * drift[2] * t,
            noise=nuis0["noise"] * frng.uniform(0.9, 1.1),
        )
        a = dict(peak, gaze_x=peak["gaze_x"] * t, gaze_y=peak["gaze_y"] * t)
        grey = k != colour_index
        img = render_image(fp, scale_actions(a, intensity, fp), nuis, size, "ckplus", 0.0, frng, grey=grey)
        name = folder / f"{stem}_{k + 1:08d}.png"
        if not cv2.imwrite(str(name), img):
            raise OSError(f"could not write {name}")
    return nf


def _subject_ids(n: int, seed: int) -> list[int]:
    """Subject numbers from S005 upwards with random gaps, as in the real set."""
    rng = keyed_rng(seed, STYLE_IDS["ckplus"], 77)
    ids, cur = [], 5
    step_max = max(1, min(6, (990 - 5) // max(n, 1)))
    for _ in range(n):
        ids.append(cur)
        cur += int(rng.integers(1, step_max + 1))
    if ids[-1] > 999:
        raise ValueError(f"CK+ subjects={n}: too many for three-digit ids")
    return ids
