"""The whole pipeline through the real config: compose, shrink, call train(cfg)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from omegaconf import open_dict

from tests.conftest import compose_cfg, synthetic_overrides
from train import train


def test_train_demo_writes_results_split_and_confusion(demo_run):
    cfg_demo, results = demo_run
    out = Path(cfg_demo.paths.output_dir)
    saved = json.loads((out / "results.json").read_text())
    assert saved["tests"].keys() == {"ckplus", "jaffe"} == results["tests"].keys()
    for r in saved["tests"].values():
        assert 0.0 <= r["acc"] <= 1.0 and r["n"] > 0 and len(r["confusion"]) == 7
    split = json.loads((out / "split.json").read_text())
    assert not set(split["subjects"]["train"]) & set(split["subjects"]["val"])
    assert split["digest"] == saved["split"]["digest"]
    assert (out / "confusion_ckplus.png").stat().st_size > 0
    assert (out / "checkpoints" / "last.ckpt").is_file()
    assert saved["seed"] == cfg_demo.seed and saved["split_seed"] == cfg_demo.split_seed


def test_finished_run_is_skipped(cfg_demo):
    first = train(cfg_demo)
    ckpt = Path(cfg_demo.paths.output_dir) / "checkpoints" / "last.ckpt"
    mtime = ckpt.stat().st_mtime_ns
    assert train(cfg_demo) == first
    assert ckpt.stat().st_mtime_ns == mtime


def test_short_training_on_kdef_style_beats_chance(tmp_path, synthetic_dir):
    """A dozen epochs from scratch on the KDEF-styled faces beat chance (1/7) on held-out subjects' faces.

    With 5 held-out subjects (70 images) chance accuracy has a standard deviation of about 0.04, so 0.25 is
    well clear of it; the run typically reaches 0.35-0.6."""
    cfg = compose_cfg(
        [
            "experiment=demo",
            "logger=none",
            *synthetic_overrides(synthetic_dir),
            f"paths.cache_dir={tmp_path / 'cache'}",
            f"paths.root_dir={tmp_path}",
            "seed=3",
            "backbone.input_size=48",
            "trainer.max_epochs=12",
            "protocol.val_fraction=0.3",
            "protocol.tests=null",
            "+trainer.enable_progress_bar=false",
        ]
    )
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path / "run")
        cfg.hydra.runtime.output_dir = str(tmp_path / "run")
    results = train(cfg)
    val = results["metrics"]["val/acc"]
    assert results["split"]["images"]["val"] >= 70
    assert val > 0.25, results["metrics"]


@pytest.mark.parametrize("logger", ["csv", "none"])
def test_logger_configs_compose(logger):
    cfg = compose_cfg([f"logger={logger}"])
    assert (logger == "none") == (not cfg.get("logger"))
    assert cfg.backbone.name == "inception_resnet_v2" and cfg.data.name == "kdef"  # the paper's defaults
