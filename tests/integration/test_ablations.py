"""The ablation experiments compose with their question and how to read them, list the jobs their header
promises, and a shrunken copy of each runs end to end on the synthetic faces."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from omegaconf import open_dict

from fer.classes import CLASSES
from fer.data.catalogue import Source
from fer.runs.sweep import expand_sweep
from tests.conftest import ROOT, compose_cfg, synthetic_overrides
from tests.helpers.data_trees import face, write

ABLATIONS = {"ablation_augmentation": 4 * 3 * 3, "ablation_finetune": 4 * 3 * 2 * 3}


@pytest.mark.parametrize("name", sorted(ABLATIONS))
def test_ablation_composes_with_its_question_and_its_jobs(name):
    text = (ROOT / "conf" / "experiment" / f"{name}.yaml").read_text()
    assert text.startswith("# @package _global_\n# Question:") and "How to read it:" in text
    assert f"python -m fer.report multirun/{name} --compare" in text
    cfg = compose_cfg([f"experiment={name}"])
    assert cfg.task_name == name and cfg.hydra.sweep.dir == f"multirun/{name}" and cfg.optimized_metric == "val/acc"
    jobs = expand_sweep([f"{k}={v}" for k, v in cfg.hydra.sweeper.params.items()])
    assert len(jobs) == ABLATIONS[name] and f"{ABLATIONS[name]} runs" in text


def _shrunk(tmp_path: Path, synthetic_dir: Path, *overrides: str):
    cfg = compose_cfg(
        [
            *overrides,
            "sources=synthetic",
            *synthetic_overrides(synthetic_dir),
            "backbone=resnet10t",
            "backbone.input_size=32",
            "trainer=cpu",
            "trainer.max_epochs=2",
            "+trainer.limit_train_batches=2",
            "+trainer.limit_val_batches=1",
            "+trainer.limit_test_batches=1",
            "logger=none",
            f"paths.root_dir={tmp_path}",
            f"paths.cache_dir={tmp_path / 'cache'}",
        ]
    )
    with open_dict(cfg):
        cfg.paths.output_dir = cfg.hydra.runtime.output_dir = str(tmp_path / "run")
    return cfg


def test_shrunken_augmentation_ablation_job_runs(tmp_path, synthetic_dir):
    from train import train

    gan = tmp_path / "gan_q"  # stand-in GAN samples: two per class
    for i, c in enumerate(CLASSES):
        for k in range(2):
            write(gan / c / f"{c}_{k:04d}.png", face(seed=10 * i + k, gray=True))
    cfg = _shrunk(
        tmp_path,
        synthetic_dir,
        "experiment=ablation_augmentation",
        "data.offline_aug.copies=1",
        "data.gan_fraction=0.5",
        f"paths.gan_q={gan}",
    )
    results = train(cfg)
    assert results["variant"] == "kdef_q" and set(results["tests"]) == {"ckplus", "jaffe"}
    split = json.loads((tmp_path / "run" / "split.json").read_text())
    train_images, val_images = split["images"]["train"], split["images"]["val"]
    kdef = len(Source.from_config("kdef", cfg.sources.kdef).read())
    # gan_fraction=0.5 keeps one of the two GAN images per class; copies=1 doubles the training originals.
    assert train_images == 2 * (kdef - val_images) + len(CLASSES)


def test_shrunken_finetune_ablation_job_runs(tmp_path, synthetic_dir, caplog):
    from train import train

    caplog.set_level(logging.INFO, logger="fer.callbacks.phase_switch")

    cfg = _shrunk(
        tmp_path,
        synthetic_dir,
        "experiment=ablation_finetune",
        "callbacks.phase_switch.k=2",
        "callbacks.phase_switch.unfreeze_at=1",
    )
    results = train(cfg)
    assert results["variant"] == "kdef" and set(results["tests"]) == {"ckplus", "jaffe"}
    assert "phase 2 at epoch 1: 2 of" in caplog.text  # the swept k and switch epoch reach the phase switch
