"""Readers and `python -m fer.data summary` on small native trees that reproduce each download's quirks."""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from fer.classes import CLASSES, class_index
from fer.data.__main__ import main
from fer.data.catalogue import read_dataset
from fer.data.readers import READERS
from fer.errors import DatasetLayoutError
from tests.helpers.data_trees import (
    JAFFE_FILES,
    ckplus_tree,
    face,
    fer2013_csv,
    folder_tree,
    jaffe_tree,
    kdef_tree,
    write,
)

ROOT = Path(__file__).resolve().parents[3]
SUBJECTS = (("F", 1), ("M", 2), ("F", 31), ("M", 31))


@pytest.fixture(scope="module")
def kdef_root(tmp_path_factory) -> Path:
    return kdef_tree(tmp_path_factory.mktemp("kdef"), subjects=SUBJECTS)


def _summary(capsys, *argv) -> tuple[int, dict | None, str]:
    rc = main(["summary", *map(str, argv)])
    out, err = capsys.readouterr()
    return rc, (json.loads(out) if rc == 0 else None), err


def test_registry_has_every_reader():
    assert {"kdef", "ckplus", "jaffe", "folder", "fer2013"} <= set(READERS)


# ------------------------------------------------------------------------------------------------ KDEF


def test_kdef_frontal_default_merges_series_and_reads_lowercase(kdef_root):
    samples = read_dataset("kdef", kdef_root)
    assert len(samples) == len(SUBJECTS) * 2 * 7  # frontal only, both series
    assert {s.meta["angle"] for s in samples} == {"S"}
    subjects = Counter(s.subject for s in samples)
    assert subjects == {"kdef:F01": 14, "kdef:M02": 14, "kdef:F31": 14, "kdef:M31": 14}
    assert {s.meta["series"] for s in samples if s.subject == "kdef:F01"} == {"A", "B"}
    assert sum(s.path.endswith(".jpg") for s in samples) == len(SUBJECTS) * 7  # series B has lowercase .jpg
    assert Counter(CLASSES[s.label] for s in samples) == dict.fromkeys(CLASSES, 8)
    assert not any("AKDEF" in Path(s.path).parts for s in samples)


def test_kdef_misnamed_files_are_mapped(kdef_root):
    samples = read_dataset("kdef", kdef_root, angles="all")
    assert len(samples) == len(SUBJECTS) * 2 * 7 * 5
    by_name = {Path(s.path).name: s for s in samples}
    assert by_name["AF31V.JPG"].label == class_index("sad") and by_name["AF31V.JPG"].meta["angle"] == "HL"
    assert by_name["AM31H.JPG"].label == class_index("surprise") and by_name["AM31H.JPG"].subject == "kdef:M31"
    assert len(read_dataset("kdef", kdef_root, angles=["HL"])) == len(SUBJECTS) * 2 * 7


def test_kdef_unparseable_names_one_warning(kdef_root, caplog):
    with caplog.at_level(logging.WARNING):
        samples = read_dataset("kdef", kdef_root)
    warnings = [r.getMessage() for r in caplog.records if "unparseable" in r.getMessage()]
    assert len(warnings) == 1
    assert "AF01XXS.JPG" in warnings[0] and "notes.JPG" in warnings[0]
    assert sorted(Path(d["file"]).name for d in samples.skipped) == ["AF01XXS.JPG", "notes.JPG"]


def test_kdef_roots_zip_top_kdef_folder_and_flat(kdef_root, tmp_path):
    n = len(read_dataset("kdef", kdef_root))
    assert len(read_dataset("kdef", kdef_root / "KDEF")) == n
    assert len(read_dataset("kdef", kdef_root.parent)) == n  # the folder the zip was unpacked into
    flat = tmp_path / "flat"
    flat.mkdir()
    for p in (kdef_root / "KDEF").rglob("*"):
        if p.is_file() and p.suffix.lower() == ".jpg":
            shutil.copy(p, flat / p.name)
    samples = read_dataset("kdef", flat)
    assert len(samples) == n and len({s.subject for s in samples}) == len(SUBJECTS)


