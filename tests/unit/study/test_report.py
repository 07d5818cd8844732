"""The report: figures with intervals on answers whose truth is known, attention checks, agreement, the
classifier's agreement with the raters, files from which every figure can be recomputed, W&B logging."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from fer.classes import CLASSES
from fer.study.analysis import report
from fer.study.create import create_study, invite
from fer.study.db import Rater, Study
from tests.helpers.cli import run_cli
from tests.unit.study.conftest import self_describing_checkpoint


def answer_all(study_dir: Path, name: str, rule) -> None:
    """The rater answers every face of theirs in order: rule(item, position, first_answer) -> (expression,
    judgement); `first_answer` is their answer at the repeated face's first showing (attention checks)."""
    study = Study.open(study_dir)
    rid = study.conn.execute("SELECT id FROM raters WHERE name = ?", (name,)).fetchone()[0]
    items = {i["id"]: i for i in study.items()}
    rows = study.conn.execute(
        "SELECT position, item_id, repeat_of FROM assignments WHERE rater_id = ? ORDER BY position", (rid,)
    ).fetchall()
    given = {}
    for pos, item, repeat_of in rows:
        expression, judged = rule(items[item], pos, given.get(repeat_of))
        given[pos] = (expression, judged)
        study.record(Rater(rid, name), pos, item, expression, judged, 2, 1000 + pos)
    study.close()


def truthful(item, pos, first):
    """Names real faces right and generated ones wrong; tells real from generated every time."""
    if item["kind"] == "real":
        return item["label"], "real"
    return ("angry" if item["label"] != "angry" else "sad"), "generated"


def fooled(item, pos, first):
    expression, _ = truthful(item, pos, first)
    return expression, "real"


