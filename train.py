"""Train and test one classifier: `python train.py backbone=inception_resnet_v2 data=kdef_pfa_q`.

`train(cfg)` is a plain function (tests call it); `main(cfg)` is the thin Hydra entry point that returns the
optimized (validation) metric for sweepers.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import hydra
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf

from fer.results import print_run_table, run_results
from fer.utils import atomic_write_json, finish_loggers, instantiate_dict, prepare_wandb, task_wrapper

log = logging.getLogger(__name__)


@task_wrapper
def train(cfg: DictConfig) -> dict:
    out = Path(cfg.paths.output_dir)
    done = out / "results.json"
    if cfg.get("resume") and done.is_file():
        log.info("finished earlier, skipping: %s", done)
        return json.loads(done.read_text())
    start = time.time()
    pl.seed_everything(cfg.seed, workers=True)
    torch.set_float32_matmul_precision("high")

    # plain dicts/lists (not DictConfig) in the saved hyperparameters: checkpoints load with weights_only=True
    datamodule: pl.LightningDataModule = hydra.utils.instantiate(cfg.data, _convert_="all")
    datamodule.setup("fit")
    model: pl.LightningModule = hydra.utils.instantiate(cfg.model, test_names=datamodule.test_names)
    callbacks = instantiate_dict(cfg.get("callbacks"))
    prepare_wandb(cfg)
    loggers = instantiate_dict(cfg.get("logger"))
    trainer: pl.Trainer = hydra.utils.instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    for lg in loggers:
        lg.log_hyperparams(OmegaConf.to_container(cfg, resolve=True))
    try:
        last = out / "checkpoints" / "last.ckpt"
        resume_from = str(last) if cfg.get("resume") and last.is_file() else None
        if resume_from:
            log.info("resuming from %s", resume_from)
        trainer.fit(model, datamodule=datamodule, ckpt_path=resume_from)
        best = getattr(trainer.checkpoint_callback, "best_model_path", "") or None
        if cfg.get("test") and datamodule.test_names:
            # The checkpoint chosen on validation accuracy; never a choice made on a test set.
            trainer.test(model, datamodule=datamodule, ckpt_path=best, verbose=False)
        results = run_results(cfg, trainer, model, datamodule, best, seconds=time.time() - start)
        atomic_write_json(done, results)
    finally:
        log_lines = finish_loggers(loggers)
    print_run_table(results, log_lines)
    return results


@hydra.main(version_base="1.3", config_path="conf", config_name="train.yaml")
def main(cfg: DictConfig) -> float | None:
    results = train(cfg)
    return results["metrics"].get(cfg.get("optimized_metric"))


if __name__ == "__main__":
    main()
