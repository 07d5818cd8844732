"""OmegaConf resolvers the config tree uses, registered when the `fer` package is imported (so every process
that runs a job, local, joblib or submitit, resolves them the same way).

- `fer_job_dir`: a sweep job's folder name from its overrides (`hydra.sweep.subdir`, see fer/sweep.py).
- `fer_not_settings`: the override keys kept out of sweep folder names (fer/runs.py, `NOT_SETTINGS`).
- `fer_cwd`: the working directory, for `paths.root_dir` when a config is composed outside `@hydra.main`
  (tests, notebooks), where `${hydra:runtime.cwd}` is not available.
- `max`: `${max:${backbone.input_size},${backbone.min_input_size}}` in conf/data, so the image size never goes
  below what the backbone accepts (the 64 px demo with inception_v3, whose trunk needs 75 px).
"""

from __future__ import annotations

import os

from omegaconf import OmegaConf

from fer.runs import NOT_SETTINGS
from fer.sweep import job_dirname

RESOLVERS = {
    "fer_job_dir": job_dirname,
    "fer_not_settings": lambda: list(NOT_SETTINGS),
    "fer_cwd": os.getcwd,
    "max": lambda *xs: max(xs),
}

for _name, _fn in RESOLVERS.items():
    if not OmegaConf.has_resolver(_name):
        OmegaConf.register_new_resolver(_name, _fn)
