"""The rating study end to end, in a real browser: a tiny GAN trained here on synthetic KDEF faces, `create` with
the synthetic real faces of subjects the GAN never saw, `invite`, `serve` (the real server process), five faces
rated with the keyboard in headless Chromium (Debian's `chromium` and `chromium-driver`, nothing downloaded) with
a reload mid-way, three more raters over HTTP, then `report` with a classifier checkpoint.

Set FER_STUDY_SCREENSHOTS=docs to also copy the rating page's screenshot and the report's figure there
(docs/study_rating.png, docs/study_report.png); otherwise they stay in the test's temporary folder.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import sqlite3
from pathlib import Path

import httpx
import pytest
from omegaconf import open_dict

from fer.classes import CLASSES
from fer.study.__main__ import main
from tests.conftest import compose_cfg
from tests.helpers.cli import run_cli
from tests.unit.study.conftest import fields, self_describing_checkpoint, start_server, stop_server

CHROMIUM = next((p for p in (shutil.which("chromium"), "/usr/bin/chromium") if p and Path(p).is_file()), None)
DRIVER = next((p for p in (shutil.which("chromedriver"), "/usr/bin/chromedriver") if p and Path(p).is_file()), None)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None or DRIVER is None,
    reason="no Chromium or chromedriver found (Debian: apt-get install chromium chromium-driver; .ci/run does)",
)
SUBJECTS = 6  # kdef:F01..F03, M01..M03; the GAN never sees F03 and M03
GAN_TINY = [
    "model.generator.features=8",
    "model.discriminator.features=8",
    "model.grid_size=8",
    "gan.batch_size=8",
    "+trainer.enable_progress_bar=false",
]


def cli(argv: list[str], capsys) -> str:
    code = run_cli(main, argv)
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def train_tiny_gan(root: Path) -> Path:
    """`generate.py task=gan emotion=all` shrunk: one epoch of 8-feature DCGANs on the synthetic KDEF crops."""
    from fer.tasks import gan

    cfg = compose_cfg(
        [
            "task=gan",
            "emotion=all",
            "logger=none",
            "sources=synthetic",
            f"paths.synthetic_dir={root / 'synthetic'}",
            f"++sources.kdef.synthetic_options.subjects={SUBJECTS}",
            f"paths.root_dir={root}",
            f"paths.cache_dir={root / 'cache'}",
            f"out_dir={root / 'gan'}",
            "gan.max_epochs=1",
            "gan.samples_per_class=3",
            "gan.exclude_subjects=[kdef:F03,kdef:M03]",
            *GAN_TINY,
        ],
        config_name="generate.yaml",
    )
    with open_dict(cfg):
        cfg.paths.output_dir = cfg.hydra.runtime.output_dir = str(root / "run")
    gan.run(cfg)
    return root / "gan"


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=820,860",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(executable_path=DRIVER), options=options)


def scripted_rater(url: str, link: str, items: dict[str, tuple[str, str]], seed: int) -> int:
    """A rater over HTTP: right on most real faces, on fewer generated ones; the same answer when a face comes
    back. Returns the number of answers."""
    rnd = random.Random(seed)
    given: dict[str, tuple[str, str]] = {}
    n = 0
    with httpx.Client(base_url=url, follow_redirects=True, timeout=30) as client:
        page = client.get(link.replace(url, ""))
        while "<form" in page.text:
            form = fields(page.text)
            item = form["item"]
            if item not in given:
                kind, label = items[item]
                right = rnd.random() < (0.85 if kind == "real" else 0.45)
                expression = label if right else rnd.choice([*CLASSES, "cant_tell"])
                spot = rnd.random() < 0.75
                judged = kind if spot else ("real" if kind == "generated" else "generated")
                given[item] = (expression, f"{judged}-{'sure' if rnd.random() < 0.6 else 'unsure'}")
            expression, judgement = given[item]
            page = client.post("/answer", data={**form, "expression": expression, "judgement": judgement})
            assert page.status_code == 200, page.text
            n += 1
    return n


def test_create_invite_serve_rate_in_chromium_and_report(tmp_path, capsys):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    from fer.synthetic import render

    render("kdef", tmp_path / "synthetic" / "kdef", subjects=SUBJECTS, angles=("S",))
    samples = train_tiny_gan(tmp_path)
    manifest = json.loads((samples / "manifest.json").read_text())
    assert sorted(manifest["classes"]) == sorted(CLASSES)
    assert all(
        e["seen_subjects"] == ["kdef:F01", "kdef:F02", "kdef:M01", "kdef:M02"] for e in manifest["classes"].values()
    )

    study = tmp_path / "study"
    synthetic = [
        "sources=synthetic",
        f"paths.synthetic_dir={tmp_path / 'synthetic'}",
        f"++sources.kdef.synthetic_options.subjects={SUBJECTS}",
    ]
    summary = json.loads(
        cli(
            [
                "create",
                str(study),
                "--generated",
                str(samples),
                "--real",
                "kdef",
                "--per-class",
                "2",
                "--checks",
                "1",
                *[a for s in synthetic for a in ("--set", s)],
            ],
            capsys,
        )
    )
    assert summary["items"] == 28 and summary["classes"] == list(CLASSES) and summary["image_size"] == 64
    conn = sqlite3.connect(study / "study.sqlite")
    items = {r[0]: (r[1], r[2]) for r in conn.execute("SELECT id, kind, label FROM items")}
    real_subjects = {r[0] for r in conn.execute("SELECT subject FROM items WHERE kind = 'real'")}
    assert real_subjects == {"kdef:F03", "kdef:M03"}  # only the subjects the GAN never saw

    links = {name: cli(["invite", str(study), "--rater", name], capsys).strip() for name in ("eve", "r1", "r2", "r3")}
    proc, url = start_server(study)
    links = {k: v.replace("http://127.0.0.1:8000", url) for k, v in links.items()}
    driver = browser()
    shots = tmp_path / "shots"
    shots.mkdir()
    typed = []
    try:
        driver.get(links["eve"])
        wait = WebDriverWait(driver, 20)
        wait.until(lambda d: "face 1 of 29" in d.page_source)
        assert driver.current_url == f"{url}/rate"  # the token has left the address bar

        def press(*keys: str) -> None:  # to the page, as a person types: no element in focus
            ActionChains(driver).send_keys(*keys).perform()

        def current() -> str:
            return driver.find_element(By.NAME, "item").get_attribute("value")

        def checked(name: str) -> str | None:
            boxes = driver.find_elements(By.CSS_SELECTOR, f'input[name="{name}"]:checked')
            return boxes[0].get_attribute("value") if boxes else None

        shot_taken = False
        for i in range(5):
            item = current()
            digit, letter = str(i % 8 + 1), "asdf"[i % 4]
            press(digit, letter)
            assert checked("expression") == [*CLASSES, "cant_tell"][i % 8] and checked("judgement") is not None
            if i == 3:  # a reload mid-way: the same face comes back, unanswered, nothing stored for it
                driver.refresh()
                wait.until(lambda d: "face 4 of 29" in d.page_source)
                assert current() == item and checked("expression") is None and checked("judgement") is None
                assert conn.execute("SELECT COUNT(*) FROM answers").fetchone()[0] == 3
                press(digit, letter)
            if not shot_taken and items[item][0] == "real":
                wait.until(lambda d: d.execute_script("return document.getElementById('face').naturalWidth") > 0)
                driver.save_screenshot(str(shots / "study_rating.png"))
                shot_taken = True
            typed.append((item, [*CLASSES, "cant_tell"][i % 8], checked("judgement")))
            press(Keys.ENTER)
            wait.until(lambda d, n=i + 2: f"face {n} of 29" in d.page_source)
        if not shot_taken:
            driver.save_screenshot(str(shots / "study_rating.png"))
    finally:
        driver.quit()

    rows = conn.execute(
        "SELECT a.position, a.item_id, a.expression, a.judged, a.confidence, a.elapsed_ms FROM answers a "
        "JOIN raters r ON r.id = a.rater_id WHERE r.name = 'eve' ORDER BY a.position"
    ).fetchall()
    assert [r[0] for r in rows] == [0, 1, 2, 3, 4]
    for row, (t_item, t_expression, t_judgement) in zip(rows, typed, strict=True):
        _, item, expression, judged, confidence, ms = row
        assert (item, expression) == (t_item, t_expression)
        assert f"{judged}-{'sure' if confidence == 2 else 'unsure'}" == t_judgement and ms > 0

    try:
        assert [scripted_rater(url, links[f"r{k}"], items, seed=k) for k in (1, 2, 3)] == [29, 29, 29]
    finally:
        stop_server(proc)

    ckpt = self_describing_checkpoint(tmp_path / "classifier.ckpt")
    printed = cli(["report", str(study), "--checkpoint", str(ckpt)], capsys)
    assert f"figure: {study / 'report' / 'report.png'}" in printed
    md = (study / "report" / "report.md").read_text()
    assert "4 rater(s) answered" in md and "The classifier on the same faces" in md
    images = (study / "report" / "images.csv").read_text().splitlines()
    assert len(images) == 1 + 28
    shutil.copy(study / "report" / "report.png", shots / "study_report.png")
    target = os.environ.get("FER_STUDY_SCREENSHOTS")
    if target:
        for name in ("study_rating.png", "study_report.png"):
            shutil.copy(shots / name, Path(target) / name)
