"""The web app through the framework's test client: who gets in, what is served, what is stored, bad input."""

from __future__ import annotations

import re
import sqlite3

import pytest
from starlette.testclient import TestClient

from fer.study.app import HEADERS, create_app
from fer.study.create import invite
from fer.study.db import Study
from tests.unit.study.conftest import BASE_URL, Rater


def stored(study_dir) -> list[tuple]:
    conn = sqlite3.connect(study_dir / "study.sqlite")
    try:
        return conn.execute(
            "SELECT r.name, a.position, a.item_id, a.expression, a.judged, a.confidence, a.elapsed_ms "
            "FROM answers a JOIN raters r ON r.id = a.rater_id ORDER BY r.name, a.position"
        ).fetchall()
    finally:
        conn.close()


def no_leak(response, study_dir) -> None:
    """An error page: short, with no traceback, no file path, no exception name."""
    text = response.text
    assert "Traceback" not in text and str(study_dir) not in text and "/tmp" not in text and ".py" not in text
    assert "Error:" not in text and len(text) < 2000


@pytest.fixture
def app(study_dir):
    return create_app(study_dir)


def test_rating_page_and_one_answer(study_dir, app):
    token = invite(study_dir, "ann")
    ann = Rater(app, token)
    assert ann.page.status_code == 200 and str(ann.page.url) == f"{BASE_URL}/rate"
    assert token not in ann.page.text  # the link's token leaves the address bar and is never echoed
    for name, value in HEADERS.items():
        assert ann.page.headers[name] == value
    cookie = ann.page.history[0].headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    assert re.search(r'<progress id="progress" max="28" value="0">', ann.page.text)
    assert "face 1 of 28" in ann.page.text
    form = ann.form()
    image = ann.client.get(f"/image/{form['item']}")
    assert image.status_code == 200 and image.headers["content-type"] == "image/png"
    assert image.content[:8] == b"\x89PNG\r\n\x1a\n"
    response = ann.answer("sad", "generated-unsure")
    assert response.status_code == 200 and response.history[0].status_code == 303
    assert "face 2 of 28" in response.text and ann.form()["position"] == "1"
    assert stored(study_dir) == [("ann", 0, form["item"], "sad", "generated", 1, 1500)]


def test_every_page_and_image_needs_a_valid_link(study_dir, app):
    token = invite(study_dir, "ann")
    item = Rater(app, token).form()["item"]
    anonymous = TestClient(app, base_url=BASE_URL)
    for path in ("/", "/rate", f"/image/{item}"):
        r = anonymous.get(path)
        assert r.status_code == 401 and "personal study link" in r.text
        no_leak(r, study_dir)
    r = anonymous.post("/answer", data={"csrf": "x", "position": "0", "item": item, "expression": "sad"})
    assert r.status_code == 401
    for bad in ("A" * 32, token[:-1] + ("A" if token[-1] != "A" else "B"), "x", "a.b"):
        r = anonymous.get(f"/r/{bad}")
        assert r.status_code == 403 and "not valid" in r.text and "set-cookie" not in r.headers
    r = anonymous.get("/r/..%2f..%2fstudy.sqlite")
    assert r.status_code == 404 and "set-cookie" not in r.headers
    anonymous.cookies.set("fer_study_session", "B" * 43)  # a made-up session
    assert anonymous.get("/rate").status_code == 401
    assert stored(study_dir) == []


