"""The synthetic face renderer: native layouts, determinism, caching and a learnability sanity check."""

from __future__ import annotations

import hashlib
import re
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from fer.classes import CLASSES
from fer.synthetic import (
    FACE_CROP,
    FEATURE_BOX,
    STYLES,
    FaceParams,
    draw_face,
    render,
    render_ckplus,
    render_kdef,
    sample_actions,
)
from fer.synthetic.face import ACTIONS
from fer.synthetic.scene import sample_nuisance
from fer.synthetic.styles import SIZES

KDEF_FILE = re.compile(r"^[AB][FM]\d{2}(AF|AN|DI|HA|NE|SA|SU)(FL|HL|S|HR|FR)\.JPG$")
KDEF_FOLDER = re.compile(r"^[AB][FM]\d{2}$")
KDEF_EXPR = {
    "AF": "fear",
    "AN": "angry",
    "DI": "disgust",
    "HA": "happy",
    "NE": "neutral",
    "SA": "sad",
    "SU": "surprise",
}
CK_IMAGE = re.compile(r"^cohn-kanade-images/(S\d{3})/(\d{3})/\1_\2_(\d{8})\.png$")
CK_LABEL = re.compile(r"^Emotion/(S\d{3})/(\d{3})/\1_\2_(\d{8})_emotion\.txt$")
JAFFE_CODES = {"AN", "DI", "FE", "HA", "NE", "SA", "SU"}


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def face_crop(image: np.ndarray, style: str, box=None) -> np.ndarray:
    """The square crop of a rendered image around `box` (default FACE_CROP[style]), as fer.faces.detection cuts it."""
    h, w = image.shape[:2]
    x0, y0, x1, y1 = FACE_CROP[style] if box is None else box
    cx, cy = (x0 + x1) / 2 * w, (y0 + y1) / 2 * h
    side = max((x1 - x0) * w, (y1 - y0) * h)
    xa, ya = int(round(cx - side / 2)), int(round(cy - side / 2))
    s = int(round(side))
    pad = max(0, -xa, -ya, xa + s - w, ya + s - h)
    if pad:
        image = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        xa, ya = xa + pad, ya + pad
    return image[ya : ya + s, xa : xa + s]


# ---------------------------------------------------------------------------------------------- KDEF


@pytest.fixture(scope="module")
def kdef_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("kdef")
    summary = render_kdef(out, subjects=3, angles=("S", "HR"))
    assert summary["style"] == "kdef" and summary["images"] == 3 * 2 * 7 * 2 and summary["subjects"] == 3
    assert summary["root"] == str(out)
    return out


def test_kdef_layout(kdef_dir: Path):
    base = kdef_dir / "KDEF"
    folders = sorted(p.name for p in base.iterdir())
    assert folders == ["AF01", "AF02", "AM01", "BF01", "BF02", "BM01"]  # F/M alternate, both series per subject
    assert all(KDEF_FOLDER.match(f) for f in folders)
    for folder in folders:
        names = sorted(p.name for p in (base / folder).iterdir())
        assert len(names) == 7 * 2
        for name in names:
            assert KDEF_FILE.match(name), name
            assert name.startswith(folder)
        assert {n[4:6] for n in names} == set(KDEF_EXPR)
    img = cv2.imread(str(base / "AF01" / "AF01HAS.JPG"), cv2.IMREAD_UNCHANGED)
    assert img.shape == (762, 562, 3) and img.dtype == np.uint8
    assert np.abs(img[..., 0].astype(int) - img[..., 2].astype(int)).mean() > 2  # colour, not grey in 3 channels
    # AKDEF averaged faces beside it, named [F|M][expr][angle].JPG
    akdef = sorted(p.name for p in (kdef_dir / "AKDEF").iterdir())
    assert "FANS.JPG" in akdef and "MHAS.JPG" in akdef
    assert all(re.match(r"^[FM](AF|AN|DI|HA|NE|SA|SU)(FL|HL|S|HR|FR)\.JPG$", n) for n in akdef)


def test_kdef_series_are_the_same_person(kdef_dir: Path):
    """A and B sessions share identity: the same subject's frontal neutral faces are closer than two subjects'."""

    def face(name):
        im = cv2.imread(str(kdef_dir / "KDEF" / name[:4] / name), cv2.IMREAD_GRAYSCALE)
        return cv2.resize(face_crop(im, "kdef"), (32, 32), interpolation=cv2.INTER_AREA).astype(float)

    same = np.abs(face("AF01NES.JPG") - face("BF01NES.JPG")).mean()
    other = np.abs(face("AF01NES.JPG") - face("AF02NES.JPG")).mean()
    assert same < other


