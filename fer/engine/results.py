"""One run's results: its record (`results.json`, fer/runs/record.py) from a finished Trainer, and the table
it prints."""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf
from rich.console import Console
from rich.table import Table

from fer.evaluation.predictions import predictions_dir
from fer.runs.description import uses_synthetic_data
from fer.runs.record import RunRecord, identity


def _num(v) -> str:
    return "" if v is None else f"{v:.3f}"


def _float(v):
    return float(v.item() if hasattr(v, "item") else v)


def run_results(cfg, trainer, model, datamodule, best_ckpt: str | None, seconds: float) -> RunRecord:
    """The record of a run that has fitted and tested: identity, overrides, validation metrics (of the chosen
    checkpoint when one was kept), test results, skipped test sets, split digest and GAN exposure."""
    cb = trainer.callback_metrics
    metrics = {k: _float(v) for k, v in cb.items() if k.startswith(("val/", "train/"))}
    ckpt_cb = trainer.checkpoint_callback
    if ckpt_cb is not None and ckpt_cb.best_model_score is not None:
        metrics["val/acc"] = _float(ckpt_cb.best_model_score)  # validation score of the chosen checkpoint
    elif getattr(model, "val_results", None):  # no checkpoint kept (e.g. fast_dev_run): the last validation epoch
        metrics.update({"val/acc": model.val_results["acc"], "val/f1": model.val_results["f1"]})
    gan = datamodule.split.get("gan") or {}
    skipped = [n for n in getattr(datamodule, "test_names", []) if n not in model.test_results]
    return RunRecord(
        **identity(cfg),
        overrides=task_overrides(cfg),
        metrics=metrics,
        tests=model.test_results,
        skipped_tests=skipped,
        skipped_reasons=dict.fromkeys(skipped, "no images"),
        split={"digest": datamodule.split.get("digest"), "images": datamodule.split.get("images")},
        # Whether a GAN behind the training samples was trained on subjects of the test side (k-fold with a
        # GAN trained on all of KDEF): the test accuracy is then not subject-independent for those subjects.
        gan_saw_test_subjects=_gan_saw_test(gan),
        gan=gan,
        synthetic_data=uses_synthetic_data(cfg),
        logit_adjustment=model.hparams.get("logit_adjustment") or {},
        best_checkpoint=best_ckpt,
        epochs=trainer.current_epoch,
        seconds=round(seconds, 1),
        output_dir=str(Path(cfg.paths.output_dir)),
    )


def task_overrides(cfg) -> list[str]:
    """The run's command-line overrides. Hydra removes `hydra` from the config a task receives, so they come
    from HydraConfig inside a Hydra job (and from the composed config in tests)."""
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        return list(HydraConfig.get().overrides.task)
    return list(OmegaConf.select(cfg, "hydra.overrides.task", default=[]) or []) if "hydra" in cfg else []


def _gan_saw_test(gan: dict) -> bool | None:
    """True: a GAN feeding training saw test subjects; None: unknown (no manifest); False otherwise."""
    if gan.get("test_subjects_seen"):
        return True
    return None if gan.get("unknown") else False


def print_run_table(results: dict, log_lines: list[str] | None = None) -> None:
    """Print a run's results (a RunRecord dict) as a table of its test sets and validation, then its warnings,
    files and `log_lines`."""
    table = Table(
        title=f"{results['variant']} / {results['backbone']} / {results['protocol']} "
        f"(seed {results['seed']}, split seed {results['split_seed']}, 1 run)"
    )
    for col in ("test set", "images", "accuracy", "macro-F1", "ECE", "ECE (T-scaled)"):
        table.add_column(col, justify="right" if col != "test set" else "left")
    for name, r in results["tests"].items():
        table.add_row(
            name,
            str(r["n"]),
            f"{100 * r['acc']:.2f}%",
            f"{100 * r['f1']:.2f}%",
            _num(r.get("ece")),
            _num(r.get("ece_ts")),
        )
    val = results["metrics"].get("val/acc")
    if val is not None:
        images = str(results["split"]["images"].get("val", ""))
        val_ece = _num(results["metrics"].get("val/ece"))
        table.add_row("validation (checkpoint choice)", images, f"{100 * val:.2f}%", "", val_ece, "")
    console = Console(width=120)
    console.print(table)
    for name in results.get("skipped_tests", []):
        reason = (results.get("skipped_reasons") or {}).get(name, "not configured or empty")
        console.print(f"test set {name}: skipped, {reason}")
    gan = results.get("gan") or {}
    if results.get("gan_saw_test_subjects"):
        console.print(
            f"WARNING: the GAN behind the training samples ({', '.join(gan.get('sources', []))}) was trained "
            f"on {gan.get('test_subjects_seen')} subject(s) of the test side; use per-fold GANs"
        )
    elif gan.get("unknown"):
        console.print(
            f"WARNING: GAN source(s) {', '.join(gan['unknown'])} have no manifest.json: unknown whether "
            f"their GAN saw test subjects"
        )
    out = Path(results["output_dir"])
    console.print(f"run folder: {out}\ncheckpoint: {results['best_checkpoint']}\nresults: {out / 'results.json'}")
    cal = results.get("calibration") or {}
    if cal.get("at_bound"):
        console.print(
            f"temperature scaling: T={cal['temperature']:.3g} is at the edge of its range: the "
            f"{cal.get('val_images')} validation images do not determine it (all right?), so no scaled figures"
        )
    elif cal.get("temperature") is not None:
        console.print(
            f"temperature scaling: T={cal['temperature']:.3f}, fitted on {cal.get('val_images')} validation images "
            "(ECE (T-scaled) uses it)"
        )
    adj = results.get("logit_adjustment") or {}
    if adj:
        console.print(
            f"logit adjustment: tau={adj['tau']:.1f}, fitted on {adj.get('val_images')} validation images "
            f"(validation macro-F1 {adj['val_f1_before']:.3f} -> {adj['val_f1_after']:.3f}); the test figures use it"
        )
    for path in sorted(out.glob("confusion_*.png")):
        console.print(f"confusion matrix: {path}")
    for path in sorted(out.glob("calibration_*.png")):
        console.print(f"reliability diagram: {path}")
    files = sorted(p.name for p in predictions_dir(out).glob("*.csv"))
    if files:
        console.print(f"predictions: {predictions_dir(out)} ({', '.join(files)})")
    for line in log_lines or []:
        console.print(line)
