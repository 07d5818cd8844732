"""The real server (`python -m fer.study serve`, uvicorn on 127.0.0.1): where it binds, and `kill -9` mid-study."""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time
from pathlib import Path

import httpx
import pytest

from fer.study.create import invite
from tests.helpers.cli import run_cli
from tests.unit.study.conftest import fields, start_server, stop_server


def stored_positions(study_dir: Path, rater: str) -> list[int]:
    conn = sqlite3.connect(study_dir / "study.sqlite")
    try:
        rows = conn.execute(
            "SELECT a.position FROM answers a JOIN raters r ON r.id = a.rater_id WHERE r.name = ? ORDER BY a.position",
            (rater,),
        ).fetchall()
    finally:
        conn.close()
    return [r[0] for r in rows]


def answer(client: httpx.Client, page: httpx.Response) -> httpx.Response:
    data = {**fields(page.text), "expression": "happy", "judgement": "real-sure"}
    return client.post("/answer", data=data)


def test_kill_9_loses_no_committed_answer_and_a_restart_continues(study_dir):
    tokens = {name: invite(study_dir, name) for name in ("ann", "bob")}
    proc, url = start_server(study_dir)
    try:
        bob = httpx.Client(base_url=url, follow_redirects=True, timeout=10)
        page = bob.get(f"/r/{tokens['bob']}")
        for _ in range(2):
            page = answer(bob, page)
        assert "face 3 of 28" in page.text

        # Ann answers as fast as she can while the server is killed under her.
        acknowledged: list[int] = []
        ann = httpx.Client(base_url=url, follow_redirects=False, timeout=10)
        first = ann.get(f"/r/{tokens['ann']}")
        assert first.status_code == 303

        def rate_on():
            try:
                while True:
                    page = ann.get("/rate")
                    position = int(fields(page.text)["position"])
                    r = answer(ann, page)
                    if r.status_code != 303:
                        return
                    acknowledged.append(position)
            except (httpx.TransportError, KeyError):
                return

        worker = threading.Thread(target=rate_on)
        worker.start()
        deadline = time.monotonic() + 20
        while len(acknowledged) < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        worker.join(15)
        assert not worker.is_alive() and len(acknowledged) >= 5
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)

    ann_stored = stored_positions(study_dir, "ann")
    # Every acknowledged answer is there; at most one more (committed, its reply lost to the kill); in order.
    assert set(acknowledged) <= set(ann_stored) and len(ann_stored) - len(acknowledged) in (0, 1)
    assert ann_stored == list(range(len(ann_stored)))
    assert stored_positions(study_dir, "bob") == [0, 1]

    proc, url = start_server(study_dir)
    try:
        for name, done in (("ann", len(ann_stored)), ("bob", 2)):
            client = httpx.Client(base_url=url, follow_redirects=True, timeout=10)
            page = client.get(f"/r/{tokens[name]}")
            assert fields(page.text)["position"] == str(done) and f"face {done + 1} of 28" in page.text
            assert answer(client, page).status_code == 200
        assert stored_positions(study_dir, "bob") == [0, 1, 2]
    finally:
        stop_server(proc)


@pytest.mark.parametrize("host, warned", [(None, False), ("0.0.0.0", True), ("::", True), ("127.0.0.1", False)])
def test_binds_to_loopback_unless_told_and_warns_for_all_interfaces(study_dir, monkeypatch, capsys, host, warned):
    import uvicorn

    from fer.study.__main__ import main

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append(kw))  # nothing is bound in this test
    main(["serve", str(study_dir), *(["--host", host] if host else [])])
    err = capsys.readouterr().err
    assert calls[0]["host"] == (host or "127.0.0.1") and calls[0]["access_log"] is False
    assert ("warning: bound to all interfaces" in err) == warned


def test_serve_refuses_a_study_with_missing_images(study_dir, capsys):
    from fer.study.__main__ import main

    next((study_dir / "images").iterdir()).unlink()
    code = run_cli(main, ["serve", str(study_dir)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "1 image(s) of the study are missing" in err