# ---------------------------------------------------------------------------------------------- CK+


@pytest.fixture(scope="module")
def ck_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ckplus")
    summary = render_ckplus(out, subjects=2, sequences_per_subject=4, frames=(4, 6))
    assert summary["style"] == "ckplus" and summary["subjects"] == 2
    return out


def test_ckplus_layout(ck_dir: Path):
    images = sorted(p.relative_to(ck_dir).as_posix() for p in (ck_dir / "cohn-kanade-images").rglob("*") if p.is_file())
    labels = sorted(p.relative_to(ck_dir).as_posix() for p in (ck_dir / "Emotion").rglob("*") if p.is_file())
    assert images and labels
    seqs: dict[tuple[str, str], list[int]] = {}
    for rel in images:
        m = CK_IMAGE.match(rel)
        assert m, rel
        seqs.setdefault((m[1], m[2]), []).append(int(m[3]))
    assert len({s for s, _ in seqs}) == 2 and len(seqs) == 8
    for frames in seqs.values():
        assert sorted(frames) == list(range(1, len(frames) + 1)) and 4 <= len(frames) <= 6
    sizes, modes = set(), set()
    for rel in images:
        img = cv2.imread(str(ck_dir / rel), cv2.IMREAD_UNCHANGED)
        assert img.dtype == np.uint8
        sizes.add((img.shape[1], img.shape[0]))
        modes.add(img.ndim)
    assert sizes <= {(640, 490), (640, 480)} and (640, 490) in sizes and (640, 480) in sizes
    assert 2 in modes and 3 in modes  # mostly grey, a few 3-channel frames as in the real set
    labelled = set()
    for rel in labels:
        m = CK_LABEL.match(rel)
        assert m, rel
        text = (ck_dir / rel).read_text()
        assert re.fullmatch(r"   \d\.0000000e\+00\n", text), repr(text)
        code = int(float(text))
        assert 1 <= code <= 7
        assert int(m[3]) == max(seqs[(m[1], m[2])])  # the label sits on the last (peak) frame
        labelled.add((m[1], m[2]))
    unlabelled = set(seqs) - labelled
    assert unlabelled
    empty = [d for d in (ck_dir / "Emotion").glob("S*/*") if d.is_dir() and not any(d.iterdir())]
    assert empty  # an empty label folder means "unlabelled"
    missing = [s for s in unlabelled if not (ck_dir / "Emotion" / s[0] / s[1]).exists()]
    assert missing  # and so does a missing one


def test_ckplus_sequence_goes_from_neutral_to_peak(ck_dir: Path):
    label = sorted((ck_dir / "Emotion").rglob("*_emotion.txt"))[0]
    subj, seq = label.parent.parent.name, label.parent.name
    frames = sorted((ck_dir / "cohn-kanade-images" / subj / seq).glob("*.png"))
    grey = [cv2.imread(str(f), cv2.IMREAD_GRAYSCALE).astype(float) for f in frames]
    # consecutive frames change little, the sequence as a whole changes more
    steps = [np.abs(a - b).mean() for a, b in zip(grey, grey[1:], strict=False)]
    assert np.abs(grey[0] - grey[-1]).mean() > max(steps) * 0.9


def test_ckplus_contempt_sequences(tmp_path: Path):
    render_ckplus(tmp_path, subjects=4, sequences_per_subject=3, frames=(2, 2))
    codes = [int(float(p.read_text())) for p in (tmp_path / "Emotion").rglob("*_emotion.txt")]
    assert 2 in codes and 0 not in codes
    assert len(set(codes)) >= 5


# ---------------------------------------------------------------------------------------------- JAFFE


