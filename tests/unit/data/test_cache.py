"""Image decoding, face detection/cropping and the face cache (keys, concurrency, failures, bad input)."""

from __future__ import annotations

import json
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from fer.data import cache as cache_mod
from fer.data.__main__ import main
from fer.data.cache import _crop_one, _init_worker, prepare
from fer.data.catalogue import load_source, read_dataset
from fer.faces import detection as faces_mod
from fer.faces.detection import (
    FaceModelError,
    FaceOptions,
    detect_faces,
    get_detector,
    locate_face,
    parse_ssd,
    parse_yunet,
)
from fer.faces.images import BadImageError, load_image
from fer.faces.pipeline import FacePipeline
from tests.helpers.data_trees import ckplus_tree, face, fer2013_csv, write


@pytest.fixture(scope="module")
def astronaut_bgr() -> np.ndarray:
    from skimage import data

    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)


def _folder(root: Path, n: int = 6, size=(56, 76)) -> list:
    for i in range(n):
        write(root / ("happy" if i % 2 else "sad") / f"im{i}.png", face(*size, seed=i))
    return read_dataset("folder", root, name="t")


# ------------------------------------------------------------------------------------------------ decoding


def test_load_image_odd_formats(tmp_path):
    Image.new("CMYK", (20, 10), (0, 255, 255, 0)).save(tmp_path / "cmyk.jpg")  # pure red in CMYK
    assert tuple(load_image(tmp_path / "cmyk.jpg", "rgb")[5, 10]) == pytest.approx((0, 0, 255), abs=6)  # BGR
    cv2.imwrite(str(tmp_path / "deep.png"), np.full((8, 8), 32896, np.uint16))  # 16-bit grey at 50 %
    deep = load_image(tmp_path / "deep.png")
    assert deep.dtype == np.uint8 and deep.shape == (8, 8) and int(deep[0, 0]) == 128
    Image.new("RGB", (8, 8), (0, 0, 255)).convert("P").save(tmp_path / "pal.png")
    assert Image.open(tmp_path / "pal.png").mode == "P"
    assert tuple(load_image(tmp_path / "pal.png", "rgb")[0, 0]) == (255, 0, 0)  # blue, as BGR
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[:, :4] = (10, 200, 30, 255)  # opaque green half; the other half transparent black
    Image.fromarray(rgba, "RGBA").save(tmp_path / "alpha.png")
    out = load_image(tmp_path / "alpha.png", "rgb")
    assert out.shape == (8, 8, 3) and tuple(out[0, 0]) == (30, 200, 10) and tuple(out[0, 7]) == (255, 255, 255)
    assert load_image(tmp_path / "alpha.png", "gray").shape == (8, 8)


