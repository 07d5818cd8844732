"""fer/runs/record.py: run records (schema versions), run identity, and sweep folders named as Hydra names them."""

from __future__ import annotations

import json

import pytest

from fer.runs.record import NOT_SETTINGS, RunFolderTakenError, RunRecord, check_same_run, read_record, setting_overrides
from fer.runs.sweep import expand_sweep, job_folder
from tests.conftest import compose_cfg


def test_records_round_trip_and_old_files_read(tmp_path):
    record = RunRecord(task_name="demo", variant="kdef", seed=2, metrics={"val/acc": 0.5}, tests={"ckplus": {}})
    record.save(tmp_path)
    assert read_record(tmp_path) == record and record.schema_version == 2
    old = {"task_name": "demo", "variant": "kdef", "seed": 2, "metrics": {}, "a_future_field": 1}  # no version
    (tmp_path / "results.json").write_text(json.dumps(old))
    back = read_record(tmp_path)
    assert back.schema_version == 1 and back.variant == "kdef" and back.tests == {} and back.backbone is None
    assert read_record(tmp_path / "elsewhere") is None


def test_identity_decides_reuse_and_settings_group_the_report(tmp_path):
    cfg = compose_cfg(["experiment=demo", "logger=none", "seed=2", f"paths.output_dir={tmp_path}"])
    record = RunRecord(
        task_name="demo", variant="kdef", backbone="resnet10t", protocol="cross_db", seed=2, split_seed=0
    )
    check_same_run(record, cfg)
    record.seed = 3
    with pytest.raises(RunFolderTakenError, match="seed: 3 there, 2 now"):
        check_same_run(record, cfg)
    overrides = ["experiment=demo", "data=kdef", "seed=2", "paths.kdef=/x", "model.optimizer.lr=0.1", "logger=csv"]
    assert setting_overrides(overrides) == {"model.optimizer.lr=0.1"}


@pytest.mark.parametrize(
    "overrides",
    [
        ["experiment=demo", "seed=3", "data=kdef_ol", "logger=none"],
        ["+trainer.limit_train_batches=2", "paths.kdef=/data/KDEF", "backbone=vgg16", "model.optimizer.lr=0.01"],
    ],
)
def test_job_folders_are_the_ones_hydra_names(overrides):
    cfg = compose_cfg(overrides)
    exclude = list(cfg.hydra.job.config.override_dirname.exclude_keys)
    assert exclude == NOT_SETTINGS  # the one definition reaches the Hydra config
    assert job_folder(list(cfg.hydra.overrides.task), exclude) == cfg.hydra.sweep.subdir


def test_sweeps_expand_like_hydras_basic_sweeper():
    jobs = expand_sweep(["data=kdef,kdef_ol", "seed=range(1,3)", "experiment=demo", "+x=choice(a,b)"])
    assert len(jobs) == 8 and jobs[0] == ["data=kdef", "seed=1", "experiment=demo", "+x=a"]
    assert jobs[-1] == ["data=kdef_ol", "seed=2", "experiment=demo", "+x=b"]
    with pytest.raises(ValueError, match="discrete"):
        expand_sweep(["model.optimizer.lr=interval(0.1,1)"])