def test_jaffe_layout(tmp_path: Path):
    summary = render(("jaffe"), tmp_path, subjects=2, per_expression=2)
    assert summary["subjects"] == 2 and summary["images"] == 2 * 7 * 2
    folder = tmp_path / "jaffe"
    assert (folder / "README").is_file()
    tiffs = sorted(p for p in folder.iterdir() if p.suffix == ".tiff")
    assert len(tiffs) == 28
    numbers = []
    for p in tiffs:
        parts = p.name.split(".")
        assert len(parts) == 4 and parts[3] == "tiff", p.name
        assert parts[0] in {"KA", "KL"}
        assert parts[1][:2] in JAFFE_CODES and parts[1][2:] in {"1", "2"}
        assert parts[2].isdigit() and 1 <= len(parts[2]) <= 3
        numbers.append(int(parts[2]))
        with Image.open(p) as im:
            assert im.format == "TIFF" and im.mode == "L" and im.size == (256, 256)
    assert len(set(numbers)) == len(numbers)


# ---------------------------------------------------------------------------------------------- API


def test_draw_face_api():
    rng = np.random.default_rng(0)
    fp = FaceParams.sample(rng)
    for expr in (*CLASSES, "contempt"):
        img = draw_face(fp, expr, 0.7, (200, 260), rng)
        assert img.shape == (260, 200, 3) and img.dtype == np.uint8
    a = draw_face(fp, "happy", 1.0, (256, 256), np.random.default_rng(5), style="jaffe")
    b = draw_face(fp, "happy", 1.0, (256, 256), np.random.default_rng(5), style="jaffe")
    assert np.array_equal(a, b)
    with pytest.raises(ValueError):
        draw_face(fp, "bored", 1.0, (64, 64), rng)
    with pytest.raises(ValueError):
        render("fer2013", "/nonexistent")
    assert STYLES == ("kdef", "ckplus", "jaffe")
    for style in STYLES:  # crops are squares in pixels and lie inside the image
        w, h = SIZES[style]
        x0, y0, x1, y1 = FACE_CROP[style]
        assert 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1
        assert abs((x1 - x0) * w - (y1 - y0) * h) < 2


def test_intensity_zero_is_neutral():
    fp = FaceParams.sample(np.random.default_rng(3))
    actions = sample_actions("surprise", np.random.default_rng(4))
    nuis = sample_nuisance("kdef", np.random.default_rng(6))
    kw = {"actions": actions, "nuisance": nuis, "style": "kdef"}
    zero = draw_face(fp, "surprise", 0.0, (281, 381), np.random.default_rng(7), **kw).astype(float)
    peak = draw_face(fp, "surprise", 1.0, (281, 381), np.random.default_rng(7), **kw).astype(float)
    neutral_actions = dict(actions, **dict.fromkeys(ACTIONS, 0.0))
    neutral = draw_face(fp, "neutral", 1.0, (281, 381), np.random.default_rng(7), **dict(kw, actions=neutral_actions))
    assert np.abs(zero - neutral).mean() < 0.5 < np.abs(zero - peak).mean()


# ---------------------------------------------------------------------------------------------- determinism, cache


@pytest.mark.parametrize(
    "style,kw",
    [
        ("kdef", {"subjects": 2, "angles": ("HL",)}),
        ("ckplus", {"subjects": 2, "sequences_per_subject": 2, "frames": (3, 4)}),
        ("jaffe", {"subjects": 2, "per_expression": 1}),
    ],
)
def test_deterministic_and_cached(tmp_path: Path, style: str, kw: dict):
    a, b = tmp_path / "a", tmp_path / "b"
    render(style, a, seed=3, **kw)
    render(style, b, seed=3, **kw)
    fa, fb = _files(a), _files(b)
    assert fa.keys() == fb.keys() and len(fa) > 5
    assert all(fa[k] == fb[k] for k in fa), [k for k in fa if fa[k] != fb[k]][:5]
    # a second call finds the stamp and rewrites nothing
    mtimes = {p: p.stat().st_mtime_ns for p in a.rglob("*") if p.is_file()}
    t0 = time.perf_counter()
    again = render(style, a, seed=3, **kw)
    assert time.perf_counter() - t0 < 0.5
    assert again["cached"] is True and again["root"] == str(a)
    assert {p: p.stat().st_mtime_ns for p in a.rglob("*") if p.is_file()} == mtimes
    # another seed gives other faces, and replaces the previous render
    c = render(style, a, seed=4, **kw)
    assert c["cached"] is False
    assert _files(a).keys() == fa.keys() or style == "ckplus"  # CK+ sequence numbering depends on the seed
    assert any(_files(a).get(k) != v for k, v in fa.items())


