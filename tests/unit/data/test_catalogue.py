"""The dataset catalogue and the new readers: option checks, preflight, RAF-DB, AffectNet, folder splits, metadata,
bad records skipped and reported, the `summary` counts on the native trees."""

from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path

import pytest

from fer.classes import CLASSES
from fer.data.__main__ import main as data_cli
from fer.data.catalogue import MissingSourceError, Source, entry, preflight, read_dataset
from fer.errors import ConfigError, DatasetLayoutError, UserError
from tests.conftest import compose_cfg
from tests.helpers.data_trees import (
    affectnet_csv_tree,
    affectnet_npy_tree,
    ckplus_tree,
    face,
    fer2013_csv,
    fer2013_folders,
    folder_split_tree,
    jaffe_tree,
    kdef_tree,
    rafdb_tree,
    write,
)


def _summary(capsys, *args) -> dict:
    assert data_cli(["summary", *map(str, args)]) == 0
    return json.loads(capsys.readouterr().out)


# ------------------------------------------------------------------------------------------ the catalogue
def test_unknown_reader_option_is_refused_with_the_accepted_names(tmp_path):
    with pytest.raises(ConfigError, match=r"sources.kdef.options: unknown option\(s\) \['angle'\].*accepted: angles"):
        Source.from_config("kdef", {"reader": "kdef", "root": str(tmp_path), "options": {"angle": ["S"]}})
    with pytest.raises(ConfigError, match="keep_contempt, neutral, peak_frames"):
        read_dataset("ckplus", tmp_path, peak_frame=3)
    with pytest.raises(ConfigError, match="reader='kdeff'"):
        Source.from_config("x", {"reader": "kdeff", "root": str(tmp_path)})


def test_every_catalogue_entry_is_a_valid_source():
    cfg = compose_cfg([])
    for name in cfg.sources:
        source = entry(cfg.sources, name)
        assert source.name == name and str(source.root) == str(cfg.sources[name].root)
    with pytest.raises(ConfigError, match=r"'kdf' is not a dataset of the catalogue; known: .*ckplus"):
        entry(cfg.sources, "kdf", "protocol.tests")


def test_preflight_names_every_missing_source_with_its_path_and_remedy(tmp_path):
    kdef = Source.from_config("kdef", {"reader": "kdef", "root": str(kdef_tree(tmp_path))})
    gan = Source.from_config("gan_q", {"reader": "folder", "root": str(tmp_path / "gan"), "produced_by": "run gan"})
    rafdb = Source.from_config("rafdb", {"reader": "rafdb", "root": str(tmp_path / "raf")})
    preflight({"training source": [kdef]})  # present: nothing to say
    with pytest.raises(MissingSourceError) as err:
        preflight({"training source": [kdef, gan], "test set": [rafdb]})
    msg = str(err.value)
    assert isinstance(err.value, UserError) and msg.startswith("2 data source(s)")
    assert f"training source gan_q: {tmp_path / 'gan'} does not exist; run gan" in msg
    assert f"test set rafdb: {tmp_path / 'raf'} does not exist; point the rafdb root" in msg


# ---------------------------------------------------------------------------------------------- RAF-DB
def test_rafdb_labels_splits_attributes_and_bad_lines(tmp_path, caplog):
    root = rafdb_tree(tmp_path)
    with caplog.at_level(logging.WARNING):
        samples = read_dataset("rafdb", root)
    assert len(samples) == 7 * 6 and Counter(s.meta["split"] for s in samples) == {"train": 28, "test": 14}
    assert all(Path(s.path).name.endswith("_aligned.jpg") for s in samples)
    first = samples[0]  # train_00001.jpg, code 1 = surprise in RAF's order
    assert first.meta["name"] == "train_00001.jpg" and CLASSES[first.label] == "surprise"
    by_name = {s.meta["name"]: CLASSES[s.label] for s in samples}
    assert (by_name["train_00004.jpg"], by_name["train_00005.jpg"], by_name["test_00029.jpg"]) == (
        "surprise",
        "fear",
        "surprise",
    )
    assert first.meta["gender"] == "female" and first.meta["race"] == "african_american" and first.meta["age"] == "4-19"
    assert len({s.subject for s in samples}) == len(samples)  # no subject ids: one per image
    reasons = sorted(d["reason"].split(" (")[0].split(",")[0] for d in samples.skipped)
    assert reasons == ["bad line 'garbage line here'", "missing image", "unknown RAF-DB code 8"]
    warning = next(r.getMessage() for r in caplog.records if "RAF-DB" in r.getMessage())
    assert "skipped 3 item(s)" in warning and "1 missing image" in warning
    original = read_dataset("rafdb", root, images="original")
    assert [Path(s.path).parent.name for s in original[:1]] == ["original"] and len(original) == len(samples)


def test_rafdb_split_folders_use_rafs_codes_and_attributes_are_optional(tmp_path, capsys):
    root = tmp_path / "raf_split"
    basic = rafdb_tree(tmp_path, per_class=1, attributes=False)
    for line in (basic / "EmoLabel" / "list_patition_label.txt").read_text().split("\n")[:21]:
        name, code = line.split()
        target = root / name.split("_")[0] / code / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((basic / "Image" / "original" / name).read_bytes())
    samples = read_dataset("rafdb", root)
    assert len(samples) == 21 and Counter(s.meta["split"] for s in samples) == {"train": 14, "test": 7}
    assert {CLASSES[s.label] for s in samples if f"{Path(s.path).parent.name}" == "6"} == {"angry"}  # RAF 6 = anger
    assert "gender" not in samples[0].meta
    out = _summary(capsys, "rafdb", basic)
    assert out["images"] == 21 and out["per_class"]["surprise"] == 3 and out["splits"] == {"train": 14, "test": 7}


