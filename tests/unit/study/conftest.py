"""Study fixtures: small folders of faces per class, a study made from them once and copied per test, and a
rater's browser stand-in over the framework's test client."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from starlette.testclient import TestClient

from fer.classes import CLASSES

BASE_URL = "http://127.0.0.1:8000"
HIDDEN = re.compile(r'<input type="hidden" name="(\w+)" (?:id="\w+" )?value="([^"]*)">')


def write_class_images(root: Path, per_class: int, size: int, seed: int, classes=CLASSES) -> Path:
    """`root/<class>/img_NN.png`: smooth grey blobs, different for every image."""
    rng = np.random.default_rng(seed)
    for c in classes:
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            small = rng.integers(0, 256, (4, 4), dtype=np.uint8)
            img = cv2.resize(small, (size, size), interpolation=cv2.INTER_CUBIC)
            cv2.imwrite(str(root / c / f"img_{i:02d}.png"), img)
    return root


@pytest.fixture(scope="session")
def image_folders(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("study_inputs")
    return {
        "generated": write_class_images(root / "generated", 4, 32, seed=1),
        "real": write_class_images(root / "real", 4, 48, seed=2),
    }


@pytest.fixture(scope="session")
def template_study(tmp_path_factory, image_folders) -> Path:
    """28 faces: 2 generated and 2 real per class, 32 px grey."""
    from fer.study.create import create_study

    out = tmp_path_factory.mktemp("template") / "study"
    create_study(out, image_folders["generated"], str(image_folders["real"]), per_class=2, overrides=["faces=none"])
    return out


@pytest.fixture
def study_dir(tmp_path, template_study) -> Path:
    dst = tmp_path / "study"
    shutil.copytree(template_study, dst)
    return dst


def fields(html: str) -> dict[str, str]:
    """The hidden fields of the rating page's form (csrf, position, item)."""
    return {k: v for k, v in HIDDEN.findall(html) if k != "elapsed_ms"}


class Rater:
    """One rater's browser: their link opened through the test client (cookies kept), then answers."""

    def __init__(self, app, token: str):
        self.client = TestClient(app, base_url=BASE_URL)
        self.page = self.client.get(f"/r/{token}")

    def form(self) -> dict[str, str]:
        return fields(self.page.text)

    def answer(self, expression: str = "happy", judgement: str = "real-sure", **changes):
        data = {**self.form(), "expression": expression, "judgement": judgement, "elapsed_ms": "1500", **changes}
        data = {k: v for k, v in data.items() if v is not None}
        response = self.client.post("/answer", data=data)
        if response.status_code == 200:
            self.page = response
        return response
