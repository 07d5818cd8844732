"""What a run writes from its per-image outputs, beside `results.json`.

- `predictions/<test set>.csv` and `predictions/val.csv` (fer/evaluation/predictions.py): every image's
  probabilities, from the chosen checkpoint (the weights the test sets were scored with);
- calibration (fer/evaluation/calibration.py): the validation ECE as `val/ece`, a temperature fitted on the validation
  predictions only (`calibration`), and per test set `nll`, and `ece_ts` / `nll_ts` after scaling with it (the
  raw `ece` comes from the test loop's metric); `calibration_<test set>.png`, a reliability diagram;
- the same tables and diagrams logged to W&B when a `WandbLogger` is among the trainer's loggers.
"""

from __future__ import annotations

import logging
from pathlib import Path

from fer.evaluation.calibration import (
    N_BINS,
    T_BOUNDS,
    apply_temperature,
    at_bound,
    expected_calibration_error,
    fit_temperature,
    nll,
    reliability_diagram,
)
from fer.evaluation.predictions import Predictions, predictions_dir
from fer.runs.record import RunRecord

log = logging.getLogger(__name__)

VAL = "val"


def validation_outputs(trainer, model, datamodule, ckpt_path: str | None):
    """(probabilities, labels) of the validation set from the checkpoint `ckpt_path`; None without a validation set.

    The predict loop, not a validation run: it neither logs nor touches the module's validation history (what
    `val/acc` and the checkpoint choice come from), and weight averaging does not swap weights in it.
    """
    if datamodule.val_set is None or not len(datamodule.val_set.samples):
        return None
    if ckpt_path is None:
        log.info("no checkpoint kept (e.g. trainer.fast_dev_run): validation predictions from the current weights")
    trainer.predict(
        model, dataloaders=datamodule.val_dataloader(), ckpt_path=ckpt_path, weights_only=True, return_predictions=False
    )
    return model.predict_outputs


def collect_predictions(model, datamodule, val_outputs) -> dict[str, Predictions]:
    """Each evaluated set's Predictions, by set name (`val` and the test sets), paired with the loaders' samples."""
    sides = {name: (datamodule.test_sets[name].samples, out) for name, out in model.test_outputs.items()}
    if val_outputs is not None:
        sides[VAL] = (datamodule.val_set.samples, val_outputs)
    preds = {}
    for name, (samples, (probs, labels)) in sides.items():
        n = min(len(samples), len(labels))  # fewer: limit_*_batches; more: a distributed sampler's padding
        samples, probs, labels = samples[:n], probs[:n], labels[:n]
        if [s.label for s in samples] != labels.tolist():  # never pair an image with another image's output
            log.warning("predictions of %s do not line up with its images; predictions/%s.csv not written", name, name)
            continue
        preds[name] = Predictions.from_samples(samples, probs.double().numpy(), model.hparams.class_names)
    return preds


def calibrate(record: RunRecord, preds: dict[str, Predictions]) -> float | None:
    """Calibration figures into `record` (see the module docstring); returns the temperature (None: no validation)."""
    val = preds.get(VAL)
    temperature = None
    if val is not None:
        temperature = fit_temperature(val.probs, val.labels)
        bounded = at_bound(temperature)
        if bounded:
            log.info(
                "temperature scaling: T=%.3g is at the edge of its range %s (validation all right, or a model near "
                "chance): not determined by the validation set, so no scaled figures are reported",
                temperature,
                T_BOUNDS,
            )
        record.metrics["val/ece"] = expected_calibration_error(val.probs, val.labels)
        record.calibration = {
            "temperature": temperature,
            "fitted_on": VAL,
            "val_images": len(val),
            "method": "T minimising the NLL of softmax(log p / T) on the validation predictions",
            "n_bins": N_BINS,
            "at_bound": bounded,
        }
        if bounded:
            temperature = None
    for name, p in preds.items():
        if name not in record.tests:
            continue
        r = record.tests[name]
        r["nll"] = nll(p.probs, p.labels)
        if temperature is not None:
            scaled = apply_temperature(p.probs, temperature)
            r["ece_ts"], r["nll_ts"] = expected_calibration_error(scaled, p.labels), nll(scaled, p.labels)
    return temperature


def write_run_outputs(record: RunRecord, trainer, model, datamodule, ckpt_path: str | None) -> dict[str, Path]:
    """Predictions files, calibration figures and diagrams of a tested run (all processes call it; rank zero
    writes). Returns the diagrams written, by test set."""
    val_outputs = validation_outputs(trainer, model, datamodule, ckpt_path)
    preds = collect_predictions(model, datamodule, val_outputs)
    temperature = calibrate(record, preds)
    if not trainer.is_global_zero:
        return {}
    out = Path(record.output_dir)
    for name, p in preds.items():
        p.save(predictions_dir(out) / f"{name}.csv")
    pngs = {}
    for name, p in preds.items():
        if name not in record.tests:
            continue
        r = record.tests[name]
        title = f"{name}: ECE {r['ece']:.3f} (n={len(p)})"
        if temperature is not None:
            title += f"\nafter temperature scaling (T={temperature:.2f}, fitted on validation): {r['ece_ts']:.3f}"
        pngs[name] = reliability_diagram(p.probs, p.labels, out / f"calibration_{name}.png", title)
    log_to_wandb(trainer.loggers, preds, pngs)
    return pngs


def log_to_wandb(loggers, preds: dict[str, Predictions], pngs: dict[str, Path]) -> None:
    """Predictions as W&B tables (`predictions/<set>`) and reliability diagrams as images
    (`test/<set>/calibration`), for each WandbLogger among `loggers`; nothing otherwise."""
    from pytorch_lightning.loggers import WandbLogger

    for lg in loggers:
        if not isinstance(lg, WandbLogger):
            continue
        for name, p in preds.items():
            columns, data = p.table()
            lg.log_table(key=f"predictions/{name}", columns=columns, data=data)
        for name, path in pngs.items():
            lg.log_image(key=f"test/{name}/calibration", images=[str(path)])
