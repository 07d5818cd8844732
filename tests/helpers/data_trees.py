"""Tiny native dataset trees with each download's quirks, for the reader, face and cache tests.

Images are small drawn faces (an ellipse with eyes and a mouth) so the trees build in well under a second.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

KDEF_CODES = ("AF", "AN", "DI", "HA", "NE", "SA", "SU")
KDEF_ANGLES = ("FL", "HL", "S", "HR", "FR")


def face(w: int = 56, h: int = 76, seed: int = 0, gray: bool = False) -> np.ndarray:
    """A drawn face on a plain background (BGR uint8, or grey)."""
    rng = np.random.default_rng(seed)
    img = np.full((h, w, 3), 200, np.uint8)
    img[:] = rng.integers(150, 230, 3)
    c = (w // 2, int(h * 0.45))
    ax = (int(w * 0.3), int(h * 0.3))
    cv2.ellipse(img, c, ax, 0, 0, 360, (140, 160, 200), -1)
    for dx in (-1, 1):
        cv2.circle(img, (c[0] + dx * ax[0] // 2, c[1] - ax[1] // 4), max(1, w // 25), (30, 30, 30), -1)
    cv2.ellipse(img, (c[0], c[1] + ax[1] // 2), (ax[0] // 2, max(1, ax[1] // 6)), 0, 0, 180, (40, 40, 120), 2)
    return cv2.cvtColor(img, cv2.COLOR_BGR2GRAY) if gray else img


def write(path: Path, img: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), img), path
    return path


def kdef_tree(root: Path, subjects=(("F", 1), ("M", 2)), angles=KDEF_ANGLES, quirks: bool = True) -> Path:
    """`root/KDEF_and_AKDEF/KDEF/<AF01..>/<AF01ANS.JPG>` for both series; returns the zip-top folder.

    Quirks: the misnamed `AF31V.JPG` / `AM31H.JPG` (subject 31 must be in `subjects` for them to matter),
    lowercase `.jpg` extensions on series B, an unparseable name, `.DS_Store`, an `AKDEF/` folder and a
    documentation folder beside `KDEF/`.
    """
    top = root / "KDEF_and_AKDEF"
    kdef = top / "KDEF"
    n = 0
    for series in "AB":
        for g, num in subjects:
            folder = kdef / f"{series}{g}{num:02d}"
            for code in KDEF_CODES:
                for angle in angles:
                    stem = f"{series}{g}{num:02d}{code}{angle}"
                    ext = ".jpg" if (quirks and series == "B") else ".JPG"
                    if quirks and stem == "AF31SAHL":
                        stem = "AF31V"
                    if quirks and stem == "AM31SUHR":
                        stem = "AM31H"
                    write(folder / f"{stem}{ext}", face(seed=n))
                    n += 1
    if quirks:
        write(kdef / "AF01" / "AF01XXS.JPG", face())  # unknown expression code: unparseable
        write(kdef / "AF01" / "notes.JPG", face())
        (kdef / "AF01" / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
        (kdef / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
        write(top / "AKDEF" / "FANS.JPG", face())
        (top / "Documentation").mkdir(parents=True, exist_ok=True)
        (top / "Documentation" / "KDEF.pdf").write_bytes(b"%PDF-1.4")
    return top


def ckplus_tree(root: Path, nested_labels: bool = True) -> Path:
    """Images and labels for 3 subjects; returns the CK+ root.

    S005/001 disgust (label 3.0000000e+00), S005/002 happy, S010/001 contempt, S010/002 unlabelled (no
    label folder), S010/003 empty label folder, S011/001 empty label file, S011/002 surprise with an RGB
    frame. Labels sit one level deeper (`Emotion_labels/Emotion/...`) when `nested_labels`; `.DS_Store`
    files are scattered around.
    """
    ck = root / "CK+"
    images = ck / "cohn-kanade-images"
    labels = (ck / "Emotion_labels" / "Emotion") if nested_labels else (ck / "Emotion")
    seqs = {
        ("S005", "001"): 3.0,
        ("S005", "002"): 5.0,
        ("S010", "001"): 2.0,
        ("S010", "002"): None,
        ("S010", "003"): "emptydir",
        ("S011", "001"): "",
        ("S011", "002"): 7.0,
    }
    for (subj, seq), lab in seqs.items():
        for f in range(1, 7):
            img = face(64, 49, seed=f, gray=not (subj == "S011" and seq == "002" and f == 6))
            write(images / subj / seq / f"{subj}_{seq}_{f:08d}.png", img)
        (images / subj / seq / ".DS_Store").write_bytes(b"\0")
        if lab is None:
            continue
        d = labels / subj / seq
        d.mkdir(parents=True, exist_ok=True)
        if lab == "emptydir":
            continue
        text = "" if lab == "" else f"   {lab:.7e}\n"
        (d / f"{subj}_{seq}_00000006_emotion.txt").write_text(text)
    (labels / ".DS_Store").write_bytes(b"\0")
    (images / ".DS_Store").write_bytes(b"\0")
    return ck


JAFFE_FILES = [
    "KA.AN1.39",
    "KA.AN2.40",
    "KA.HA1.29",
    "KA.NE1.26",
    "KL.DI1.172",
    "KL.FE3.176",
    "KL.SA2.168",
    "KL.SU1.173",
    "KM.HA4.7",
    "KM.NE3.3",
    "MK.AN3.127",
    "MK.SU1.125",
]  # gaps in numbers and k


def jaffe_tree(root: Path) -> Path:
    d = root / "jaffe"
    for i, stem in enumerate(JAFFE_FILES):
        write(d / f"{stem}.tiff", face(64, 64, seed=i, gray=True))
    (d / "README").write_text("JAFFE readme")
    (d / "KA.AN1.39.jpg").write_bytes(b"not a tiff")  # non-TIFF: ignored
    write(d / "KA.XX1.41.tiff", face(64, 64, gray=True))  # unknown code
    write(d / "badname.tiff", face(64, 64, gray=True))  # unparseable
    (d / ".DS_Store").write_bytes(b"\0")
    return d


def folder_tree(root: Path, kind: str = "web") -> Path:
    """Per-emotion folders; `pfa`: KDEF codes as folder names and source KDEF names in the file names."""
    d = root / kind
    if kind == "pfa":
        for i, (code, subj) in enumerate([("AN", "AF01"), ("HA", "BF01"), ("HA", "AM02"), ("SU", "BM02")]):
            write(d / code / f"{subj}{code}S_id1.jpg", face(seed=i))
            write(d / code / f"{subj}{code}S_id2.JPG", face(seed=i + 10))
    else:
        for i, cls in enumerate(["angry", "Happy", "sad"]):
            for k in range(2):
                write(d / cls / f"img{k}.png", face(seed=i * 2 + k))
        (d / "happy_old_do_not_use").mkdir()
        (d / "Happy" / ".DS_Store").write_bytes(b"\0")
    return d


def fer2013_csv(root: Path, rows: int = 14) -> Path:
    """`fer2013/fer2013.csv` with rows of every class and usage, plus two bad rows."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / "fer2013.csv"
    usages = ("Training", "PublicTest", "PrivateTest")
    lines = ["emotion,pixels,Usage"]
    for i in range(rows):
        px = " ".join(str(v) for v in (np.arange(48 * 48) * (i + 1)) % 256)
        lines.append(f"{i % 7},{px},{usages[i % 3]}")
    lines.append("3,1 2 3,Training")  # too few pixels
    lines.append("9," + " ".join(["0"] * 2304) + ",Training")  # unknown class
    path.write_text("\n".join(lines) + "\n")
    return path


