"""Study fixtures: small folders of faces per class, a study made from them once and copied per test, a
rater's browser stand-in over the framework's test client, the real server in a process, a classifier checkpoint."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from starlette.testclient import TestClient

from fer.classes import CLASSES
from fer.study.process import start_server, stop_server  # noqa: F401  (used by the study tests)

ROOT = Path(__file__).resolve().parents[3]
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


def self_describing_checkpoint(path: Path) -> Path:
    """A train.py-style checkpoint of the demo's network (random weights) that describes itself."""
    import hydra
    import torch
    from omegaconf import DictConfig, ListConfig, OmegaConf

    from fer.runs.description import describe_run
    from tests.conftest import compose_cfg

    cfg = compose_cfg(["experiment=demo", "logger=none", "backbone.input_size=32"])
    torch.manual_seed(0)
    model = hydra.utils.instantiate(cfg.model)
    model.describe(describe_run(cfg))
    hparams = {
        k: OmegaConf.to_container(v, resolve=True) if isinstance(v, DictConfig | ListConfig) else v
        for k, v in model.hparams.items()
    }
    torch.save({"state_dict": model.state_dict(), "hyper_parameters": hparams}, path)
    return path
