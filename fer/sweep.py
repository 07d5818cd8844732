"""Sweep folder names: the `fer_job_dir` resolver behind `hydra.sweep.subdir` (conf/hydra/default.yaml).

Registered by fer/resolvers.py when the `fer` package is imported, so that every process that runs a job
(the local one, joblib
workers, submitit jobs) resolves the same folder name for the same configuration.
"""

from __future__ import annotations

import hashlib

MAX_DIRNAME = 200  # file systems allow 255 bytes per name


def job_dirname(override_dirname: str) -> str:
    """A job's sweep sub-folder from its overrides: '/' (path values) made safe, and names too long for a file
    system cut and suffixed with a digest of the full name, so each configuration still has its own folder."""
    name = override_dirname.replace("/", "_") or "default"
    if len(name.encode()) > MAX_DIRNAME:
        digest = hashlib.sha256(name.encode()).hexdigest()[:12]
        name = name.encode()[: MAX_DIRNAME - 13].decode(errors="ignore") + "-" + digest
    return name