def read_csv(path: Path) -> list[dict]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def test_known_answers_give_known_figures(study_dir):
    for name in ("ann", "bob"):
        invite(study_dir, name)
        answer_all(study_dir, name, truthful)
    invite(study_dir, "cat")
    answer_all(study_dir, "cat", fooled)
    result = report(study_dir)
    o = result["overall"]
    assert (o["real"].estimate, o["real"].low, o["real"].high) == (100.0, 100.0, 100.0)
    assert (o["generated"].estimate, o["generated"].low, o["generated"].high) == (0.0, 0.0, 0.0)
    assert o["detection"].estimate == pytest.approx(100 * (28 * 2 + 14) / 84)
    assert o["detection"].low < o["detection"].estimate < o["detection"].high <= 100
    assert result["agreement"]["expression"]["all"] == pytest.approx(1.0)  # all three name every face alike
    assert result["agreement"]["real or generated"]["real"] is None  # one value only ("real"): alpha is undefined
    assert result["agreement"]["real or generated"]["generated"] < 0.5  # Cat disagrees on every generated face
    assert result["agreement"]["real or generated"]["all"] < 1.0

    files = result["files"]
    assert {p.name for p in files.values()} == {
        "report.md",
        "summary.csv",
        "images.csv",
        "answers.csv",
        "raters.csv",
        "report.png",
    }
    assert all(p.parent == study_dir / "report" for p in files.values())
    assert files["figure"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = read_csv(files["summary"])
    assert [r["emotion"] for r in summary] == [*CLASSES, "overall"]
    happy = summary[CLASSES.index("happy")]
    assert (happy["real_accuracy"], happy["generated_accuracy"], happy["generated_taken_for_real"]) == (
        "100.00",
        "0.00",
        "33.33",
    )
    # Every figure from the per-answer rows: overall detection, and per image.
    answers = [a for a in read_csv(files["answers"]) if a["counted"] == "True"]
    assert len(answers) == 84
    detection = 100 * sum(a["judged"] == a["kind"] for a in answers) / len(answers)
    assert detection == pytest.approx(float(summary[-1]["detection_accuracy"]), abs=0.005)
    images = read_csv(files["images"])
    assert len(images) == 28
    for row in images:
        mine = [a for a in answers if a["item_id"] == row["item"]]
        assert int(row["ratings"]) == 3 == len(mine)
        assert int(row["correct"]) == sum(a["expression"] == row["label"] for a in mine)
        assert int(row["judged_real"]) == sum(a["judged"] == "real" for a in mine)
        assert row["majority"] == (row["label"] if row["kind"] == "real" else mine[0]["expression"])
    md = files["report"].read_text()
    assert "| **overall** | 100.0 [100.0, 100.0] | 0.0 [0.0, 0.0] | 83.3 [" in md
    assert "Krippendorff" in md and "| ann | 28 | none |" in md


def test_intervals_resample_face_subjects(tmp_path, image_folders):
    """Real faces of a catalogue-less folder are each their own subject; a rater who is right on half of them gives
    an interval around 50 that is not degenerate."""
    out = tmp_path / "study"
    create_study(out, image_folders["generated"], str(image_folders["real"]), per_class=4, overrides=["faces=none"])
    invite(out, "ann")
    answer_all(out, "ann", lambda it, pos, first: (it["label"] if pos % 2 else "fear", it["kind"]))
    r = report(out)["overall"]["real"]
    assert 0 < r.low < r.estimate < r.high < 100


def test_careless_raters_are_flagged_and_left_out(tmp_path, image_folders):
    out = tmp_path / "study"
    create_study(
        out, image_folders["generated"], str(image_folders["real"]), per_class=2, checks=2, overrides=["faces=none"]
    )
    invite(out, "ann")
    answer_all(out, "ann", truthful)

    def careless(item, pos, first):  # a different answer whenever a face comes back
        if first is not None:
            return ("happy" if first[0] != "happy" else "sad"), first[1]
        return "neutral", "real"

    invite(out, "dan")
    answer_all(out, "dan", careless)
    result = report(out)
    assert result["flagged"] == ["dan"]
    assert result["overall"]["real"].estimate == 100.0  # Ann alone
    raters = {r["rater"]: r for r in read_csv(result["files"]["raters"])}
    assert (raters["ann"]["checks"], raters["ann"]["consistent"], raters["ann"]["flagged"]) == ("2", "2", "False")
    assert (raters["dan"]["checks"], raters["dan"]["consistent"], raters["dan"]["flagged"]) == ("2", "0", "True")
    answers = read_csv(result["files"]["answers"])
    assert len(answers) == 2 * 30 and sum(a["counted"] == "True" for a in answers) == 28
    assert "left out: dan" in result["files"]["report"].read_text()
    kept = report(out, keep_flagged=True)
    assert kept["flagged"] == ["dan"] and kept["overall"]["real"].estimate < 100.0


def test_the_classifier_against_the_raters(study_dir, tmp_path):
    for name in ("ann", "bob"):
        invite(study_dir, name)
        answer_all(study_dir, name, truthful)
    ckpt = self_describing_checkpoint(tmp_path / "model.ckpt")
    result = report(study_dir, out_dir=tmp_path / "out", checkpoint=str(ckpt))
    images = read_csv(result["files"]["images"])
    assert all(r["classifier"] in CLASSES and 0 < float(r["classifier_confidence"]) <= 1 for r in images)
    agreement = result["classifier"]["agreement"]
    for kind in ("real", "generated", "all"):
        rows = [r for r in images if kind in ("all", r["kind"])]
        voted = [r for r in rows if r["majority"]]
        a = agreement[kind]
        assert a["images"] == len(rows) and a["with_majority"] == len(voted) == len(rows)
        same = sum(r["classifier"] == r["majority"] for r in voted)
        assert a["majority"].estimate == pytest.approx(100 * same / len(voted))
        assert a["accuracy"] == pytest.approx(100 * sum(r["classifier"] == r["label"] for r in rows) / len(rows))
    assert "The classifier on the same faces" in result["files"]["report"].read_text()


def test_wandb_gets_the_tables_and_the_figure(study_dir, monkeypatch):
    import fer.study.analysis as report_module

    invite(study_dir, "ann")
    answer_all(study_dir, "ann", truthful)
    logged = []
    monkeypatch.setattr(report_module, "log_report", lambda *a: logged.append(a) or "/wandb/run")
    result = report(study_dir, wandb_project="studies")
    files, project, name, _ = logged[0]
    assert project == "studies" and name == f"study-{study_dir.name}" and result["wandb_dir"] == "/wandb/run"
    assert files == result["files"] and all(Path(p).is_file() for p in files.values())


def test_no_answers_yet_is_a_clear_error(study_dir, capsys):
    from fer.study.__main__ import main

    invite(study_dir, "ann")
    code = run_cli(main, ["report", str(study_dir)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "no answers yet (1 rater(s) invited)" in err
    assert not (study_dir / "report").exists()


def test_alpha_is_none_for_one_rater(study_dir):
    invite(study_dir, "ann")
    answer_all(study_dir, "ann", truthful)
    result = report(study_dir)
    assert result["agreement"]["expression"]["all"] is None
    assert not math.isnan(result["overall"]["real"].estimate)
