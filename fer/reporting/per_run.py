"""Per run and test set: accuracy and macro-F1 with image-level bootstrap intervals, and calibration (ECE before
and after temperature scaling), from the run's predictions files; `results.json` figures where those are absent."""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass, field
from pathlib import Path

from fer.evaluation import calibration, stats
from fer.evaluation.predictions import Predictions, PredictionsError, load_run_predictions
from fer.runs.record import LoadedRun

log = logging.getLogger(__name__)

VAL = "val"  # the validation predictions file (predictions/val.csv)


@dataclass
class RunFigures:
    """What one run says about one test set (accuracy figures in %, ECE in %)."""

    test_set: str
    acc: stats.Interval
    f1: stats.Interval
    images: int | None
    unit: str = ""  # what the bootstrap resampled: subject | image ("" without predictions)
    units: int | None = None
    ece: float | None = None
    ece_ts: float | None = None
    temperature: float | None = None
    predictions: Predictions | None = field(default=None, repr=False)


def _pct(v) -> float | None:
    return None if v is None else 100 * float(v)


def temperature_of(run: LoadedRun, preds: dict[str, Predictions]) -> float | None:
    """The run's temperature: recorded by the run (fitted on validation), else fitted here on `val.csv`; None
    when there is none or it sits at the edge of its range (not determined by the validation set)."""
    recorded = getattr(run.record, "calibration", None) or {}
    if recorded.get("temperature") is not None:
        temperature = float(recorded["temperature"])
    else:
        val = preds.get(VAL)
        if val is None or not len(val):
            return None
        temperature = calibration.fit_temperature(val.probs, val.labels)
    return None if calibration.at_bound(temperature) else temperature  # not determined: no scaled figures


def run_figures(run: LoadedRun, n_boot: int = stats.N_BOOT, seed: int = 0) -> tuple[dict[str, RunFigures], str]:
    """Figures per test set of one run; the second value names an unreadable predictions folder ("" if fine)."""
    record, problem = run.record, ""
    try:
        preds = load_run_predictions(run.run_dir)
    except (PredictionsError, OSError) as e:
        preds, problem = {}, f"{run.run_dir}: {e}"
    temperature = temperature_of(run, preds)  # None: no validation-determined T, so no scaled figures
    out = {}
    for name, res in (record.tests or {}).items():
        p = preds.get(name)
        fig = RunFigures(
            name,
            stats.Interval(_pct(res.get("acc"))),
            stats.Interval(_pct(res.get("f1"))),
            res.get("n"),
            ece=_pct(res.get("ece")),
            ece_ts=_pct(res.get("ece_ts")) if temperature is not None else None,
            temperature=temperature,
        )
        if p is not None and len(p):
            s = stats.bootstrap_scores(p.labels, p.preds, len(p.class_names), p.subjects, n_boot, seed)
            fig.acc, fig.f1, fig.unit, fig.units, fig.images = s["acc"], s["f1"], s["unit"], s["units"], s["images"]
            fig.predictions = p
            if fig.ece is None:
                fig.ece = 100 * calibration.expected_calibration_error(p.probs, p.labels)
            if fig.ece_ts is None and temperature is not None:
                fig.ece_ts = 100 * calibration.expected_calibration_error(
                    calibration.apply_temperature(p.probs, temperature), p.labels
                )
        out[name] = fig
    return out, problem


# ------------------------------------------------------------------------------------------ rendering
def _num(v, digits: int = 2) -> str:
    return "" if v is None else f"{v:.{digits}f}"


FIELDS = [
    "protocol",
    "variant",
    "backbone",
    "setting",
    "seed",
    "split_seed",
    "fold",
    "test_set",
    "images",
    "resampled",
    "units",
    "acc",
    "acc_low",
    "acc_high",
    "f1",
    "f1_low",
    "f1_high",
    "ece",
    "ece_ts",
    "temperature",
    "run_dir",
]


def runs_csv(entries: list[tuple[LoadedRun, str, dict[str, RunFigures]]], display) -> str:
    """`report_runs.csv`: one row per run and test set."""
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\n")
    w.writeheader()
    for run, setting, figs in entries:
        r = run.record
        for name, f in sorted(figs.items()):
            w.writerow(
                {
                    "protocol": r.protocol,
                    "variant": r.variant,
                    "backbone": r.backbone,
                    "setting": setting,
                    "seed": r.seed,
                    "split_seed": r.split_seed,
                    "fold": "" if r.fold is None else r.fold,
                    "test_set": display(name),
                    "images": "" if f.images is None else f.images,
                    "resampled": f.unit,
                    "units": "" if f.units is None else f.units,
                    "acc": _num(f.acc.estimate, 4),
                    "acc_low": _num(f.acc.low, 4),
                    "acc_high": _num(f.acc.high, 4),
                    "f1": _num(f.f1.estimate, 4),
                    "f1_low": _num(f.f1.low, 4),
                    "f1_high": _num(f.f1.high, 4),
                    "ece": _num(f.ece, 4),
                    "ece_ts": _num(f.ece_ts, 4),
                    "temperature": _num(f.temperature, 4),
                    "run_dir": str(run.run_dir),
                }
            )
    return out.getvalue()


def runs_markdown(entries: list[tuple[LoadedRun, str, dict[str, RunFigures]]], display, sweep_dir: Path) -> str:
    """A Markdown section: per run and test set, accuracy and macro-F1 with their bootstrap intervals, and ECE."""
    lines = [
        "## Per run: intervals over the test images\n",
        "Accuracy and macro-F1 in % with 95% bootstrap intervals over the test images (resampling subjects with "
        "all their images when subjects have several, else images; 'resampled'); ECE in % (15 bins), raw and "
        "after temperature scaling fitted on the validation predictions (T). Blank: the run wrote no predictions.\n",
        "| run | test set | images | resampled | accuracy [95% CI] | macro-F1 [95% CI] | ECE | ECE (T) | T |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for run, _, figs in entries:
        try:
            label = str(run.run_dir.relative_to(sweep_dir)) or "."
        except ValueError:
            label = str(run.run_dir)
        for name, f in sorted(figs.items()):
            unit = f"{f.units} {f.unit}s" if f.unit else ""
            lines.append(
                f"| `{label}` | {display(name)} | {'' if f.images is None else f.images} | {unit} | {f.acc.text(1)} "
                f"| {f.f1.text(1)} | {_num(f.ece, 1)} | {_num(f.ece_ts, 1)} | {_num(f.temperature, 2)} |"
            )
    return "\n".join(lines) + "\n\n"
