"""Train and test one classifier: `python train.py backbone=inception_resnet_v2 data=kdef_pfa_q`.

`train(cfg)` is a plain function (tests call it); `main(cfg)` is the thin Hydra entry point that returns the
optimized (validation) metric for sweepers.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

from fer.engine.config_checks import check_config
from fer.engine.lifecycle import build_trainer, instantiate_dict, open_loggers, task_wrapper
from fer.engine.overrides import check_overrides
from fer.engine.posthoc import fit_logit_adjustment
from fer.engine.results import print_run_table, run_results
from fer.engine.resume import finish_part, resume_checkpoint, start_part
from fer.engine.run_outputs import write_run_outputs
from fer.errors import ConfigError
from fer.runs.description import describe_run
from fer.runs.record import check_same_run, read_record
from fer.runs.resolvers import register_resolvers
from fer.tasks.variants import missing_hint

register_resolvers()  # ${fer_job_dir:...}, ${fer_cwd:}, ${max:...} in conf/, in every job process

log = logging.getLogger(__name__)


@task_wrapper
def train(cfg: DictConfig) -> dict:
    check_entry(cfg)
    check_config(cfg)  # before any data is read
    # torch and Lightning load here, when a run really starts: --help, --cfg and config errors answer at once
    import pytorch_lightning as pl
    import torch

    from fer.data.catalogue import MissingSourceError

    out = Path(cfg.paths.output_dir)
    done = read_record(out) if cfg.get("resume") else None
    if done is not None:
        check_same_run(done, cfg)
        log.info("finished earlier, skipping: %s", out)
        return done.to_dict()
    start = time.time()
    pl.seed_everything(cfg.seed, workers=True)
    torch.set_float32_matmul_precision("high")

    # plain dicts/lists (not DictConfig) in the saved hyperparameters: checkpoints load with weights_only=True
    datamodule: pl.LightningDataModule = hydra.utils.instantiate(cfg.data, _convert_="all")
    try:
        datamodule.preflight()  # every source the run needs, all missing ones named at once, before any is read
    except MissingSourceError as e:
        hint = missing_hint(datamodule, cfg)  # only derived sources missing: the one command that builds them
        if not hint:
            raise
        head, _, problems = str(e).partition("\n")  # the sources stay last (a sweep's summary shows the last line)
        raise MissingSourceError(f"{head.rstrip(':')}; {hint}:\n{problems}") from None
    # The protocol names the test sets before any data is read; Lightning runs the data setup inside fit.
    model: pl.LightningModule = hydra.utils.instantiate(cfg.model, test_names=datamodule.test_names)
    # network, the training faces' pipeline (as the data module crops them), training data: the checkpoint alone
    # predicts
    model.describe(describe_run(cfg, datamodule.training_pipeline))
    loggers = open_loggers(cfg)  # closed by the task wrapper, also when training fails
    trainer = build_trainer(cfg.trainer, instantiate_dict(cfg.get("callbacks")), loggers)
    for lg in loggers:
        lg.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
    resume_from = resume_checkpoint(out, enabled=bool(cfg.get("resume")))
    if resume_from:
        log.info("resuming from %s", resume_from)
    if trainer.is_global_zero:
        start_part(out, resume_from, new_run=not cfg.get("resume"))
    # Checkpoints hold plain values only: they load with torch's safe weights-only unpickler.
    trainer.fit(model, datamodule=datamodule, ckpt_path=resume_from, weights_only=True)
    best = getattr(trainer.checkpoint_callback, "best_model_path", "") or None
    # model.logit_adjust: tau fitted on validation, stored in the chosen checkpoint before anything is scored with it
    fit_logit_adjustment(trainer, model, datamodule, best)
    if cfg.get("test") and datamodule.test_names:
        # The checkpoint chosen on validation accuracy; never a choice made on a test set.
        trainer.test(model, datamodule=datamodule, ckpt_path=best, verbose=False, weights_only=True)
    record = run_results(cfg, trainer, model, datamodule, best, seconds=time.time() - start)
    # Per-image predictions (test sets and validation, from the same chosen weights) and calibration figures.
    write_run_outputs(record, trainer, model, datamodule, best)
    parts = finish_part(out, time.time() - start)  # every part of a resumed run: "resumed", "seconds_total"
    record.resumed, record.seconds_total = parts["resumed"], parts["seconds_total"]
    if trainer.is_global_zero:  # one writer under DDP
        record.save(out)
    results = record.to_dict()
    print_run_table(results)
    return results


@hydra.main(version_base="1.3", config_path="conf", config_name="train.yaml")
def main(cfg: DictConfig) -> float | None:
    results = train(cfg)
    metric = cfg.get("optimized_metric")
    if metric and metric not in results["metrics"]:
        raise ConfigError(f"optimized_metric={metric!r} is not among this run's metrics {sorted(results['metrics'])}")
    return results["metrics"].get(metric)


def check_entry(cfg: DictConfig) -> None:
    """Refuse settings that would make a sweep dishonest or broken before any work starts."""
    metric = str(cfg.get("optimized_metric") or "")
    if metric.startswith("test"):
        raise ConfigError(
            f"optimized_metric={metric!r}: sweepers and hyperparameter searches must optimize a "
            f"validation metric (e.g. val/acc), never a test set"
        )
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    strategy = str(cfg.trainer.get("strategy", ""))
    distributed = strategy.startswith("ddp") and (
        str(cfg.trainer.get("devices")) != "1" or cfg.trainer.get("num_nodes", 1) > 1
    )
    if distributed and (cfg.get("callbacks") or {}).get("phase_switch") is not None:
        # torch's DistributedDataParallel registers only the parameters that require grad when it wraps the
        # model, so blocks the phase switch unfreezes later would train unsynchronised on each rank
        # (Lightning-AI/pytorch-lightning#20340). Refuse rather than report silently diverged replicas.
        raise ConfigError(
            "trainer.strategy=ddp with the phase switch (callbacks.phase_switch) would leave the unfrozen "
            "trunk blocks unsynchronised across GPUs; run one GPU per job (sweeps parallelise across "
            "jobs: hydra/launcher=local or slurm), or train without the phase switch "
            "(callbacks.phase_switch=null)"
        )
    if (
        HydraConfig.initialized()
        and HydraConfig.get().mode == RunMode.MULTIRUN
        and distributed
        and "SLURM_NTASKS" not in os.environ
    ):
        # Lightning re-runs the command line for each extra rank, so with -m every rank would run the whole
        # sweep (and ddp_spawn keeps the test results in the workers); SLURM starts the ranks itself.
        raise ConfigError(
            f"trainer.strategy={strategy} inside a local multirun (-m): each DDP rank would re-run the "
            f"whole sweep; run DDP jobs one at a time, or sweep through hydra/launcher=slurm "
            f"(one SLURM task per GPU)"
        )


if __name__ == "__main__":
    check_overrides(Path(__file__).parent / "conf", "train.yaml")  # an unknown key: the nearest one, never a `+`
    main()