@pytest.mark.parametrize(
    "kind, message", [("empty", "zero-byte"), ("truncated", "truncated or corrupt"), ("text", "not an image file")]
)
def test_load_image_bad_files_name_file_and_remedy(tmp_path, kind, message):
    path = tmp_path / f"{kind}.jpg"
    ok, buf = cv2.imencode(".jpg", face(200, 200))
    path.write_bytes({"empty": b"", "truncated": buf.tobytes()[: len(buf) // 2], "text": b"hello, not a jpeg"}[kind])
    with pytest.raises(BadImageError, match=message) as e:
        load_image(path)
    assert str(path) in str(e.value) and ("re-download" in str(e.value) or "delete" in str(e.value))


# ------------------------------------------------------------------------------------------------ faces


def test_haar_finds_the_astronaut_face(astronaut_bgr):
    for image in (astronaut_bgr, cv2.cvtColor(astronaut_bgr, cv2.COLOR_BGR2GRAY)):
        boxes = detect_faces(image, FaceOptions(detector="haar"))
        assert len(boxes) == 1
        x, y, w, h = boxes[0]
        assert 170 <= x + w / 2 <= 290 and 40 <= y + h / 2 <= 190 and 60 <= w <= 160
    face = FacePipeline(FaceOptions(margin=0.2), 64, "rgb").training_face(astronaut_bgr)
    assert face.found and face.crop.shape == (64, 64, 3) and face.box[2] == face.box[3] == round(boxes[0][2] * 1.4)


def test_margin_square_and_largest_face(monkeypatch):
    img = np.zeros((200, 300), np.uint8)

    class Fake:
        def __call__(self, image):
            return [(150, 40, 40, 60), (10, 10, 20, 20)]  # largest first, as Detector returns them

    monkeypatch.setattr(faces_mod, "get_detector", lambda opts: Fake())
    box, found = locate_face(img, FaceOptions(margin=0.5, square=True))
    assert found and box == (110, 10, 120, 120)  # centre (170, 70), side max(40, 60) * 2
    box, _ = locate_face(img, FaceOptions(margin=0.0, square=False))
    assert box == (150, 40, 40, 60)


def test_detector_sorts_largest_first_and_drops_tiny():
    class Stub(faces_mod.Detector):
        def detect(self, image):
            return [(0, 0, 8, 8), (5, 5, 30, 30), (50, 50, 60, 60)]  # 8 < 0.1 * 100: too small

    opts = FaceOptions(min_face=0.1, max_side=100)
    boxes = Stub(opts)(np.zeros((200, 200), np.uint8))  # detection runs at half size, boxes come back full size
    assert boxes == [(100, 100, 120, 120), (10, 10, 60, 60)]


def test_no_face_policies_and_fixed_crop():
    blank = np.full((80, 120), 128, np.uint8)
    face = FacePipeline(FaceOptions(on_no_face="center"), 32).training_face(blank)
    assert not face.found and face.box == (20, 0, 80, 80) and face.crop.shape == (32, 32, 1)
    assert FacePipeline(FaceOptions(on_no_face="skip"), 32).training_face(blank) is None
    opts = FaceOptions(detector="none", crop=(0.25, 0.0, 0.75, 0.5), square=False)
    face = FacePipeline(opts, 16).training_face(blank)
    assert face.found and face.box == (30, 0, 60, 40)
    assert FacePipeline(FaceOptions(detector="none"), 16).training_face(blank).box == (0, 0, 120, 80)


def test_model_detectors_name_where_to_get_the_files(tmp_path):
    with pytest.raises(FaceModelError, match="res10_300x300_ssd_iter_140000.caffemodel.*samples/dnn/face_detector"):
        get_detector(FaceOptions(detector="opencv_dnn"))
    (tmp_path / "deploy.prototxt").write_text("name: 'x'")
    with pytest.raises(FaceModelError, match=r"missing\.caffemodel not found.*samples/dnn/face_detector"):
        get_detector(
            FaceOptions(
                detector="opencv_dnn",
                config=str(tmp_path / "deploy.prototxt"),
                model=str(tmp_path / "missing.caffemodel"),
            )
        )
    with pytest.raises(FaceModelError, match=r"yunet\.onnx not found.*opencv_zoo.*face_detection_yunet"):
        get_detector(FaceOptions(detector="yunet", model=str(tmp_path / "yunet.onnx")))
    (tmp_path / "junk.onnx").write_bytes(b"not onnx")
    with pytest.raises(FaceModelError, match="could not load.*opencv_zoo"):
        get_detector(FaceOptions(detector="yunet", model=str(tmp_path / "junk.onnx")))


def test_model_output_parsing():
    ssd = np.zeros((1, 1, 3, 7), np.float32)
    ssd[0, 0, 0] = [0, 1, 0.9, 0.25, 0.1, 0.75, 0.6]
    ssd[0, 0, 1] = [0, 1, 0.2, 0.0, 0.0, 1.0, 1.0]  # below threshold
    ssd[0, 0, 2] = [0, 1, 0.8, 0.5, 0.5, 1.2, 1.1]  # leaves the image: clipped
    boxes = parse_ssd(ssd, 200, 100, 0.5)
    assert len(boxes) == 2
    assert boxes[0] == pytest.approx((50, 10, 100, 50), abs=1e-3) and boxes[1] == pytest.approx(
        (100, 50, 100, 50), abs=1e-3
    )
    yn = np.zeros((2, 15), np.float32)
    yn[0, :4], yn[1, :4] = (10, 20, 30, 40), (1, 1, 0, 5)
    assert parse_yunet(yn) == [(10.0, 20.0, 30.0, 40.0)] and parse_yunet(None) == []


def _probe(job):
    _crop_one(job)
    return os.getpid(), faces_mod.BUILT["haar"]


def test_detector_built_once_per_worker_process(monkeypatch, tmp_path):
    monkeypatch.setattr(faces_mod, "_CACHE", {})
    monkeypatch.setattr(faces_mod, "BUILT", faces_mod.Counter())
    path = str(write(tmp_path / "a.png", face(120, 120)))
    opts = FaceOptions()
    for _ in range(5):
        FacePipeline(opts, 32).training_face(load_image(path))
    assert faces_mod.BUILT["haar"] == 1  # in this process, once for many images
    ctx = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(2, mp_context=ctx, initializer=_init_worker, initargs=(opts,)) as pool:
        seen = list(pool.map(_probe, [(path, False, FacePipeline(opts, 32))] * 24, chunksize=2))
    assert {built for _, built in seen} == {1}  # every worker: one detector, however many images it cropped


# ------------------------------------------------------------------------------------------------ cache


def test_cache_reuses_and_keys_on_everything(tmp_path):
    samples = _folder(tmp_path / "faces")
    opts = FaceOptions(detector="none")
    a = prepare(samples, opts, 32, "gray", tmp_path / "c", name="t")
    assert isinstance(a.images, np.memmap) and a.images.dtype == np.uint8 and a.images.shape == (6, 32, 32, 1)
    assert a.report["prepared"] == 6 and not a.report["from_cache"]
    b = prepare(samples, opts, 32, "gray", tmp_path / "c", name="t")
    assert b.report["from_cache"] and b.report["built_by"] == a.report["built_by"]
    assert np.array_equal(a.images, b.images) and [s.path for s in a.samples] == [s.path for s in b.samples]
    variants = [
        (opts, 48, "gray"),
        (opts, 32, "rgb"),
        (FaceOptions(detector="haar"), 32, "gray"),
        (FaceOptions(detector="none", crop=(0.1, 0.1, 0.9, 0.9)), 32, "gray"),
    ]
    keys = {cache_mod.cache_key(samples, *v) for v in variants} | {cache_mod.cache_key(samples, opts, 32, "gray")}
    assert len(keys) == 5
    k0 = cache_mod.cache_key(samples, opts, 32, "gray")
    os.utime(samples[0].path, ns=(1, 1))  # a touched file
    assert cache_mod.cache_key(samples, opts, 32, "gray") != k0
    assert cache_mod.cache_key(samples[1:], opts, 32, "gray") != k0  # the file list
    assert not prepare(samples, opts, 32, "gray", tmp_path / "c", name="t").report["from_cache"]


def _prepare_in_child(samples, cache_dir, barrier, queue):
    barrier.wait()  # both jobs start preparing the same entry at the same moment
    p = prepare(samples, FaceOptions(detector="haar"), 32, "gray", cache_dir, name="race", workers=1)
    queue.put((p.report["built_by"], p.report["from_cache"], np.asarray(p.images).tobytes()))


def test_concurrent_jobs_build_once(tmp_path):
    samples = _folder(tmp_path / "faces", n=30, size=(160, 200))
    ctx = multiprocessing.get_context("fork")
    barrier, queue = ctx.Barrier(2), ctx.Queue()
    jobs = [ctx.Process(target=_prepare_in_child, args=(samples, tmp_path / "c", barrier, queue)) for _ in range(2)]
    for j in jobs:
        j.start()
    results = [queue.get(timeout=120) for _ in jobs]
    for j in jobs:
        j.join(timeout=60)
        assert j.exitcode == 0
    (b1, cached1, img1), (b2, cached2, img2) = results
    assert b1 == b2  # the same builder: built once
    assert sorted([cached1, cached2]) == [False, True] and img1 == img2
    entries = [p.name for p in (tmp_path / "c").iterdir() if not p.name.startswith(".")]
    assert len(entries) == 1 and ".tmp" not in entries[0]


def test_failed_build_leaves_nothing_and_stale_tmp_is_cleared(tmp_path, monkeypatch):
    samples = _folder(tmp_path / "faces")
    real = cache_mod.crop_all

    def dies_halfway(*args, **kwargs):
        for i, r in enumerate(real(*args, **kwargs)):
            if i == 3:
                raise KeyboardInterrupt
            yield r

    monkeypatch.setattr(cache_mod, "crop_all", dies_halfway)
    with pytest.raises(KeyboardInterrupt):
        prepare(samples, FaceOptions(detector="none"), 32, "gray", tmp_path / "c", name="t")
    assert [p.name for p in (tmp_path / "c").iterdir() if not p.name.startswith(".")] == []
    monkeypatch.setattr(cache_mod, "crop_all", real)
    key = cache_mod.cache_key(samples, FaceOptions(detector="none"), 32, "gray")
    leftover = tmp_path / "c" / f".t-{key}.999999-dead.tmp"  # what a killed (kill -9) build leaves
    leftover.mkdir()
    (leftover / "images.npy").write_bytes(b"partial")
    p = prepare(samples, FaceOptions(detector="none"), 32, "gray", tmp_path / "c", name="t")
    assert p.report["prepared"] == 6
    assert not leftover.exists()
    assert [x.name for x in (tmp_path / "c").iterdir() if not x.name.startswith(".")] == [f"t-{key}"]


def test_bad_images_are_skipped_and_listed(tmp_path):
    root = tmp_path / "web"
    _folder(root, n=4)
    ok, buf = cv2.imencode(".jpg", face(200, 200))
    d = root / "angry"
    d.mkdir()
    (d / "zero.jpg").write_bytes(b"")
    (d / "truncated.jpg").write_bytes(buf.tobytes()[: len(buf) // 2])
    (d / "notes.jpg").write_bytes(b"<html>not an image</html>")
    Image.new("CMYK", (40, 40), (0, 255, 255, 0)).save(d / "cmyk.jpg")
    cv2.imwrite(str(d / "deep.png"), np.full((40, 40, 3), 40000, np.uint16))
    Image.new("RGB", (40, 40), (0, 0, 255)).convert("P").save(d / "palette.png")
    Image.new("RGBA", (40, 40), (0, 0, 0, 0)).save(d / "alpha.png")
    samples = read_dataset("folder", root, name="web")
    p = prepare(samples, FaceOptions(detector="none"), 16, "rgb", tmp_path / "c", name="web", workers=1)
    skipped = {Path(s["file"]).name: s["reason"] for s in p.report["skipped"]}
    assert set(skipped) == {"zero.jpg", "truncated.jpg", "notes.jpg"}
    assert "zero-byte" in skipped["zero.jpg"] and "truncated" in skipped["truncated.jpg"]
    assert "not an image" in skipped["notes.jpg"] and str(d / "notes.jpg") in skipped["notes.jpg"]
    got = {Path(s.path).name: p.images[i] for i, s in enumerate(p.samples)}
    assert p.report["prepared"] == len(got) == 8 and p.images.shape[1:] == (16, 16, 3)
    assert tuple(got["cmyk.jpg"][8, 8]) == pytest.approx((255, 0, 0), abs=6)  # RGB in the cache
    assert tuple(got["palette.png"][8, 8]) == (0, 0, 255)
    assert tuple(got["alpha.png"][8, 8]) == (255, 255, 255)
    assert abs(int(got["deep.png"][8, 8, 0]) - round(40000 / 65535 * 255)) <= 1
    assert not [x for x in (tmp_path / "c").iterdir() if ".tmp" in x.name]


def test_all_bad_raises_and_leaves_no_entry(tmp_path):
    d = tmp_path / "web" / "happy"
    d.mkdir(parents=True)
    for i in range(3):
        (d / f"z{i}.png").write_bytes(b"")
    samples = read_dataset("folder", tmp_path / "web")
    with pytest.raises(BadImageError, match="none of the 3 images.*zero-byte"):
        prepare(samples, FaceOptions(detector="none"), 16, "gray", tmp_path / "c")
    assert [x.name for x in (tmp_path / "c").iterdir() if not x.name.startswith(".")] == []


def test_ckplus_rgb_frames_become_grey_and_black_is_reported(tmp_path):
    ck = ckplus_tree(tmp_path)
    peak = ck / "cohn-kanade-images" / "S005" / "001" / "S005_001_00000006.png"
    write(peak, np.zeros((49, 64), np.uint8))
    samples = read_dataset("ckplus", ck)
    p = prepare(samples, FaceOptions(detector="none"), 24, "rgb", tmp_path / "c", name="ck", workers=1)
    assert p.images.shape == (6, 24, 24, 3)
    assert all(np.array_equal(im[..., 0], im[..., 2]) for im in p.images)  # grey even for the RGB frame
    colour = [i for i, s in enumerate(p.samples) if s.path.endswith("S011_002_00000006.png")][0]
    assert p.images[colour].std() > 0
    assert p.report["black"] == [str(peak)]


def test_prepare_cli_reports_no_face_and_skips(tmp_path, capsys):
    root = tmp_path / "web"
    _folder(root, n=3)
    (root / "sad" / "broken.png").write_bytes(b"")
    rc = main(
        [
            "prepare",
            "folder",
            str(root),
            "--cache-dir",
            str(tmp_path / "c"),
            "--size",
            "32",
            "--on-no-face",
            "skip",
            "--workers",
            "1",
        ]
    )
    out, err = capsys.readouterr()  # drawn faces: haar finds none, and on_no_face=skip leaves nothing
    assert rc == 2 and out == "" and "none of the 4 images could be prepared" in err
    assert [x.name for x in (tmp_path / "c").iterdir() if not x.name.startswith(".")] == []
    rc = main(["prepare", "folder", str(root), "--cache-dir", str(tmp_path / "c"), "--size", "32", "--workers", "1"])
    report = json.loads(capsys.readouterr().out)
    assert rc == 0 and report["prepared"] == 3 and report["no_face"] == 3
    assert sorted(Path(f).name for f in report["no_face_files"]) == ["im0.png", "im1.png", "im2.png"]
    assert [Path(s["file"]).name for s in report["skipped"]] == ["broken.png"]
    assert report["seconds"] >= 0 and {"prepared", "skipped", "no_face", "seconds"} <= set(report)


def test_prepare_cli_skip_policy_lists_no_face(tmp_path, capsys, astronaut_bgr):
    root = tmp_path / "web"
    write(root / "happy" / "astronaut.jpg", astronaut_bgr)
    write(root / "happy" / "blank.jpg", np.full((300, 300, 3), 90, np.uint8))
    rc = main(
        [
            "prepare",
            "folder",
            str(root),
            "--cache-dir",
            str(tmp_path / "c"),
            "--size",
            "32",
            "--on-no-face",
            "skip",
            "--workers",
            "1",
        ]
    )
    report = json.loads(capsys.readouterr().out)
    assert rc == 0 and report["prepared"] == 1 and report["no_face"] == 1
    assert [Path(f).name for f in report["no_face_files"]] == ["blank.jpg"]
    assert [Path(s["file"]).name for s in report["skipped"]] == ["blank.jpg"]
    assert "no face found" in report["skipped"][0]["reason"]


def test_prepare_cli_missing_model_is_a_clear_error(tmp_path, capsys):
    root = tmp_path / "web"
    _folder(root, n=2)
    rc = main(["prepare", "folder", str(root), "--cache-dir", str(tmp_path / "c"), "--detector", "yunet"])
    err = capsys.readouterr().err
    assert rc == 2 and "opencv_zoo" in err and "face_detection_yunet" in err


def test_training_path_prepares_fer2013_through_the_cache(tmp_path):
    fer2013_csv(tmp_path / "fer2013")
    cfg = {"reader": "fer2013", "root": str(tmp_path / "fer2013"), "options": {"usage": ["Training", "PublicTest"]}}
    p = load_source("fer2013", cfg, {"detector": "none"}, 48, "gray", tmp_path / "cache")
    assert p.images.shape == (10, 48, 48, 1) and {s.meta["usage"] for s in p.samples} == {"Training", "PublicTest"}
    assert (tmp_path / "cache" / "fer2013_png").is_dir()
    row = next(s for s in p.samples if s.meta["row"] == 3)
    assert np.array_equal(p.images[p.samples.index(row)][..., 0].ravel(), (np.arange(48 * 48) * 2) % 256)


def test_cli_prepare_is_reused_by_training(tmp_path, capsys):
    from omegaconf import OmegaConf

    from tests.conftest import compose_cfg
    from tests.helpers.data_trees import kdef_tree

    root = kdef_tree(tmp_path, subjects=(("F", 1),), angles=("S",), quirks=False)
    assert (
        main(["prepare", "kdef", str(root), "--cache-dir", str(tmp_path / "c"), "--size", "32", "--workers", "1"]) == 0
    )
    built = json.loads(capsys.readouterr().out)
    cfg = compose_cfg([f"paths.kdef={root}", f"paths.root_dir={tmp_path}"])
    p = load_source(
        "kdef", cfg.sources.kdef, OmegaConf.to_container(cfg.faces, resolve=True), 32, "gray", tmp_path / "c"
    )
    assert p.report["from_cache"] and p.report["built_by"] == built["built_by"] and len(p.samples) == 14


def test_an_image_too_small_for_the_fixed_crop_is_skipped_as_bad(tmp_path):
    root = tmp_path / "web"
    _folder(root, n=4)
    Image.new("L", (1, 1), 128).save(root / "happy" / "dot.png")  # a 1x1 crop box rounds to no pixel
    samples = read_dataset("folder", root, name="web")
    opts = FaceOptions(detector="none", crop=(0.25, 0.25, 0.75, 0.75))
    p = prepare(samples, opts, 16, "gray", tmp_path / "c", name="web", workers=1)
    skipped = {Path(s["file"]).name: s["reason"] for s in p.report["skipped"]}
    assert list(skipped) == ["dot.png"] and "1x1 pixels: too small to hold a face" in skipped["dot.png"]
    assert p.report["prepared"] == 4


@pytest.mark.parametrize("detector", ["haar", "none"])
def test_an_image_too_small_to_hold_a_face_is_skipped_not_cropped(tmp_path, detector):
    """Never a centre crop of a few pixels trained on as a face (nor counted only among "no face found")."""
    root = tmp_path / "web"
    _folder(root, n=2)
    Image.new("L", (1, 1), 128).save(root / "happy" / "dot.png")
    Image.new("L", (40, 9), 128).save(root / "happy" / "strip.png")
    p = prepare(read_dataset("folder", root, name="web"), FaceOptions(detector=detector), 16, "gray", tmp_path / "c")
    skipped = {Path(s["file"]).name: s["reason"] for s in p.report["skipped"]}
    assert set(skipped) == {"dot.png", "strip.png"} and "40x9 pixels: too small to hold a face" in skipped["strip.png"]
    assert not {Path(f).name for f in p.report["no_face_files"]} & set(skipped)
    assert p.report["prepared"] == 2 and {Path(s.path).name for s in p.samples} == {"im0.png", "im1.png"}


def test_prepare_refuses_size_0(tmp_path):
    from fer.errors import ConfigError

    with pytest.raises(ConfigError, match="size=0: expected a positive image size"):
        prepare(_folder(tmp_path / "faces"), FaceOptions(detector="none"), 0, "gray", tmp_path / "c")