def test_kdef_wrong_roots(kdef_root, tmp_path):
    with pytest.raises(DatasetLayoutError, match="one level too low.*point the root at its parent"):
        read_dataset("kdef", kdef_root / "KDEF" / "AF01")
    high = tmp_path / "downloads" / "unpacked"
    shutil.copytree(kdef_root, high / "KDEF_and_AKDEF")
    with pytest.raises(
        DatasetLayoutError, match=r"KDEF images were found in .*KDEF_and_AKDEF/KDEF: point the root there"
    ):
        read_dataset("kdef", tmp_path / "downloads")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetLayoutError, match="empty folder"):
        read_dataset("kdef", tmp_path / "empty")
    with pytest.raises(DatasetLayoutError, match="does not exist"):
        read_dataset("kdef", tmp_path / "missing")
    with pytest.raises(ValueError, match="angles"):
        read_dataset("kdef", kdef_root, angles=["UP"])


# ------------------------------------------------------------------------------------------------ CK+


@pytest.fixture(scope="module")
def ck_root(tmp_path_factory) -> Path:
    return ckplus_tree(tmp_path_factory.mktemp("ck"), nested_labels=True)


def test_ckplus_default_selection_nested_labels(ck_root):
    samples = read_dataset("ckplus", ck_root)
    by_seq = {}
    for s in samples:
        by_seq.setdefault(s.meta["sequence"], []).append((Path(s.path).name, CLASSES[s.label]))
    # contempt (S010/001), unlabelled (S010/002), empty label folder (S010/003), empty label file (S011/001,
    # listed as skipped): out
    assert by_seq == {
        "S005/001": [("S005_001_00000006.png", "disgust"), ("S005_001_00000001.png", "neutral")],
        "S005/002": [("S005_002_00000006.png", "happy"), ("S005_002_00000001.png", "neutral")],
        "S011/002": [("S011_002_00000006.png", "surprise"), ("S011_002_00000001.png", "neutral")],
    }
    assert {s.subject for s in samples} == {"ckplus:S005", "ckplus:S011"}
    assert all(s.meta["gray"] for s in samples)
    assert not any(".DS_Store" in s.path for s in samples)


def test_ckplus_options(ck_root, tmp_path):
    three = read_dataset("ckplus", ck_root, peak_frames=3)
    assert Counter(CLASSES[s.label] for s in three) == {"disgust": 3, "happy": 3, "surprise": 3, "neutral": 3}
    per_subject = read_dataset("ckplus", ck_root, neutral="per_subject")
    assert sum(s.label == class_index("neutral") for s in per_subject) == 2  # S005 and S011
    assert not any(s.label == class_index("neutral") for s in read_dataset("ckplus", ck_root, neutral="none"))
    with_contempt = read_dataset("ckplus", ck_root, keep_contempt=True)
    contempt = [s for s in with_contempt if s.label == len(CLASSES)]
    assert [Path(s.path).name for s in contempt] == ["S010_001_00000006.png"]
    flat_labels = ckplus_tree(tmp_path, nested_labels=False)
    assert len(read_dataset("ckplus", flat_labels)) == len(read_dataset("ckplus", ck_root))


def test_ckplus_unknown_code_is_skipped_and_listed(tmp_path):
    ck = ckplus_tree(tmp_path)
    bad = next((ck / "Emotion_labels" / "Emotion" / "S005" / "002").glob("*_emotion.txt"))
    bad.write_text("   9.0000000e+00\n")
    samples = read_dataset("ckplus", ck)
    empty = next((ck / "Emotion_labels" / "Emotion" / "S011" / "001").glob("*_emotion.txt"))
    assert [d["file"] for d in samples.skipped] == [str(bad), str(empty)]  # the fixture's empty label file too
    assert "unknown CK+ emotion code 9" in samples.skipped[0]["reason"]
    assert "S005/002" not in {s.meta["sequence"] for s in samples}


