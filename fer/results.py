"""One run's results: what `results.json` holds and the table a run prints."""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf
from rich.console import Console
from rich.table import Table


def _float(v):
    return float(v.item() if hasattr(v, "item") else v)


def run_results(cfg, trainer, model, datamodule, best_ckpt: str | None, seconds: float) -> dict:
    cb = trainer.callback_metrics
    metrics = {k: _float(v) for k, v in cb.items() if k.startswith(("val/", "train/"))}
    ckpt_cb = trainer.checkpoint_callback
    if ckpt_cb is not None and ckpt_cb.best_model_score is not None:
        metrics["val/acc"] = _float(ckpt_cb.best_model_score)  # validation score of the chosen checkpoint
    return {
        "overrides": list(OmegaConf.select(cfg, "hydra.overrides.task", default=[]) or []) if "hydra" in cfg else [],
        "variant": cfg.data.get("name"),
        "backbone": cfg.backbone.name,
        "protocol": cfg.protocol.name,
        "fold": cfg.protocol.fold if cfg.protocol.name == "kfold" else None,
        "seed": cfg.seed,
        "split_seed": cfg.split_seed,
        "metrics": metrics,
        "tests": model.test_results,
        "skipped_tests": [n for n in (cfg.protocol.get("tests") or {}) if n not in model.test_results],
        "split": {"digest": datamodule.split.get("digest"), "images": datamodule.split.get("images")},
        "best_checkpoint": best_ckpt,
        "epochs": trainer.current_epoch,
        "seconds": round(seconds, 1),
        "output_dir": str(Path(cfg.paths.output_dir)),
    }


def print_run_table(results: dict, log_lines: list[str] | None = None) -> None:
    table = Table(title=f"{results['variant']} / {results['backbone']} / {results['protocol']} "
                        f"(seed {results['seed']}, split seed {results['split_seed']}, 1 run)")
    for col in ("test set", "images", "accuracy", "macro-F1"):
        table.add_column(col, justify="right" if col != "test set" else "left")
    for name, r in results["tests"].items():
        table.add_row(name, str(r["n"]), f"{100 * r['acc']:.2f}%", f"{100 * r['f1']:.2f}%")
    val = results["metrics"].get("val/acc")
    if val is not None:
        table.add_row("validation (checkpoint choice)", str(results["split"]["images"].get("val", "")), f"{100 * val:.2f}%", "")
    console = Console(width=120)
    console.print(table)
    for name in results.get("skipped_tests", []):
        console.print(f"test set {name}: not configured or empty, skipped")
    out = Path(results["output_dir"])
    console.print(f"run folder: {out}\ncheckpoint: {results['best_checkpoint']}\nresults: {out / 'results.json'}")
    for path in sorted(out.glob("confusion_*.png")):
        console.print(f"confusion matrix: {path}")
    for line in log_lines or []:
        console.print(line)