# ------------------------------------------------------------------------------------------- AffectNet
def test_affectnet_csv_form_drops_contempt_and_non_emotions_and_keeps_the_box(tmp_path, capsys):
    root = affectnet_csv_tree(tmp_path)
    samples = read_dataset("affectnet", root)
    assert len(samples) == 7 * (4 + 2)
    assert Counter(s.meta["split"] for s in samples) == {"train": 28, "test": 14}  # validation.csv is the test set
    happy = next(s for s in samples if CLASSES[s.label] == "happy")
    assert happy.meta["box"] == [8, 8, 48, 48] and happy.meta["usage"] in ("training", "validation")
    assert [d["reason"].split(" (")[0] for d in samples.skipped] == ["bad row"] * 2  # one short row per CSV
    assert len(read_dataset("affectnet", root, keep_contempt=True)) == 8 * 6
    out = _summary(capsys, "affectnet", root)
    assert out["images"] == 42 and out["per_class"]["angry"] == 6 and out["splits"] == {"train": 28, "test": 14}


def test_affectnet_npy_form(tmp_path):
    samples = read_dataset("affectnet", affectnet_npy_tree(tmp_path))
    assert len(samples) == 7 * 6 and Counter(s.meta["split"] for s in samples) == {"train": 28, "test": 14}
    zero = next(s for s in samples if Path(s.path).name == "0.jpg")
    assert CLASSES[zero.label] == "neutral" and zero.meta["usage"] == "training"


# ------------------------------------------------------------------------------ folders, FER2013, metadata
def test_folder_split_tree_is_an_official_split_with_class_aliases(tmp_path, caplog, capsys):
    root = folder_split_tree(tmp_path)
    with caplog.at_level(logging.WARNING):
        samples = read_dataset("folder", root, origin="original")
    assert Counter(s.meta["split"] for s in samples) == {"train": 24, "val": 12, "test": 12}
    assert {CLASSES[s.label] for s in samples} == {"angry", "happy", "neutral", "surprise"}
    assert any("train/misc" in r.getMessage() and "name no emotion" in r.getMessage() for r in caplog.records)
    out = _summary(capsys, "folder", root)
    assert out["images"] == out["subjects"] == 48 and out["per_class"]["neutral"] == 12
    assert out["splits"] == {"train": 24, "val": 12, "test": 12}


def test_fer2013_splits_and_a_row_with_too_few_fields(tmp_path):
    path = fer2013_csv(tmp_path / "csv")
    with open(path, "a") as fh:
        fh.write("3\n")  # one field only: skipped and reported, never an AttributeError
    samples = read_dataset("fer2013", path, decode_dir=tmp_path / "png")
    assert {(s.meta["usage"], s.meta["split"]) for s in samples} == {
        ("Training", "train"),
        ("PublicTest", "val"),
        ("PrivateTest", "test"),
    }
    assert any("wrong number of fields" in d["reason"] for d in samples.skipped) and len(samples.skipped) == 3
    folders = read_dataset("fer2013", fer2013_folders(tmp_path))
    assert Counter(s.meta["split"] for s in folders) == {"train": 24, "test": 12}


def test_kdef_sex_and_jaffe_posers_are_metadata(tmp_path):
    kdef = read_dataset("kdef", kdef_tree(tmp_path, subjects=(("F", 1), ("M", 2)), angles=("S",), quirks=False))
    assert {(s.subject, s.meta["sex"]) for s in kdef} == {("kdef:F01", "F"), ("kdef:M02", "M")}
    assert {s.meta["sex"] for s in read_dataset("jaffe", jaffe_tree(tmp_path))} == {"F"}


def test_ckplus_fractional_label_is_refused_and_two_copies_are_named(tmp_path):
    ck = ckplus_tree(tmp_path / "a", nested_labels=False)
    label = ck / "Emotion" / "S005" / "001" / "S005_001_00000006_emotion.txt"
    label.write_text("   3.5000000e+00\n")
    samples = read_dataset("ckplus", ck)
    reasons = {d["file"]: d["reason"] for d in samples.skipped}
    empty = ck / "Emotion" / "S011" / "001" / "S011_001_00000006_emotion.txt"  # the tree's empty label file
    assert set(reasons) == {str(label), str(empty)} and "not a whole number" in reasons[str(label)]
    assert not any(s.meta["sequence"] == "S005/001" for s in samples)  # never truncated to 3 (disgust)
    top = tmp_path / "two"
    ckplus_tree(top / "copy1", nested_labels=False)
    ckplus_tree(top / "copy2", nested_labels=False)
    with pytest.raises(DatasetLayoutError, match=r"copy1/CK\+/cohn-kanade-images.*copy2/CK\+/cohn-kanade-images"):
        read_dataset("ckplus", top)


def test_skipped_files_print_as_counts_and_the_first_few(tmp_path, caplog):
    root = tmp_path / "web"
    for i in range(12):
        write(root / "happy" / f"x{i:02d}.png", face(32, 32, seed=i))
    for i in range(3):
        write(root / "angry" / f"A{i}.png", face(32, 32, seed=i))
        write(root / "angry" / f"nosubject{i}.png", face(32, 32, seed=i))
    with caplog.at_level(logging.WARNING):
        samples = read_dataset("folder", root, subject_pattern=r"^(?P<subject>A\d)")
    assert len(samples) == 3 and len(samples.skipped) == 15
    (warning,) = [r.getMessage() for r in caplog.records if "skipped 15" in r.getMessage()]
    assert "15 no subject in the file name" in warning and "10 more" in warning
    assert warning.count(".png") == 5  # the first few, not one line per file
