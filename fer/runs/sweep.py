"""Sweep jobs and their folders, through Hydra's public override parser.

`job_dirname` is the `fer_job_dir` resolver behind `hydra.sweep.subdir` (conf/hydra/default.yaml), registered by
fer/runs/resolvers.py (train.py and generate.py call `register_resolvers()` on import), so that every process that
runs a job (the local one, joblib workers, submitit jobs) resolves the same folder name for the same configuration.
`expand_sweep` and `job_folder` recompute, from a sweep's `multirun.yaml`, which jobs it planned and where each one
writes.
"""

from __future__ import annotations

import hashlib
import itertools

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override

MAX_DIRNAME = 200  # file systems allow 255 bytes per name

# The override keys kept out of sweep folder names and run identities (conf/hydra/default.yaml reads them
# through the `fer_not_settings` resolver).
NOT_SETTINGS = [
    # `experiment` is out too: its sweep keys (data, backbone, seed, protocol.fold) name the folders and each
    # experiment sweeps into its own multirun/<task_name>/ folder; check_same_run guards the rest.
    "experiment",
    "logger",
    "hydra.sweep.dir",
    "hydra.launcher",
    "trainer.accelerator",
    "trainer.devices",
    "trainer.strategy",
    "trainer.num_nodes",
    "trainer.enable_progress_bar",
    "data.num_workers",
    "resume",
    "produce_missing",
    "produce_overrides",
    "local",
    # Path values would also put '/' into folder names.
    "paths.root_dir",
    "paths.data_dir",
    "paths.log_dir",
    "paths.cache_dir",
    "paths.synthetic_dir",
    "paths.kdef",
    "paths.ckplus",
    "paths.jaffe",
    "paths.pfa",
    "paths.web",
    "paths.offline_aug",
]


def job_dirname(override_dirname: str) -> str:
    """A job's sweep sub-folder from its overrides: '/' (path values) made safe, and names too long for a file
    system cut and suffixed with a digest of the full name, so each configuration still has its own folder."""
    name = override_dirname.replace("/", "_") or "default"
    if len(name.encode()) > MAX_DIRNAME:
        digest = hashlib.sha256(name.encode()).hexdigest()[:12]
        name = name.encode()[: MAX_DIRNAME - 13].decode(errors="ignore") + "-" + digest
    return name


def parse_overrides(overrides: list[str]) -> list[Override]:
    """Command-line overrides parsed by Hydra's own parser."""
    return OverridesParser.create().parse_overrides(list(overrides))


def expand_sweep(overrides: list[str]) -> list[list[str]]:
    """The jobs a basic-sweeper multirun runs for these overrides (`seed=1,2 data=a,b` -> 4 jobs), in Hydra's
    order: the cartesian product of each key's values, keys in the order given (a later one replaces an
    earlier one of the same key). Only discrete sweeps (`a,b`, `choice(...)`, `range(...)`) can be listed."""
    values: dict[str, list[str]] = {}
    for o in parse_overrides(overrides):
        key = o.get_key_element()
        if o.is_sweep_override():
            if not o.is_discrete_sweep():
                raise ValueError(f"{o.input_line}: only discrete sweeps can be listed in advance")
            values[key] = [f"{key}={v}" for v in o.sweep_string_iterator()]
        else:
            values[key] = [f"{key}={o.get_value_element_as_str()}"]
    return [list(job) for job in itertools.product(*values.values())]


def override_dirname(overrides: list[str], exclude_keys: list[str], item_sep: str = ",", kv_sep: str = "=") -> str:
    """`hydra.job.override_dirname` of a job: its overrides as typed, minus `exclude_keys`, sorted, joined."""
    lines = sorted(o.input_line for o in parse_overrides(overrides) if o.key_or_group not in set(exclude_keys))
    return item_sep.join(lines).replace("=", kv_sep)


def job_folder(overrides: list[str], exclude_keys: list[str]) -> str:
    """The sweep sub-folder of a job (`hydra.sweep.subdir` in conf/hydra/default.yaml)."""
    return job_dirname(override_dirname(overrides, exclude_keys))
