"""The rating study's server under concurrent raters: answers against a static file from the same app.

A study of 70 faces (5 real and 5 generated per class, 32 px: small synthetic images made here) is served by
`python -m fer.study serve` in its own process on 127.0.0.1 (uvicorn; one process, as a lab would run it). The
client (httpx, asyncio, another process) runs `concurrency` raters at once:
- answers: each rater posts its next answer (`POST /answer`: the form check, the session, one SQLite transaction
  committed with `synchronous=FULL` in WAL mode, the redirect);
- static: the same number of requests for `/static/study.css` (routing and a file, no database).
The two alternate block by block, so load from other processes hits both. Reported: requests/s and the 95th
percentile response time of each, and the ratios (answers / static); the stored answers are counted at the end.

    python -m bench study [--quick]
"""

from __future__ import annotations

import asyncio
import sqlite3
import tempfile
import time
from pathlib import Path

import cv2
import httpx
import numpy as np

from fer.classes import CLASSES
from fer.study.create import create_study, invite
from fer.study.process import start_server, stop_server

ROOT = Path(__file__).resolve().parents[1]


def images(root: Path, size: int, seed: int) -> Path:
    rng = np.random.default_rng(seed)
    for c in CLASSES:
        (root / c).mkdir(parents=True)
        for i in range(6):
            img = cv2.resize(rng.integers(0, 256, (4, 4), dtype=np.uint8), (size, size), interpolation=cv2.INTER_CUBIC)
            cv2.imwrite(str(root / c / f"{i}.png"), img)
    return root


async def open_rater(url: str, token: str) -> tuple[httpx.AsyncClient, str]:
    client = httpx.AsyncClient(base_url=url, timeout=60, limits=httpx.Limits(max_connections=2))
    page = await client.get(f"/r/{token}", follow_redirects=True)
    csrf = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    return client, csrf


async def block(raters: list[dict], per_rater: int, kind: str) -> list[float]:
    """`per_rater` requests from every rater at once; the response times (s)."""

    async def one(r: dict) -> list[float]:
        times = []
        for _ in range(per_rater):
            start = time.perf_counter()
            if kind == "answers":
                pos, item = r["order"][r["next"]]
                resp = await r["client"].post(
                    "/answer",
                    data={
                        "csrf": r["csrf"],
                        "position": str(pos),
                        "item": item,
                        "expression": "happy",
                        "judgement": "real-sure",
                        "elapsed_ms": "800",
                    },
                )
                ok = resp.status_code == 303
                r["next"] += 1
            else:
                resp = await r["client"].get("/static/study.css")
                ok = resp.status_code == 200
            times.append(time.perf_counter() - start)
            if not ok:
                raise RuntimeError(f"{kind}: HTTP {resp.status_code}")
        return times

    results = await asyncio.gather(*(one(r) for r in raters))
    return [t for ts in results for t in ts]


async def drive(study: Path, url: str, tokens: list[str], blocks: int, per_rater: int) -> dict:
    conn = sqlite3.connect(study / "study.sqlite")
    raters = []
    for i, token in enumerate(tokens):
        client, csrf = await open_rater(url, token)
        order = conn.execute(
            "SELECT position, item_id FROM assignments WHERE rater_id = ? ORDER BY position", (i + 1,)
        ).fetchall()
        raters.append({"client": client, "csrf": csrf, "order": order, "next": 0})
    conn.close()
    await block(raters, 1, "static")  # warm-up (connections, caches); no answer stored
    times: dict[str, list[float]] = {"answers": [], "static": []}
    walls = {"answers": 0.0, "static": 0.0}
    for b in range(blocks):
        for kind in ("answers", "static") if b % 2 == 0 else ("static", "answers"):
            start = time.perf_counter()
            times[kind] += await block(raters, per_rater, kind)
            walls[kind] += time.perf_counter() - start
    for r in raters:
        await r["client"].aclose()
    return {k: (len(times[k]) / walls[k], float(np.percentile(times[k], 95)) * 1000) for k in times}


def run(quick: bool = False) -> dict:
    concurrency, blocks, per_rater = (8, 2, 4) if quick else (16, 6, 10)
    with tempfile.TemporaryDirectory(prefix="bench_study_") as tmp:
        tmp = Path(tmp)
        study = tmp / "study"
        create_study(
            study, images(tmp / "gen", 32, 1), str(images(tmp / "real", 48, 2)), per_class=5, overrides=["faces=none"]
        )
        tokens = [invite(study, f"rater{i:02d}") for i in range(concurrency)]
        proc, url = start_server(study)
        try:
            res = asyncio.run(drive(study, url, tokens, blocks, per_rater))
        finally:
            stop_server(proc)
        conn = sqlite3.connect(study / "study.sqlite")
        stored = conn.execute("SELECT COUNT(*) FROM answers").fetchone()[0]
        conn.close()
    (a_rate, a_p95), (s_rate, s_p95) = res["answers"], res["static"]
    expected = concurrency * blocks * per_rater
    if stored != expected:
        raise RuntimeError(f"{stored} answers stored, {expected} acknowledged")
    return {
        "concurrency": concurrency,
        "answers": expected,
        "answers_per_s": round(a_rate, 1),
        "static_per_s": round(s_rate, 1),
        "ratio_per_s": round(a_rate / s_rate, 3),
        "answers_p95_ms": round(a_p95, 1),
        "static_p95_ms": round(s_p95, 1),
        "ratio_p95": round(a_p95 / s_p95, 2),
        "stored": stored,
    }
