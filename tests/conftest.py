"""Shared fixtures: the real Hydra config, shrunk for CPU, and synthetic datasets rendered once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import DictConfig, open_dict

from fer.runs.resolvers import register_resolvers

register_resolvers()  # ${fer_job_dir:...}, ${fer_cwd:}, ${max:...} in conf/, in every job process

ROOT = Path(__file__).resolve().parents[1]
CONF = str(ROOT / "conf")

os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")


@pytest.fixture(scope="session")
def synthetic_dir(tmp_path_factory) -> Path:
    """Small synthetic KDEF/CK+/JAFFE trees shared by the whole session."""
    return render_synthetic(tmp_path_factory.mktemp("synthetic"))


# The session's synthetic trees; cfg_demo passes the same options to the sources so no job re-renders them.
SYNTHETIC_OPTIONS = {"kdef": {"subjects": 16, "angles": ["S"]}, "ckplus": {"subjects": 6}, "jaffe": {}}


def render_synthetic(root: Path, options: dict = SYNTHETIC_OPTIONS) -> Path:
    """Render each style's tree under root/<style> with the given renderer options."""
    from fer.synthetic import render

    for style, opts in options.items():
        render(style, root / style, **opts)
    return root


def synthetic_option_overrides(options: dict = SYNTHETIC_OPTIONS) -> list[str]:
    """Overrides that make the jobs' sources render with `options`, so they find the trees already rendered."""
    out = []
    for style, opts in options.items():
        for k, v in opts.items():
            v = "[" + ",".join(v) + "]" if isinstance(v, list) else str(v).lower()
            out.append(f"++sources.{style}.synthetic_options.{k}={v}")
    return out


def synthetic_overrides(synthetic_dir, options: dict = SYNTHETIC_OPTIONS) -> list[str]:
    return [f"paths.synthetic_dir={synthetic_dir}", *synthetic_option_overrides(options)]


def compose_cfg(overrides: list[str], config_name: str = "train.yaml") -> DictConfig:
    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=CONF):
        return compose(config_name=config_name, overrides=overrides, return_hydra_config=True)


@pytest.fixture
def cfg_demo(tmp_path, synthetic_dir) -> DictConfig:
    """The demo experiment, shrunk: tiny images, few batches, CPU, no logger, outputs under tmp_path."""
    return shrunk_demo_cfg(tmp_path, synthetic_dir)


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory, synthetic_dir) -> tuple[DictConfig, dict]:
    """One shrunk demo run, shared by the tests that only read what a run leaves: (its config, its results)."""
    from train import train

    cfg = shrunk_demo_cfg(tmp_path_factory.mktemp("demo_run"), synthetic_dir)
    return cfg, train(cfg)


def shrunk_demo_cfg(tmp_path: Path, synthetic_dir: Path, *extra: str) -> DictConfig:
    """What `cfg_demo` gives, with `extra` overrides (e.g. `recipe=modern`) composed in."""
    cfg = compose_cfg(
        [
            "experiment=demo",
            *extra,
            "logger=none",
            *synthetic_overrides(synthetic_dir),
            f"paths.cache_dir={tmp_path / 'cache'}",
            f"paths.root_dir={tmp_path}",
            "backbone.input_size=32",
            "trainer.max_epochs=2",
            "+trainer.limit_train_batches=2",
            "+trainer.limit_val_batches=1",
            "+trainer.limit_test_batches=1",
            "+trainer.enable_progress_bar=false",
        ]
    )
    with open_dict(cfg):
        cfg.paths.output_dir = str(tmp_path / "run")
        cfg.hydra.runtime.output_dir = str(tmp_path / "run")
    return cfg


@pytest.fixture(scope="session")
def trained_run(demo_run) -> tuple[DictConfig, Path]:
    """The shared demo run's config and checkpoint (read-only for its users)."""
    cfg, results = demo_run
    return cfg, Path(results["best_checkpoint"] or Path(cfg.paths.output_dir) / "checkpoints" / "last.ckpt")
