"""`python train.py -m data=...` over variants: a job whose source is missing fails with a clear message and
the other jobs still run to the end (a real Hydra multirun on tiny synthetic data)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import ROOT


def test_sweep_over_variants_runs_every_job_and_names_missing_sources(tmp_path):
    env = {**os.environ, "FER_ROOT": str(tmp_path), "WANDB_MODE": "offline"}
    cmd = [
        sys.executable,
        str(ROOT / "train.py"),
        "-m",
        "data=kdef_pfa,kdef_ol,kdef_q",
        "experiment=demo",
        "logger=none",
        "++sources.kdef.synthetic_options={subjects:6,angles:[S],akdef:false}",
        "protocol.tests=null",
        "backbone.input_size=32",
        "trainer.max_epochs=1",
        "+trainer.limit_train_batches=2",
        "+trainer.limit_val_batches=1",
        "+trainer.enable_progress_bar=false",
        f"hydra.sweep.dir={tmp_path / 'sweep'}",
    ]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, "a sweep with failed jobs must not report success"
    results = [json.loads(p.read_text()) for p in (tmp_path / "sweep").rglob("results.json")]
    assert [r["variant"] for r in results] == ["kdef_ol"], out[-3000:]  # ran although kdef_pfa failed before it
    train, val = results[0]["split"]["images"]["train"], results[0]["split"]["images"]["val"]
    assert train == 6 * (84 - val)  # the originals of the training subjects and 5 copies each
    assert f"training source pfa: {tmp_path / 'data' / 'PFA'} does not exist; place the PFA images" in out
    assert (
        f"training source gan_q: {tmp_path / 'data' / 'generated' / 'kdef_gan_q'} does not exist; "
        f"python generate.py task=gan emotion=<class> (for each class) out_dir="
    ) in out
