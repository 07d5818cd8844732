"""Making a study and inviting raters: what is picked, how it is blinded, and every mistake one clear line."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import cv2
import pytest

from fer.classes import CLASSES
from fer.study.__main__ import main
from fer.study.create import create_study, invite
from fer.study.db import Study, digest
from tests.helpers.cli import run_cli as run_main
from tests.unit.study.conftest import write_class_images


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    """`python -m fer.study ...` in this process, as `python -m` runs it: (exit status, stdout, stderr)."""
    code = run_main(main, argv)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def kdef_and_gan(tmp_path_factory) -> dict[str, Path]:
    """Synthetic KDEF (4 subjects x 2 series) and a GAN-like samples folder whose manifest says that kdef:F01 and
    kdef:M01 trained it (the format `generate.py task=gan` writes)."""
    from fer.synthetic import render

    root = tmp_path_factory.mktemp("kdef_gan")
    render("kdef", root / "synthetic" / "kdef", subjects=4, angles=("S",))
    gan = write_class_images(root / "gan", 3, 64, seed=5, classes=("happy", "sad"))
    (gan / "happy" / "stray.png").write_bytes((gan / "happy" / "img_00.png").read_bytes())  # not in the manifest
    manifest = {
        "classes": {
            c: {
                "files": [f"{c}/img_{i:02d}.png" for i in range(3)],
                "image_size": 64,
                "color": "gray",
                "seen_subjects": ["kdef:F01", "kdef:M01"],
            }
            for c in ("happy", "sad")
        },
        "origin": "gan",
    }
    (gan / "manifest.json").write_text(json.dumps(manifest))
    return {"synthetic": root / "synthetic", "gan": gan}


def synthetic_kdef(paths) -> list[str]:
    subjects = "++sources.kdef.synthetic_options.subjects=4"
    return ["sources=synthetic", f"paths.synthetic_dir={paths['synthetic']}", subjects]


def test_study_from_gan_samples_and_a_catalogue_source(tmp_path, kdef_and_gan):
    out = tmp_path / "study"
    summary = create_study(
        out, kdef_and_gan["gan"] / "manifest.json", "kdef", per_class=2, seed=3, overrides=synthetic_kdef(kdef_and_gan)
    )
    assert summary["classes"] == ["happy", "sad"] and summary["items"] == 8
    assert summary["real_images_excluded_as_seen_by_the_gan"] == 2 * 2 * 7  # F01, M01: 2 series x 7 classes each
    study = Study.open(out)
    items = study.items()
    assert Counter((i["kind"], i["label"]) for i in items) == {
        (k, c): 2 for k in ("real", "generated") for c in ("happy", "sad")
    }
    real = [i for i in items if i["kind"] == "real"]
    for c in ("happy", "sad"):  # unseen subjects only, spread over both of them
        assert sorted(i["subject"] for i in real if i["label"] == c) == ["kdef:F02", "kdef:M02"]
    generated = [i for i in items if i["kind"] == "generated"]
    assert all("stray" not in i["origin_file"] for i in generated)  # only the manifest's files
    for it in items:  # blinded: a random hex id, PNG, the generated size and colour, nothing of the origin
        assert len(it["id"]) == 16 and int(it["id"], 16) >= 0 and it["file"] == f"images/{it['id']}.png"
        img = cv2.imread(str(out / it["file"]), cv2.IMREAD_UNCHANGED)
        assert img.shape == (64, 64) and img.dtype == "uint8"
    assert sorted(p.name for p in (out / "images").iterdir()) == sorted(f"{i['id']}.png" for i in items)
    assert study.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    manifest = json.loads((out / "manifest.json").read_text())
    assert {i["id"]: i["origin_file"] for i in manifest["items"]} == {i["id"]: i["origin_file"] for i in items}
    assert manifest["study"]["seen_subjects_excluded"] is True and manifest["study"]["real"] == "kdef"
    study.close()


def test_seen_subjects_can_be_allowed(tmp_path, kdef_and_gan):
    create_study(
        tmp_path / "s",
        kdef_and_gan["gan"],
        "kdef",
        per_class=3,
        allow_seen_subjects=True,
        overrides=synthetic_kdef(kdef_and_gan),
    )
    real = [i for i in Study.open(tmp_path / "s").items() if i["kind"] == "real"]
    for c in ("happy", "sad"):  # 3 of the 4 subjects: one at least trained the GAN
        subjects = [i["subject"] for i in real if i["label"] == c]
        assert len(set(subjects)) == 3 and {"kdef:F01", "kdef:M01"} & set(subjects)


def test_plain_folders_compare_any_two_sources(study_dir, image_folders):
    study = Study.open(study_dir)
    assert study.meta["image_size"] == 32 and study.meta["color"] == "gray"  # the first generated image's
    assert study.meta["classes"] == list(CLASSES) and len(study.items()) == 28
    assert {cv2.imread(str(study_dir / i["file"]), cv2.IMREAD_UNCHANGED).shape for i in study.items()} == {(32, 32)}


def test_too_few_faces_names_the_shortfall_and_writes_nothing(tmp_path, kdef_and_gan, capsys):
    out = tmp_path / "study"
    argv = ["create", str(out), "--generated", str(kdef_and_gan["gan"]), "--real", "kdef", "--per-class", "5"]
    argv += [a for o in synthetic_kdef(kdef_and_gan) for a in ("--set", o)]
    code, _, err = run_cli(argv, capsys)
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: not enough faces")
    assert "generated happy: 3 usable of 5 needed" in err and "real sad: 4 usable of 5 needed (28 real" in err
    assert "--allow-seen-subjects" in err
    assert not out.exists() and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "case, expected",
    [
        ("generated_empty", "is an empty folder; give --generated a GAN samples folder"),
        ("generated_no_images", "no usable images"),
        ("generated_missing", "no such folder"),
        ("unknown_catalogue_name", "'nosuch' is not a dataset of the catalogue"),
        ("real_folder_missing", "no such folder"),
        ("out_not_empty", "already exists and is not empty"),
        ("bad_override", "--set"),
        ("bad_manifest", "not a GAN samples manifest"),
    ],
)
def test_create_mistakes_are_one_line_and_exit_2(tmp_path, image_folders, capsys, case, expected):
    out = tmp_path / "out" / "study"
    generated, real, extra = str(image_folders["generated"]), str(image_folders["real"]), ["--set", "faces=none"]
    if case == "generated_empty":
        generated = str(tmp_path / "empty")
        Path(generated).mkdir()
    elif case == "generated_no_images":
        generated = str(tmp_path / "noimg")
        (Path(generated) / "happy").mkdir(parents=True)
        (Path(generated) / "happy" / "notes.txt").write_text("no image here")
    elif case == "generated_missing":
        generated = str(tmp_path / "nowhere")
    elif case == "unknown_catalogue_name":
        real = "nosuch"
    elif case == "real_folder_missing":
        real = str(tmp_path / "nowhere")
    elif case == "out_not_empty":
        out.mkdir(parents=True)
        (out / "keep.txt").write_text("mine")
    elif case == "bad_override":
        extra = ["--set", "faces=nosuchdetector"]
    elif case == "bad_manifest":
        generated = str(tmp_path / "gan")
        write_class_images(Path(generated), 2, 32, seed=0, classes=("happy",))
        (Path(generated) / "manifest.json").write_text('{"classes": {"happy": {"files": "x"}}}')
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    code, out_text, err = run_cli(["create", str(out), "--generated", generated, "--real", real, *extra], capsys)
    assert code == 2 and out_text == ""
    assert err.startswith("error: ") and err.count("\n") == 1 and expected in err, err
    assert "Traceback" not in err
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before  # nothing written


@pytest.mark.parametrize("command", ["invite", "serve", "report"])
def test_a_folder_that_is_not_a_study(tmp_path, capsys, command):
    (tmp_path / "notes.txt").write_text("not a study")
    extra = ["--rater", "ann"] if command == "invite" else []
    code, _, err = run_cli([command, str(tmp_path), *extra], capsys)
    assert code == 2 and err.count("\n") == 1 and "is not a study folder" in err
    (tmp_path / "study.sqlite").write_bytes(b"this is not a database at all, just bytes" * 40)
    code, _, err = run_cli([command, str(tmp_path), *extra], capsys)
    assert code == 2 and err.count("\n") == 1 and "is not a study database" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "study.sqlite"]


def test_invite_prints_a_link_whose_token_is_stored_hashed(study_dir, capsys):
    code, out, _ = run_cli(["invite", str(study_dir), "--rater", "ann", "--url", "http://lab.example:9000/"], capsys)
    assert code == 0
    link = out.strip()
    assert link.startswith("http://lab.example:9000/r/")
    token = link.rsplit("/", 1)[1]
    assert len(token) >= 32
    raw = (study_dir / "study.sqlite").read_bytes() + b"".join(p.read_bytes() for p in study_dir.glob("study.sqlite-*"))
    assert token.encode() not in raw and digest(token).encode() in raw
    conn = sqlite3.connect(study_dir / "study.sqlite")
    assert conn.execute("SELECT token_hash FROM raters WHERE name = 'ann'").fetchone()[0] == digest(token)
    code, _, err = run_cli(["invite", str(study_dir), "--rater", "ann"], capsys)
    assert code == 2 and "already invited" in err and err.count("\n") == 1
    assert conn.execute("SELECT COUNT(*) FROM raters").fetchone()[0] == 1


def test_each_rater_has_an_own_order_and_attention_checks(tmp_path, image_folders):
    out = tmp_path / "study"
    create_study(
        out, image_folders["generated"], str(image_folders["real"]), per_class=2, checks=3, overrides=["faces=none"]
    )
    invite(out, "ann")
    invite(out, "bob")
    invite(out, "cat", n_items=14)
    conn = sqlite3.connect(out / "study.sqlite")
    items = {r[0]: (r[1], r[2]) for r in conn.execute("SELECT id, kind, label FROM items")}
    orders = {}
    for rid, name in conn.execute("SELECT id, name FROM raters"):
        rows = conn.execute(
            "SELECT position, item_id, repeat_of FROM assignments WHERE rater_id = ? ORDER BY position", (rid,)
        ).fetchall()
        assert [r[0] for r in rows] == list(range(len(rows)))
        firsts = [r[1] for r in rows if r[2] is None]
        repeats = [r for r in rows if r[2] is not None]
        assert len(firsts) == len(set(firsts)) and len(repeats) == 3
        for pos, item, first in repeats:  # a repeat shows the same face again, 3 other faces at least between
            assert rows[first][1] == item and rows[first][2] is None and pos - first >= 4
        orders[name] = firsts
    assert sorted(orders["ann"]) == sorted(items) == sorted(orders["bob"]) and orders["ann"] != orders["bob"]
    assert len(orders["cat"]) == 14  # drawn evenly: one of each kind and class
    assert Counter(items[i] for i in orders["cat"]) == {(k, c): 1 for k in ("real", "generated") for c in CLASSES}


def test_new_link_replaces_the_old_one(study_dir):
    first = invite(study_dir, "ann")
    second = invite(study_dir, "ann", new_link=True)
    study = Study.open(study_dir)
    assert study.rater_by_token(first) is None and study.rater_by_token(second).name == "ann"
    with pytest.raises(Exception, match="no rater 'bob'"):
        invite(study_dir, "bob", new_link=True)
    with pytest.raises(Exception, match="--items 99"):
        invite(study_dir, "cat", n_items=99)


def test_the_commands_in_a_fresh_process(tmp_path, kdef_and_gan):
    """`python -m fer.study create` with a catalogue name, `invite`, and a mistake, each as a shell runs them."""

    def study_cli(*argv: str) -> subprocess.CompletedProcess:
        env = {**os.environ, "FER_ROOT": str(tmp_path)}
        cmd = [sys.executable, "-m", "fer.study", *argv]
        return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)

    sets = [a for o in synthetic_kdef(kdef_and_gan) for a in ("--set", o)]
    out = tmp_path / "study"
    proc = study_cli(
        "create", str(out), "--generated", str(kdef_and_gan["gan"]), "--real", "kdef", "--per-class", "2", *sets
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["items"] == 8 and (out / "study.sqlite").is_file()
    proc = study_cli("invite", str(out), "--rater", "ann")
    assert proc.returncode == 0 and proc.stdout.startswith("http://127.0.0.1:8000/r/"), proc.stderr
    proc = study_cli("create", str(tmp_path / "other"), "--generated", str(kdef_and_gan["gan"]), "--real", "nosuch")
    assert proc.returncode == 2 and proc.stdout == "" and not (tmp_path / "other").exists()
    assert proc.stderr.startswith("error: --real: 'nosuch' is not a dataset") and proc.stderr.count("\n") == 1
