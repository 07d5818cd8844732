"""Generation tasks: `python generate.py task=<augment|gan|gan_eval> ...` (see conf/generate.yaml).

`generate(cfg)` is a plain function; `main(cfg)` is the thin Hydra entry point.
"""

from __future__ import annotations

import importlib
import json
import logging
from pathlib import Path

import hydra
from omegaconf import DictConfig

from fer.engine.config_checks import check_config
from fer.engine.lifecycle import task_wrapper
from fer.engine.overrides import check_overrides
from fer.errors import ConfigError
from fer.runs.resolvers import register_resolvers

register_resolvers()  # ${fer_job_dir:...}, ${fer_cwd:}, ${max:...} in conf/, in every job process

log = logging.getLogger(__name__)


@task_wrapper
def generate(cfg: DictConfig) -> dict:
    check_config(cfg)  # before any data is read
    name = cfg.task.name
    try:
        module = importlib.import_module(f"fer.tasks.{name}")
    except ModuleNotFoundError:
        raise ConfigError(f"unknown generation task {name!r}; see conf/task/") from None
    return module.run(cfg)


@hydra.main(version_base="1.3", config_path="conf", config_name="generate.yaml")
def main(cfg: DictConfig) -> None:
    result = generate(cfg)
    print(json.dumps(result, indent=1, default=str))


if __name__ == "__main__":
    check_overrides(Path(__file__).parent / "conf", "generate.yaml")  # an unknown key: the nearest one, never a `+`
    main()
