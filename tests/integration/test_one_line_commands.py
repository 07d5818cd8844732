"""The README's one-line commands for any dataset, end to end on tiny native trees, through the real config;
the official protocol's leakage guard; preflight naming every missing source; quick answers from train.py."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import hydra
import pytest
from omegaconf import open_dict

from fer.data.splits import LeakageError
from tests.conftest import ROOT, compose_cfg, synthetic_overrides
from tests.helpers.data_trees import fer2013_csv, fer2013_folders, folder_split_tree, rafdb_tree
from train import train

SHRINK = [
    "logger=none",
    "backbone=resnet10t",
    "backbone.pretrained=false",
    "backbone.input_size=32",
    "trainer=cpu",
    "trainer.max_epochs=1",
    "+trainer.limit_train_batches=1",
    "+trainer.limit_val_batches=1",
    "+trainer.limit_test_batches=1",
    "+trainer.enable_progress_bar=false",
    "callbacks.phase_switch=null",
]


def run(tmp_path, command: list[str]) -> dict:
    """The command's overrides, shrunk for CPU, run through train(cfg); returns results.json."""
    cfg = compose_cfg([*command, *SHRINK, f"paths.root_dir={tmp_path}", f"paths.cache_dir={tmp_path / 'cache'}"])
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path / "run")
    results = train(cfg)
    saved = json.loads((tmp_path / "run" / "results.json").read_text())
    assert saved["tests"].keys() == results["tests"].keys()
    return results


def test_fer2013_official_split(tmp_path):
    root = fer2013_csv(tmp_path / "fer2013", rows=42)
    results = run(tmp_path, ["data=fer2013", "protocol=official", f"paths.fer2013={root.parent}"])
    assert results["protocol"] == "official" and list(results["tests"]) == ["fer2013"]
    split = json.loads((tmp_path / "run" / "split.json").read_text())
    # Training / PublicTest / PrivateTest, 14 rows each (the two bad rows skipped)
    assert split["images"] == {"train": 14, "val": 14, "test:fer2013": 14}
    assert results["tests"]["fer2013"]["n"] == 14


def test_rafdb_official_split_validates_on_held_out_training_images(tmp_path):
    root = rafdb_tree(tmp_path, per_class=2)
    results = run(tmp_path, ["data=rafdb", "protocol=official", f"paths.rafdb={root}"])
    split = json.loads((tmp_path / "run" / "split.json").read_text())
    assert list(results["tests"]) == ["rafdb"] and split["images"]["test:rafdb"] == 14
    assert split["images"]["train"] + split["images"]["val"] == 28 and split["images"]["val"] > 0


def test_folder_kfold(tmp_path):
    root = folder_split_tree(tmp_path)
    results = run(tmp_path, ["data=folder", f"paths.folder={root}", "protocol=kfold"])
    assert list(results["tests"]) == ["fold0"] and results["tests"]["fold0"]["n"] > 0
    split = json.loads((tmp_path / "run" / "split.json").read_text())
    assert sum(split["images"].values()) == 48  # the folder alone: data=folder pools with nothing


def test_kdef_tested_on_ckplus_jaffe_and_fer2013(tmp_path, synthetic_dir):
    fer = fer2013_folders(tmp_path)
    command = ["data=kdef", "protocol.tests=[ckplus,jaffe,fer2013]", f"paths.fer2013={fer}", "sources=synthetic"]
    results = run(tmp_path, [*command, *synthetic_overrides(synthetic_dir)])
    assert list(results["tests"]) == ["ckplus", "jaffe", "fer2013"]
    split = json.loads((tmp_path / "run" / "split.json").read_text())
    assert split["images"]["test:fer2013"] == 12  # FER2013's test split, not all of it


def test_official_leakage_guard_catches_a_planted_overlap(tmp_path):
    root = folder_split_tree(tmp_path)
    # One subject per class name: the same "person" in train, val and test.
    planted = ["++sources.folder.options.subject_pattern='^(?P<subject>[a-z]+)_'"]
    cfg = compose_cfg(["data=folder", "protocol=official", f"paths.folder={root}", *planted, *SHRINK])
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path / "run")
        cfg.paths.cache_dir = str(tmp_path / "cache")
    dm = hydra.utils.instantiate(cfg.data, _convert_="all")
    with pytest.raises(LeakageError, match="subject"):
        dm.setup("fit")


def _train_py(tmp_path, *overrides: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "train.py", f"hydra.run.dir={tmp_path / 'out'}", "logger=none", *overrides],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )


def test_two_missing_sources_are_named_in_one_message_without_a_traceback(tmp_path):
    start = time.time()
    r = _train_py(
        tmp_path,
        "data=kdef_q",
        f"paths.kdef={tmp_path / 'no_kdef'}",
        f"paths.gan_q={tmp_path / 'no_gan'}",
        "protocol.tests=[jaffe]",
        f"paths.jaffe={tmp_path / 'no_jaffe'}",
    )
    out = r.stdout + r.stderr
    assert r.returncode != 0
    assert "3 data source(s) this run needs are missing" in out, out[-3000:]
    assert f"training source kdef: {tmp_path / 'no_kdef'} does not exist; unpack KDEF_and_AKDEF.zip" in out
    assert f"training source gan_q: {tmp_path / 'no_gan'} does not exist; python generate.py task=gan" in out
    assert f"test set jaffe: {tmp_path / 'no_jaffe'}" in out
    assert "Traceback" not in out, out[-3000:]
    assert time.time() - start < 120  # before any data is read or any model is built


def test_help_and_config_answer_without_loading_torch(tmp_path):
    probe = "import sys, train; print('torch' in sys.modules, 'pytorch_lightning' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0 and r.stdout.strip().splitlines()[-1] == "False False", r.stdout + r.stderr
    r = _train_py(tmp_path, "data=rafdb", "protocol=official", "protocol.tests=[ckplus]", "--cfg", "job")
    assert r.returncode == 0 and "_target_: fer.data.protocols.OfficialSplit" in r.stdout
