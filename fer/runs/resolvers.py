"""OmegaConf resolvers the config tree uses. `register_resolvers()` is called by train.py and generate.py when they
are imported, so every process that runs a job (local, joblib or submitit) resolves them the same way, and by the
readers of a sweep's saved config (fer/runs/record.py).

- `fer_job_dir`: a sweep job's folder name from its overrides (`hydra.sweep.subdir`, see fer/runs/sweep.py).
- `fer_not_settings`: the override keys kept out of sweep folder names (fer/runs/sweep.py, `NOT_SETTINGS`).
- `fer_cwd`: the working directory, for `paths.root_dir` when a config is composed outside `@hydra.main`
  (tests, notebooks), where `${hydra:runtime.cwd}` is not available.
- `max`: `${max:${backbone.input_size},${backbone.min_input_size}}` in conf/data, so the image size never goes
  below what the backbone accepts (the 64 px demo with inception_v3, whose trunk needs 75 px).
"""

from __future__ import annotations

import os

from omegaconf import OmegaConf

from fer.runs.sweep import NOT_SETTINGS, job_dirname

RESOLVERS = {
    "fer_job_dir": job_dirname,
    "fer_not_settings": lambda: list(NOT_SETTINGS),
    "fer_cwd": os.getcwd,
    "max": lambda *xs: max(xs),
}


def register_resolvers() -> None:
    """Register the resolvers with OmegaConf (once; later calls do nothing)."""
    for name, fn in RESOLVERS.items():
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)