def test_images_only_by_blind_id_of_the_raters_own_faces(study_dir, app):
    ann = Rater(app, invite(study_dir, "ann", n_items=14))
    study = Study.open(study_dir)
    own = {r[0] for r in study.conn.execute("SELECT item_id FROM assignments WHERE rater_id = 1")}
    other = sorted({i["id"] for i in study.items()} - own)[0]
    assert ann.client.get(f"/image/{sorted(own)[0]}").status_code == 200
    r = ann.client.get(f"/image/{other}")  # a face of the study, not assigned to this rater
    assert r.status_code == 404 and b"PNG" not in r.content
    for path in (
        "/image/..%2f..%2fstudy.sqlite",
        "/image/..%2fmanifest.json",
        "/image/%2e%2e/study.sqlite",
        "/image/../study.sqlite",
        f"/image/{sorted(own)[0]}.png",
        f"/image/images%2f{sorted(own)[0]}.png",
        "/images/" + sorted(own)[0] + ".png",
        "/study.sqlite",
        "/manifest.json",
        "/static/..%2fdb.py",
        "/static/../app.py",
        "/static/%2e%2e%2fdb.py",
        "/static/templates%2frate.html",
    ):
        r = ann.client.get(path)
        assert r.status_code == 404, path
        assert b"SQLite" not in r.content and b"import" not in r.content and b"origin_file" not in r.content
        no_leak(r, study_dir)
    css = ann.client.get("/static/study.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")


def test_a_rater_cannot_change_another_raters_answers(study_dir, app):
    ann = Rater(app, invite(study_dir, "ann"))
    bob = Rater(app, invite(study_dir, "bob", n_items=14))
    ann_form = ann.form()
    ann.answer("happy", "real-sure")
    # Bob posts Ann's face at Ann's position with his own session and form token.
    r = bob.client.post(
        "/answer",
        data={
            **bob.form(),
            "position": ann_form["position"],
            "item": ann_form["item"],
            "expression": "angry",
            "judgement": "generated-sure",
        },
    )
    bobs_own = ann_form["item"] == bob.form()["item"]  # the same face at position 0 for both: his to answer
    assert r.status_code == (200 if bobs_own else 403)
    # Ann's form token with Bob's session cookie: refused.
    r = bob.client.post("/answer", data={**ann.form(), "expression": "angry", "judgement": "generated-sure"})
    assert r.status_code == 403 and "expired" in r.text
    rows = stored(study_dir)
    assert [x for x in rows if x[0] == "ann"] == [("ann", 0, ann_form["item"], "happy", "real", 2, 1500)]
    assert all(x[0] == "bob" for x in rows if x[3] == "angry")


def test_other_raters_face_is_refused(study_dir, app):
    ann = Rater(app, invite(study_dir, "ann", n_items=14))
    study = Study.open(study_dir)
    own = {r[0] for r in study.conn.execute("SELECT item_id FROM assignments WHERE rater_id = 1")}
    other = sorted({i["id"] for i in study.items()} - own)[0]
    r = ann.answer("happy", "real-sure", item=other)
    assert r.status_code == 403 and "not one of yours" in r.text
    no_leak(r, study_dir)
    assert stored(study_dir) == []


def test_cross_site_posts_are_refused(study_dir, app):
    ann = Rater(app, invite(study_dir, "ann"))
    r = ann.answer(csrf=None)
    assert r.status_code == 400
    r = ann.answer(csrf="A" * 43)
    assert r.status_code == 403 and "expired" in r.text
    data = {**ann.form(), "expression": "happy", "judgement": "real-sure"}
    r = ann.client.post("/answer", data=data, headers={"origin": "http://evil.example"})
    assert r.status_code == 403 and "only taken from the study" in r.text
    assert stored(study_dir) == []
    r = ann.client.post("/answer", data=data, headers={"origin": BASE_URL})
    assert r.status_code == 200 and len(stored(study_dir)) == 1


def test_a_second_submission_is_idempotent(study_dir, app):
    ann = Rater(app, invite(study_dir, "ann"))
    first = ann.form()
    assert ann.answer("fear", "real-unsure").status_code == 200
    again = ann.client.post("/answer", data={**first, "expression": "fear", "judgement": "real-unsure"})
    assert again.status_code == 200 and "face 2 of 28" in again.text
    changed = ann.client.post("/answer", data={**first, "expression": "sad", "judgement": "generated-sure"})
    assert changed.status_code == 200  # taken as the repeat it is: nothing changes
    assert stored(study_dir) == [("ann", 0, first["item"], "fear", "real", 1, 1500)]