def test_styles_share_one_folder(tmp_path: Path):
    render("jaffe", tmp_path, subjects=1, per_expression=1)
    render("kdef", tmp_path, subjects=1, angles=("S",), akdef=False)
    assert render("jaffe", tmp_path, subjects=1, per_expression=1)["cached"] is True
    assert render("kdef", tmp_path, subjects=1, angles=("S",), akdef=False)["cached"] is True


def test_incomplete_render_is_redone(tmp_path: Path):
    render("jaffe", tmp_path, subjects=1, per_expression=1)
    victim = next((tmp_path / "jaffe").glob("*.tiff"))
    victim.unlink()
    again = render("jaffe", tmp_path, subjects=1, per_expression=1)
    assert again["cached"] is False and victim.exists()


# A digest of decoded pixels pins the drawing, so a refactor cannot change a single image. A deliberate change
# to the drawing moves it: look at the images, bump fer.synthetic.stamp.RENDER_VERSION (cached renders are
# then redone) and re-pin. An OpenCV or numpy upgrade that changes anti-aliasing or random streams moves it too.
PINNED_PIXELS = "65202f765e5789a23cdd0c4f6ebd6e2ba9487ba910c126a3774290c41e14ab85"


def test_rendered_pixels_are_pinned(tmp_path: Path):
    render("jaffe", tmp_path, subjects=2, per_expression=1, seed=3)
    render("ckplus", tmp_path, subjects=1, sequences_per_subject=2, frames=(2, 3), seed=3)
    digest = hashlib.sha256()
    images = [p for p in sorted(tmp_path.rglob("*")) if p.suffix in (".tiff", ".png")]
    assert len(images) >= 14 + 4
    for p in images:
        digest.update(p.relative_to(tmp_path).as_posix().encode())
        digest.update(np.ascontiguousarray(cv2.imread(str(p), cv2.IMREAD_UNCHANGED)).tobytes())
    fp = FaceParams.sample(np.random.default_rng(11), gender="M", look="kdef")
    for yaw in (-35.0, 0.0, 70.0):  # KDEF's turned views
        img = draw_face(fp, "surprise", 1.0, (281, 381), np.random.default_rng(12), style="kdef", yaw=yaw)
        digest.update(img.tobytes())
    assert digest.hexdigest() == PINNED_PIXELS


# ---------------------------------------------------------------------------------------------- learnability


def _softmax_regression(x, y, classes, lam=1e-2, iters=400, lr=0.5):
    w = np.zeros((x.shape[1], classes))
    b = np.zeros(classes)
    onehot = np.eye(classes)[y]
    for _ in range(iters):
        z = x @ w + b
        z -= z.max(1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(1, keepdims=True)
        g = (p - onehot) / len(x)
        w -= lr * (x.T @ g + lam * w)
        b -= lr * g.sum(0)
    return w, b


def test_expressions_are_learnable_across_subjects(tmp_path: Path):
    render_kdef(tmp_path, subjects=12, angles=("S",), akdef=False)
    feats, labels, subjects = [], [], []
    for path in sorted((tmp_path / "KDEF").glob("*/*.JPG")):
        grey = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        crop = cv2.resize(face_crop(grey, "kdef", FEATURE_BOX["kdef"]), (32, 32), interpolation=cv2.INTER_AREA)
        v = crop.astype(np.float64).ravel()
        feats.append((v - v.mean()) / (v.std() + 1e-6))
        labels.append(CLASSES.index(KDEF_EXPR[path.name[4:6]]))
        subjects.append(path.name[1:4])
    x, y, subjects = np.array(feats), np.array(labels), np.array(subjects)
    test = np.isin(subjects, ["F05", "F06", "M05", "M06"])  # held-out subjects, both series
    train = ~test
    mu, sd = x[train].mean(0), x[train].std(0) + 1e-6
    xs = (x - mu) / sd / np.sqrt(x.shape[1])
    w, b = _softmax_regression(xs[train], y[train], len(CLASSES))
    acc = float((np.argmax(xs[test] @ w + b, 1) == y[test]).mean())
    means = np.array([x[train & (y == c)].mean(0) for c in range(len(CLASSES))])
    ncm = float((np.argmin(((x[test][:, None] - means[None]) ** 2).sum(-1), 1) == y[test]).mean())
    print(f"held-out accuracy: logistic regression {acc:.3f}, nearest class mean {ncm:.3f} (chance 0.143)")
    assert acc > 0.40
    assert ncm > 0.25
