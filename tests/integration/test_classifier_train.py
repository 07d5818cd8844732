"""The classifier through the real `train(cfg)`: phase switch, scheduler, checkpoints and resume; the paper's four
backbones on CPU (slow)."""

from __future__ import annotations

import json

import pytest
import torch
from omegaconf import open_dict

from tests.conftest import compose_cfg
from train import train

PAPER = ["vgg16", "vgg19", "inception_v3", "inception_resnet_v2"]


def test_train_across_switch_with_scheduler_then_resume(cfg_demo, tmp_path):
    with open_dict(cfg_demo):
        cfg_demo.model.scheduler = compose_cfg(["model/scheduler=plateau"]).model.scheduler
        cfg_demo.callbacks.phase_switch.k = 2
    first = train(cfg_demo)
    out = tmp_path / "run"
    assert first["epochs"] == 2 and set(first["tests"]) == {"ckplus", "jaffe"}
    assert "val_acc" in first["best_checkpoint"]  # tested with the checkpoint chosen on validation
    assert (out / "confusion_val.png").is_file() and (out / "confusion_ckplus.png").is_file()
    last = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)  # loadable the safe way
    groups = last["optimizer_states"][0]["param_groups"]
    assert len(groups) == 2 and groups[1]["lr"] == cfg_demo.callbacks.phase_switch.lr
    assert sorted(last["val_history"]) == [0, 1]
    # resume: one more epoch from last.ckpt (results.json removed, a longer schedule)
    (out / "results.json").unlink()
    with open_dict(cfg_demo):
        cfg_demo.trainer.max_epochs = 3
    second = train(cfg_demo)
    assert second["epochs"] == 3
    resumed = torch.load(out / "checkpoints" / "last.ckpt", weights_only=True)
    assert len(resumed["optimizer_states"][0]["param_groups"]) == 2
    assert sorted(resumed["val_history"]) == [0, 1, 2]
    assert json.loads((out / "results.json").read_text())["epochs"] == 3


@pytest.mark.slow
@pytest.mark.parametrize("name", PAPER)
def test_paper_backbone_runs_on_cpu(name, tmp_path, synthetic_dir):
    """What `python train.py experiment=demo backbone=<name> logger=none trainer.fast_dev_run=true` runs."""
    cfg = compose_cfg(
        [
            "experiment=demo",
            f"backbone={name}",
            "logger=none",
            "trainer.fast_dev_run=true",
            f"paths.synthetic_dir={synthetic_dir}",
            f"paths.cache_dir={tmp_path / 'cache'}",
            f"paths.root_dir={tmp_path}",
            "+trainer.enable_progress_bar=false",
        ]
    )
    with open_dict(cfg):
        cfg.paths.output_dir = cfg.hydra.runtime.output_dir = str(tmp_path / "run")
    assert cfg.model.net.pretrained is False  # the demo's backbone.pretrained=false beats the group's default
    assert cfg.data.image_size == max(64, cfg.backbone.min_input_size)
    results = train(cfg)
    assert results["backbone"] == name and set(results["tests"]) == {"ckplus", "jaffe"}
    assert all(r["n"] > 0 for r in results["tests"].values())
