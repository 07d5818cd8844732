"""Load: 50 raters at once over loopback (uvicorn on 127.0.0.1, httpx), 20 faces each, one double submission
each fired concurrently: exactly 1,000 answers stored, none duplicated, every rater's in order."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sqlite3
import threading
import time

import httpx
import pytest
import uvicorn

from fer.study.app import create_app
from fer.study.create import invite
from tests.unit.study.conftest import fields

RATERS, ITEMS = 50, 20


@contextlib.contextmanager
def serving(app):
    """The app on a loopback port in a thread; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


async def rater(url: str, token: str, double_at: int) -> list[int]:
    """Answer every face; returns the acknowledged positions."""
    acknowledged = []
    async with httpx.AsyncClient(base_url=url, follow_redirects=True, timeout=30) as client:
        page = await client.get(f"/r/{token}")
        for _ in range(ITEMS):
            form = fields(page.text)
            data = {**form, "expression": "sad", "judgement": "generated-sure", "elapsed_ms": "900"}
            if int(form["position"]) == double_at:  # the same answer twice at once (a double click)
                pages = await asyncio.gather(client.post("/answer", data=data), client.post("/answer", data=data))
                assert all(p.status_code == 200 for p in pages)
                page = pages[0]
            else:
                page = await client.post("/answer", data=data)
            assert page.status_code == 200, page.text
            acknowledged.append(int(form["position"]))
        assert "rated all 20 faces" in page.text
    return acknowledged


@pytest.mark.timeout(120)
def test_fifty_raters_at_once_store_exactly_one_thousand_answers(study_dir):
    tokens = [invite(study_dir, f"rater{i:02d}", n_items=ITEMS) for i in range(RATERS)]
    app = create_app(study_dir)
    start = time.monotonic()
    with serving(app) as url:
        assert url.startswith("http://127.0.0.1:")

        async def everyone():
            return await asyncio.gather(*(rater(url, t, double_at=i % ITEMS) for i, t in enumerate(tokens)))

        acknowledged = asyncio.run(everyone())
    seconds = time.monotonic() - start
    assert all(a == list(range(ITEMS)) for a in acknowledged)
    conn = sqlite3.connect(study_dir / "study.sqlite")
    assert conn.execute("SELECT COUNT(*) FROM answers").fetchone()[0] == RATERS * ITEMS == 1000
    assert conn.execute("SELECT COUNT(DISTINCT rater_id || ':' || position) FROM answers").fetchone()[0] == 1000
    assert conn.execute("SELECT COUNT(DISTINCT rater_id || ':' || item_id) FROM answers").fetchone()[0] == 1000
    per_rater = conn.execute("SELECT MIN(position), MAX(position), COUNT(*) FROM answers GROUP BY rater_id").fetchall()
    assert per_rater == [(0, ITEMS - 1, ITEMS)] * RATERS
    assert (
        conn.execute(  # every answer is its rater's face at that position
            "SELECT COUNT(*) FROM answers n JOIN assignments a ON a.rater_id = n.rater_id AND a.position = n.position "
            "AND a.item_id = n.item_id"
        ).fetchone()[0]
        == 1000
    )
    print(f"{RATERS * ITEMS} answers from {RATERS} concurrent raters in {seconds:.1f} s")