def fer2013_folders(root: Path, per_class: int = 3, classes=("angry", "happy", "neutral", "sad")) -> Path:
    """The folder form: `fer2013/train/<class>/*.png` and `fer2013/test/<class>/*.png`, 48 x 48 grey."""
    d = root / "fer2013"
    n = 0
    for split, count in (("train", per_class * 2), ("test", per_class)):
        for cls in classes:
            for k in range(count):
                write(d / split / cls / f"im{k}.png", face(48, 48, seed=n, gray=True))
                n += 1
    return d


RAF_ORDER = ("surprise", "fear", "disgust", "happy", "sad", "angry", "neutral")  # RAF-DB codes 1..7


def rafdb_tree(root: Path, per_class: int = 2, attributes: bool = True) -> Path:
    """RAF-DB basic: `basic/EmoLabel/list_patition_label.txt`, `Image/aligned/*_aligned.jpg`, `Image/original/*.jpg`,
    `Annotation/manual/*_manu_attri.txt` (5 landmark lines, then gender, race, age); returns `basic/`.

    Quirks: a label line with code 8, a listed image that is missing, a malformed line.
    """
    basic = root / "basic"
    lines, n = [], 0
    for split, count in (("train", per_class * 2), ("test", per_class)):
        for code in range(1, 8):
            for _ in range(count):
                n += 1
                name = f"{split}_{n:05d}.jpg"
                lines.append(f"{name} {code}")
                write(basic / "Image" / "original" / name, face(80, 96, seed=n))
                write(basic / "Image" / "aligned" / f"{split}_{n:05d}_aligned.jpg", face(100, 100, seed=n))
                if attributes:
                    attr = basic / "Annotation" / "manual" / f"{split}_{n:05d}_manu_attri.txt"
                    attr.parent.mkdir(parents=True, exist_ok=True)
                    landmarks = "\n".join(f"{30 + i}.5 {40 + i}.25" for i in range(5))
                    attr.write_text(f"{landmarks}\n{n % 2}\n{n % 3}\n{n % 5}\n")
    lines += ["train_09998.jpg 8", "train_09999.jpg 3", "garbage line here"]
    (basic / "EmoLabel").mkdir(parents=True, exist_ok=True)
    (basic / "EmoLabel" / "list_patition_label.txt").write_text("\n".join(lines) + "\n")
    return basic