def test_ckplus_empty_label_file_is_a_bad_file_and_listed(ck_root):
    """An unlabelled sequence has no label file; an empty one is damaged: skipped with a reason, never silently."""
    skipped = read_dataset("ckplus", ck_root).skipped
    empty = [d for d in skipped if "S011_001" in Path(d["file"]).name]
    assert len(empty) == 1 and "empty CK+ emotion label file" in empty[0]["reason"]
    assert not [d for d in skipped if "S010_002" in d["file"] or "S010_003" in d["file"]]  # unlabelled: not bad


def test_ckplus_wrong_roots(ck_root, tmp_path):
    for low in (ck_root / "cohn-kanade-images", ck_root / "cohn-kanade-images" / "S005"):
        with pytest.raises(DatasetLayoutError, match="one level too low"):
            read_dataset("ckplus", low)
    only_images = tmp_path / "ck"
    shutil.copytree(ck_root / "cohn-kanade-images", only_images / "cohn-kanade-images")
    with pytest.raises(DatasetLayoutError, match="no Emotion folder"):
        read_dataset("ckplus", only_images)
    assert len(read_dataset("ckplus", ck_root.parent)) == 6  # one level above: still found (up to 3 levels)


# ------------------------------------------------------------------------------------------------ JAFFE


def test_jaffe_dots_gaps_and_non_tiff(tmp_path, caplog):
    root = jaffe_tree(tmp_path)
    with caplog.at_level(logging.WARNING):
        samples = read_dataset("jaffe", root)
    assert sorted(Path(s.path).name for s in samples) == sorted(f"{n}.tiff" for n in JAFFE_FILES)
    assert {s.subject for s in samples} == {"jaffe:KA", "jaffe:KL", "jaffe:KM", "jaffe:MK"}
    assert {s.meta["number"] for s in samples if s.subject == "jaffe:KL"} == {172, 176, 168, 173}
    assert Counter(CLASSES[s.label] for s in samples)["fear"] == 1  # FE is fear
    assert sorted(Path(d["file"]).name for d in samples.skipped) == ["KA.XX1.41.tiff", "badname.tiff"]
    assert any("KA.XX1.41.tiff" in r.getMessage() and "unknown expression" in r.getMessage() for r in caplog.records)
    assert len(read_dataset("jaffe", tmp_path)) == len(samples)  # the folder above the TIFFs
    (tmp_path / "nothing").mkdir()
    (tmp_path / "nothing" / "README").write_text("x")
    with pytest.raises(DatasetLayoutError, match="no .tiff files"):
        read_dataset("jaffe", tmp_path / "nothing")


# ------------------------------------------------------------------------------------------------ folders


def test_folder_names_codes_and_wrong_roots(tmp_path, caplog):
    web = folder_tree(tmp_path, "web")
    with caplog.at_level(logging.WARNING):
        samples = read_dataset("folder", web, name="web")
    assert Counter(CLASSES[s.label] for s in samples) == {"angry": 2, "happy": 2, "sad": 2}
    assert len({s.subject for s in samples}) == 6 and all(s.origin == "web" for s in samples)
    assert any("happy_old_do_not_use" in r.getMessage() for r in caplog.records)
    with pytest.raises(DatasetLayoutError, match="one level too low"):
        read_dataset("folder", web / "angry")
    with pytest.raises(DatasetLayoutError, match=r"per-emotion folders were found in .*web"):
        read_dataset("folder", tmp_path)


def test_pfa_keeps_source_kdef_subject(tmp_path):
    pfa = folder_tree(tmp_path, "pfa")
    samples = read_dataset(
        "folder", pfa, name="pfa", origin="pfa", subject_prefix="kdef", subject_pattern=r"[AB](?P<subject>[FM]\d{2})"
    )
    assert Counter(s.subject for s in samples) == {"kdef:F01": 4, "kdef:M02": 4}  # series A and B merged
    assert all(s.origin == "pfa" for s in samples)
    assert Counter(CLASSES[s.label] for s in samples) == {"angry": 2, "happy": 4, "surprise": 2}