def test_answers_go_in_order(study_dir, app):
    ann = Rater(app, invite(study_dir, "ann"))
    study = Study.open(study_dir)
    later = study.conn.execute("SELECT item_id FROM assignments WHERE rater_id = 1 AND position = 5").fetchone()[0]
    r = ann.answer(position="5", item=later)
    assert r.status_code == 409 and "in order" in r.text
    assert stored(study_dir) == []


@pytest.mark.parametrize(
    "case, status, text",
    [
        ("unknown class", 400, "Unknown expression"),
        ("unknown judgement", 400, "Unknown answer"),
        ("missing field", 400, "Malformed answer"),
        ("unknown field", 400, "Malformed answer"),
        ("repeated field", 400, "Malformed answer"),
        ("position not a number", 400, "not a number"),
        ("item not an id", 400, "unknown face"),
        ("not utf-8", 400, "Malformed form"),
        ("not a form", 415, "sent as a form"),
        ("oversized", 413, "too large"),
        ("oversized without length", 413, "too large"),
        ("GET", 405, "does not take"),
    ],
)
def test_bad_input_is_a_clear_error_and_writes_nothing(study_dir, app, case, status, text):
    ann = Rater(app, invite(study_dir, "ann"))
    data = {**ann.form(), "expression": "happy", "judgement": "real-sure"}
    form_type = {"content-type": "application/x-www-form-urlencoded"}
    post = ann.client.post
    if case == "unknown class":
        r = ann.answer("joy")
    elif case == "unknown judgement":
        r = ann.answer(judgement="maybe")
    elif case == "missing field":
        r = ann.answer(judgement=None)
    elif case == "unknown field":
        r = ann.answer(extra="1")
    elif case == "repeated field":
        r = post(
            "/answer",
            content=f"csrf={data['csrf']}&csrf={data['csrf']}&position=0&item={data['item']}"
            "&expression=happy&judgement=real-sure",
            headers=form_type,
        )
    elif case == "position not a number":
        r = ann.answer(position="zero")
    elif case == "item not an id":
        r = ann.answer(item="../../study.sqlite")
    elif case == "not utf-8":
        r = post("/answer", content=b"csrf=\xff\xfe&position=0", headers=form_type)
    elif case == "not a form":
        r = post("/answer", json=data)
    elif case == "oversized":
        r = ann.answer(elapsed_ms="1" * 5000)
    elif case == "oversized without length":
        r = post("/answer", content=iter([b"csrf=" + b"a" * 1500, b"b" * 1500]), headers=form_type)
    else:
        r = ann.client.get("/answer")
    assert r.status_code == status and text in r.text, r.text
    assert '<p id="error">' in r.text
    no_leak(r, study_dir)
    assert stored(study_dir) == []


def test_a_server_fault_is_a_short_page_without_trace_or_path(study_dir, monkeypatch):
    app = create_app(study_dir)
    token = invite(study_dir, "ann")
    study = app.state.study

    def broken(*args, **kwargs):
        raise RuntimeError(f"disk trouble in {study_dir / 'study.sqlite'} (fer/study/db.py line 1)")

    monkeypatch.setattr(study, "current", broken)
    client = TestClient(app, base_url=BASE_URL, raise_server_exceptions=False)
    r = client.get(f"/r/{token}")
    assert r.status_code == 500 and "answers are saved" in r.text
    no_leak(r, study_dir)
    assert "disk trouble" not in r.text and "RuntimeError" not in r.text


def test_stop_and_come_back_where_you_left_off(study_dir, app):
    token = invite(study_dir, "ann")
    ann = Rater(app, token)
    for _ in range(3):
        assert ann.answer().status_code == 200
    assert Rater(app, token).form()["position"] == "3"  # a new browser, the same link
    again = TestClient(app, base_url=BASE_URL)
    again.cookies.set("fer_study_session", ann.client.cookies["fer_study_session"])  # the same browser later
    page = again.get("/")
    assert "face 4 of 28" in page.text
    for _ in range(25):
        r = ann.answer()
    assert r.status_code == 200 and "rated all 28 faces" in r.text and "<form" not in r.text
    assert len(stored(study_dir)) == 28