AFFECTNET_CODES = ("neutral", "happy", "sad", "surprise", "fear", "disgust", "angry", "contempt")  # 0..7


def affectnet_csv_tree(root: Path, per_code: int = 2) -> Path:
    """The official form: `training.csv`, `validation.csv` and `Manually_Annotated_Images/<dir>/<file>.jpg`, with
    every code 0..10 (contempt and 8..10 are dropped by default) and a row with too few fields."""
    d = root / "AffectNet"
    header = "subDirectory_filePath,face_x,face_y,face_width,face_height,facial_landmarks,expression,valence,arousal"
    n = 0
    for csv_name, count in (("training.csv", per_code * 2), ("validation.csv", per_code)):
        rows = [header]
        for code in range(11):
            for _ in range(count):
                n += 1
                rel = f"{n % 3}/img{n:04d}.jpg"
                write(d / "Manually_Annotated_Images" / rel, face(64, 64, seed=n))
                rows.append(f'{rel},8,8,48,48,"1.0;2.0;3.0",{code},0.1,-0.2')
        rows.append("9/short.jpg,1,2")
        (d / csv_name).write_text("\n".join(rows) + "\n")
    return d


def affectnet_npy_tree(root: Path, per_code: int = 2) -> Path:
    """The re-distributed form: `train_set|val_set/images/<n>.jpg` + `annotations/<n>_exp.npy` (codes as strings)."""
    d = root / "affectnet_npy"
    n = 0
    for part, count in (("train_set", per_code * 2), ("val_set", per_code)):
        for code in range(11):
            for _ in range(count):
                write(d / part / "images" / f"{n}.jpg", face(56, 56, seed=n))
                (d / part / "annotations").mkdir(parents=True, exist_ok=True)
                np.save(d / part / "annotations" / f"{n}_exp.npy", np.array(str(code)))
                np.save(d / part / "annotations" / f"{n}_val.npy", np.array("0.1"))
                n += 1
    return d


def folder_split_tree(root: Path, per_class: int = 3) -> Path:
    """`faces/train|val|test/<class>/*` with common class-name spellings (Anger, happiness, normal, Surprised)."""
    d = root / "faces"
    n = 0
    for split, count in (("train", per_class * 2), ("val", per_class), ("test", per_class)):
        for cls in ("Anger", "happiness", "normal", "Surprised"):
            for k in range(count):
                write(d / split / cls / f"{cls.lower()}_{k}.png", face(48, 48, seed=n))
                n += 1
        (d / split / "misc").mkdir(parents=True, exist_ok=True)
    return d