def test_folder_label_pattern_for_identity_folders(tmp_path):
    d = tmp_path / "pfa_download"
    for ident in ("identity1", "identity2"):
        for stem in ("AF01ANS", "BM02HAS", "AF01XXS"):
            write(d / ident / f"{stem}.jpg", face())
    samples = read_dataset(
        "folder",
        d,
        name="pfa",
        origin="pfa",
        subject_prefix="kdef",
        subject_pattern=r"[AB](?P<subject>[FM]\d{2})",
        label_pattern=r"^[AB][FM]\d{2}(?P<label>[A-Z]{2})",
    )
    assert sorted((s.subject, CLASSES[s.label], s.meta["folder"]) for s in samples) == [
        ("kdef:F01", "angry", "identity1"),
        ("kdef:F01", "angry", "identity2"),
        ("kdef:M02", "happy", "identity1"),
        ("kdef:M02", "happy", "identity2"),
    ]
    assert sorted(Path(x["file"]).name for x in samples.skipped) == ["AF01XXS.jpg"] * 2
    assert "unknown expression code 'XX'" in samples.skipped[0]["reason"]


# ------------------------------------------------------------------------------------------------ FER2013


def test_fer2013_csv_class_order_usage_and_bad_rows(tmp_path):
    csv_path = fer2013_csv(tmp_path / "fer2013")
    decode = tmp_path / "decoded"
    samples = read_dataset("fer2013", tmp_path / "fer2013", decode_dir=decode)
    assert len(samples) == 14 and len({s.subject for s in samples}) == 14
    by_row = {s.meta["row"]: s for s in samples}
    # CSV order: 0 angry 1 disgust 2 fear 3 happy 4 sad 5 surprise 6 neutral (row i has emotion i % 7)
    assert [CLASSES[by_row[i + 2].label] for i in range(7)] == [
        "angry",
        "disgust",
        "fear",
        "happy",
        "sad",
        "surprise",
        "neutral",
    ]
    img = cv2.imread(by_row[3].path, cv2.IMREAD_UNCHANGED)
    assert img.shape == (48, 48) and np.array_equal(img.ravel(), (np.arange(48 * 48) * 2) % 256)
    assert Counter(s.meta["usage"] for s in samples) == {"Training": 5, "PublicTest": 5, "PrivateTest": 4}
    assert [d["file"] for d in samples.skipped] == [f"{csv_path}:16", f"{csv_path}:17"]
    assert "unknown emotion code 9" in samples.skipped[1]["reason"]
    index = next(decode.glob("*/index.json"))
    stamp = index.stat().st_mtime_ns
    train = read_dataset("fer2013", csv_path, decode_dir=decode, usage="training")  # the CSV itself as root
    assert len(train) == 5 and index.stat().st_mtime_ns == stamp  # decoded once
    assert not list(decode.glob("*.tmp*"))


def test_fer2013_csv_with_every_row_bad_says_why_by_reason(tmp_path):
    root = tmp_path / "fer2013"
    root.mkdir()
    rows = ["3,1 2 3,Training"] * 3 + ["9," + " ".join(["0"] * 2304) + ",Training"]
    (root / "fer2013.csv").write_text("\n".join(["emotion,pixels,Usage", *rows]) + "\n")
    with pytest.raises(DatasetLayoutError) as err:
        read_dataset("fer2013", root, decode_dir=tmp_path / "decoded")
    msg = str(err.value)
    assert "every row was rejected (4 rows: 3 x bad row (3 pixel values, expected 2304" in msg
    assert "1 x bad row (unknown emotion code 9" in msg and "usage in" not in msg


def test_fer2013_folder_form_and_wrong_roots(tmp_path):
    root = tmp_path / "fer"
    for split, n in (("train", 3), ("test", 1)):
        for cls in CLASSES:
            for k in range(n):
                write(root / split / cls / f"im{k}.jpg", face(48, 48, seed=k, gray=True))
    samples = read_dataset("fer2013", root)
    assert len(samples) == 7 * 4 and Counter(s.meta["usage"] for s in samples) == {"train": 21, "test": 7}
    assert len(read_dataset("fer2013", root, usage=["test"])) == 7
    with pytest.raises(DatasetLayoutError, match="one level too low"):
        read_dataset("fer2013", root / "train")
    with pytest.raises(DatasetLayoutError, match="found in .*fer: point the root there"):
        read_dataset("fer2013", tmp_path)


# ------------------------------------------------------------------------------------------------ CLI


def test_summary_cli(kdef_root, ck_root, tmp_path, capsys):
    rc, out, _ = _summary(capsys, "kdef", kdef_root)
    assert rc == 0 and out["images"] == 56 and out["subjects"] == 4
    assert out["per_class"] == dict.fromkeys(CLASSES, 8)
    rc, out, _ = _summary(capsys, "ckplus", ck_root, "-o", "keep_contempt=true")
    assert rc == 0 and out["per_class"]["contempt"] == 1 and out["subjects"] == 3
    rc, out, _ = _summary(capsys, "fer2013", fer2013_csv(tmp_path / "f"), "--cache-dir", tmp_path / "c")
    assert rc == 0 and out["usage"] == {"Training": 5, "PublicTest": 5, "PrivateTest": 4}
    rc, out, err = _summary(capsys, "ckplus", ck_root / "cohn-kanade-images")
    assert rc == 2 and out is None and "one level too low" in err


def test_summary_cli_wrong_root_no_traceback(tmp_path):
    (tmp_path / "empty").mkdir()
    for args in (["kdef", str(tmp_path / "empty")], ["jaffe", str(tmp_path / "missing")]):
        r = subprocess.run(
            [sys.executable, "-m", "fer.data", "summary", *args], capture_output=True, text=True, cwd=ROOT
        )
        assert r.returncode == 2 and r.stdout == ""
        assert "Traceback" not in r.stderr and r.stderr.startswith("error: ") and args[1] in r.stderr
        assert "point the" in r.stderr  # the remedy


def test_summary_check_images_reports_black_placeholders(tmp_path, capsys):
    root = kdef_tree(tmp_path, subjects=(("F", 1),), angles=("S",), quirks=False)
    black = root / "KDEF" / "AF01" / "AF01HAS.JPG"
    write(black, np.zeros((76, 56, 3), np.uint8))
    (root / "KDEF" / "BF01" / "BF01SAS.JPG").write_bytes(b"")
    rc, out, _ = _summary(capsys, "kdef", root, "--check-images")
    assert rc == 0 and out["black"] == [str(black)]
    assert [Path(d["file"]).name for d in out["unreadable"]] == ["BF01SAS.JPG"]
    assert "zero-byte" in out["unreadable"][0]["reason"]


def test_empty_folders_are_clear_errors(tmp_path):
    for cls in ("angry", "happy"):
        (tmp_path / "web" / cls).mkdir(parents=True)
    (tmp_path / "web" / "happy" / ".DS_Store").write_bytes(b"\0")
    with pytest.raises(DatasetLayoutError, match=r"web root .*web: no usable images"):
        read_dataset("folder", tmp_path / "web", name="web")
    (tmp_path / "ck" / "cohn-kanade-images").mkdir(parents=True)
    (tmp_path / "ck" / "Emotion").mkdir()
    with pytest.raises(DatasetLayoutError, match="no usable labelled sequences"):
        read_dataset("ckplus", tmp_path / "ck")
    (tmp_path / "only_junk").mkdir()
    (tmp_path / "only_junk" / ".DS_Store").write_bytes(b"\0")
    for reader in ("kdef", "jaffe", "fer2013", "folder"):
        with pytest.raises(DatasetLayoutError, match="empty folder"):
            read_dataset(reader, tmp_path / "only_junk")
