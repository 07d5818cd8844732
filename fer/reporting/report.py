"""The paper's tables from a sweep folder, with how sure each figure is: `python -m fer.report <sweep dir>`.

Reads every finished run (`results.json`, searched recursively) and its per-image predictions
(`predictions/<set>.csv`), groups the runs by protocol, variant, backbone and setting, and prints and writes
into the sweep folder:
- `report.md` / `report.csv`: per test set (CK+, JAFFE; or the k-fold test folds) the accuracy's mean, a 95%
  t-interval of the mean, standard deviation and variance (sample, ddof=1) and number of runs, with the seeds,
  split seeds and folds used; the paper's published figures as reference rows for runs on real data;
- calibration (expected calibration error, raw and after temperature scaling fitted on validation);
- `report_runs.csv` (and a Markdown section): per run and test set, accuracy and macro-F1 with bootstrap
  intervals over the test images (resampling subjects);
- `report_groups.csv` (and a Markdown section): per group of people (sex, gender, race, age, dataset)
  accuracy, macro-F1, recall per class, worst group and largest gap (fer/reporting/groups.py);
- `report_per_class.csv` (and a Markdown section): recall per class, mean over the runs;
- `report.png`: bar chart of the means with their 95% intervals and the paper's figures as markers;
- with `--compare KEY=A,B`: `compare.md` / `compare.csv`, paired comparisons in plain words (fer/reporting/compare.py).
Jobs that the sweep planned (its `multirun.yaml`) but that have no `results.json` are named as missing,
with whether they failed (`failed.json`) or can resume. Reading the sweep folder is fer/runs/record.py's, the
statistics are fer/evaluation/stats.py's; this module aggregates and renders the main table.
"""

from __future__ import annotations

import argparse
import csv
import io
import logging
import sys
from collections import defaultdict
from pathlib import Path

from fer.classes import CLASSES
from fer.errors import UserError, cli_main
from fer.evaluation import stats as fstats
from fer.reporting import compare as cmp
from fer.reporting import groups as grp
from fer.reporting import per_run
from fer.reporting.chart import bar_chart
from fer.reporting.paper import reference_rows
from fer.runs.record import LoadedRun, RunRecord, SweepStatus, setting_overrides, sweep_status
from fer.utils.io import atomic_write_text

log = logging.getLogger(__name__)

DISPLAY = {"ckplus": "CK+", "jaffe": "JAFFE", "kfold": "k-fold"}


class SweepNotFoundError(UserError, FileNotFoundError):
    """The folder given to the report is not there."""


def display(test_name: str) -> str:
    """A test set's name as the tables show it (`ckplus` -> `CK+`)."""
    return DISPLAY.get(test_name, test_name)


def column_of(test_name: str) -> str:
    """The table column of a test set: k-fold test folds share one column."""
    return "kfold" if test_name.startswith("fold") and test_name[4:].isdigit() else test_name


# ------------------------------------------------------------------------------------------- aggregating
def _f(v, digits: int = 2) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def settings_of(runs: list[RunRecord]) -> list[str]:
    """Each run's setting: its setting overrides that not all runs of the sweep share (shared ones would repeat)."""
    items = [setting_overrides(r.overrides) for r in runs]
    common = frozenset.intersection(*items) if items else frozenset()
    return [",".join(sorted(it - common)) for it in items]


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def aggregate(runs: list[RunRecord], figures: list[dict] | None = None) -> list[dict]:
    """One row per (protocol, variant, backbone, setting) and test column: accuracy stats in percent.
    `figures` (aligned with `runs`): each run's per-test `per_run.RunFigures`, for intervals and calibration."""
    figures = figures or [{} for _ in runs]
    groups: dict[tuple, list[tuple[RunRecord, dict]]] = defaultdict(list)
    for r, setting, figs in zip(runs, settings_of(runs), figures, strict=True):
        groups[(r.protocol, r.variant, r.backbone, setting)].append((r, figs))
    rows = []
    for (protocol, variant, backbone, setting), members in sorted(
        groups.items(), key=lambda kv: tuple(map(str, kv[0]))
    ):
        by_col: dict[str, list[tuple[RunRecord, dict, per_run.RunFigures | None]]] = defaultdict(list)
        for r, figs in members:
            for name, res in (r.tests or {}).items():
                by_col[column_of(name)].append((r, res, figs.get(name)))
        for col, triples in sorted(by_col.items()):
            s = fstats.summarize([100 * res["acc"] for _, res, _ in triples])
            recall = {
                c: fstats.summarize([100 * res["recall"][c] for _, res, _ in triples if c in (res.get("recall") or {})])
                for c in CLASSES
                if any(c in (res.get("recall") or {}) for _, res, _ in triples)
            }
            figs = [f for _, _, f in triples if f is not None]
            low, high, ci_kind = s["low"], s["high"], "t over runs" if s["n"] > 1 else ""
            if s["n"] == 1 and figs and figs[0].acc.low is not None:
                # One run: the only interval there is, the bootstrap over its test images.
                low, high, ci_kind = figs[0].acc.low, figs[0].acc.high, f"bootstrap over {figs[0].unit}s"
            rows.append(
                {
                    "protocol": protocol,
                    "variant": variant,
                    "backbone": backbone,
                    "setting": setting,
                    "test_set": col,
                    "test_name": display(col),
                    **s,
                    "ci_low": low,
                    "ci_high": high,
                    "ci_kind": ci_kind,
                    "f1_mean": _mean([100 * res["f1"] for _, res, _ in triples if res.get("f1") is not None]),
                    "ece": _mean([f.ece for f in figs]),
                    "ece_ts": _mean([f.ece_ts for f in figs]),
                    "temperature": _mean([f.temperature for f in figs]),
                    "calibrated_runs": sum(f.ece is not None for f in figs),
                    "scaled_runs": sum(f.ece_ts is not None for f in figs),
                    "images": sorted({res.get("n") for _, res, _ in triples}, key=str),
                    "seeds": sorted({r.seed for r, _, _ in triples}, key=str),
                    "split_seeds": sorted({r.split_seed for r, _, _ in triples}, key=str),
                    "folds": sorted({r.fold for r, _, _ in triples if r.fold is not None}),
                    "gan_saw_test_subjects": any(r.gan_saw_test_subjects for r, _, _ in triples),
                    "recall": recall,
                    "skipped": sorted({n for r, _ in members for n in r.skipped_tests or []}),
                    "predictions": [f.predictions for f in figs if f.predictions is not None],
                }
            )
    return rows


# -------------------------------------------------------------------------------------------- rendering
def _fmt_list(values) -> str:
    return " ".join(str(v) for v in values) if values else "-"


def _order(col: str) -> tuple:
    return (col not in DISPLAY, col)


def _ci(r: dict) -> str:
    if r["ci_low"] is None:
        return "-"
    mark = " ‡" if r["ci_kind"].startswith("bootstrap") else ""
    return f"[{r['ci_low']:.2f}, {r['ci_high']:.2f}]{mark}"


def markdown(status: SweepStatus, rows: list[dict], refs: list[dict]) -> str:
    """The report's accuracy tables (one per protocol, with the paper's `refs`) and per-class recall, in Markdown,
    from `aggregate`'s rows."""
    out = io.StringIO()
    w = out.write
    w(f"# Results of {status.sweep_dir}\n\n")
    planned = f" of {status.planned} planned" if status.planned is not None else ""
    w(
        f"{len(status.runs)} finished run(s){planned}. Accuracy in %: mean, 95% interval of the mean (Student t over "
        f"the runs), standard deviation (ddof=1) and variance (ddof=1, sample variance) over the runs (seeds, and "
        f"folds for k-fold; n/a for a single run); n = number of runs. ‡: a single run, whose interval is the "
        f"bootstrap over its test images.\n\n"
    )
    show_setting = any(r["setting"] for r in rows)
    for protocol in sorted({r["protocol"] for r in rows}, key=str):
        prow = [r for r in rows if r["protocol"] == protocol]
        cols = sorted({r["test_set"] for r in prow}, key=_order)
        title = (
            "Cross-database (train on the KDEF variant, test on each set)"
            if protocol == "cross_db"
            else "Subject-independent k-fold"
            if protocol == "kfold"
            else str(protocol)
        )
        w(f"## {title}\n\n")
        head = ["variant", "backbone"] + (["setting"] if show_setting else [])
        for c in cols:
            name = display(c)
            head += [f"{name} mean", f"{name} 95% CI", f"{name} std", f"{name} var", f"{name} n"]
        head += ["seeds", "split seeds"] + (["folds"] if protocol == "kfold" else [])
        w("| " + " | ".join(head) + " |\n|" + "---|" * len(head) + "\n")
        keys = sorted({(r["variant"], r["backbone"], r["setting"]) for r in prow}, key=lambda k: tuple(map(str, k)))
        for key in keys:
            cells = {r["test_set"]: r for r in prow if (r["variant"], r["backbone"], r["setting"]) == key}
            line = [str(key[0]), str(key[1])] + ([key[2] or "-"] if show_setting else [])
            for c in cols:
                r = cells.get(c)
                line += (
                    [
                        f"{r['mean']:.2f}" + (" †" if r["gan_saw_test_subjects"] else ""),
                        _ci(r),
                        _f(r["std"]),
                        _f(r["var"]),
                        str(r["n"]),
                    ]
                    if r
                    else ["-", "-", "-", "-", "0"]
                )
            any_r = next(iter(cells.values()))
            line += [
                _fmt_list(sorted({s for r in cells.values() for s in r["seeds"]}, key=str)),
                _fmt_list(any_r["split_seeds"]),
            ]
            if protocol == "kfold":
                line.append(_fmt_list(sorted({f for r in cells.values() for f in r["folds"]})))
            w("| " + " | ".join(line) + " |\n")
        prefs = [r for r in refs if r["protocol"] == protocol]
        for variant, backbone in sorted({(r["variant"], r["backbone"]) for r in prefs}):
            line = [f"{variant} ({prefs[0]['label']})", backbone] + (["reference"] if show_setting else [])
            for c in cols:
                ref = next(
                    (r for r in prefs if (r["variant"], r["backbone"], r["test_set"]) == (variant, backbone, c)), None
                )
                line += [f"{ref['mean']:.2f}", "-", "-", _f(ref["var"]), "-"] if ref else ["-"] * 5
            line += ["-", "-"] + (["-"] if protocol == "kfold" else [])
            w("| " + " | ".join(line) + " |\n")
        w("\n")
        if any(r["gan_saw_test_subjects"] for r in prow):
            w(
                "† the GAN behind the training samples was trained on subjects of the test side (see each run's "
                "results.json, `gan`): not subject-independent; use per-fold GANs.\n\n"
            )
        skipped = sorted({s for r in prow for s in r["skipped"]})
        if skipped:
            w(
                "Test sets skipped in some runs (not configured or empty): "
                f"{', '.join(display(s) for s in skipped)}.\n\n"
            )
    w(calibration_markdown(rows, show_setting))
    w("## Recall per class (%, mean over the runs)\n\n")
    head = (
        ["protocol", "variant", "backbone"] + (["setting"] if show_setting else []) + ["test set", "n"] + list(CLASSES)
    )
    w("| " + " | ".join(head) + " |\n|" + "---|" * len(head) + "\n")
    for r in rows:
        line = [str(r["protocol"]), str(r["variant"]), str(r["backbone"])] + (
            [r["setting"] or "-"] if show_setting else []
        )
        line += [r["test_name"], str(r["n"])] + [
            f"{r['recall'][c]['mean']:.1f}" if c in r["recall"] else "-" for c in CLASSES
        ]
        w("| " + " | ".join(line) + " |\n")
    w("\n")
    return out.getvalue()


def calibration_markdown(rows: list[dict], show_setting: bool) -> str:
    """Mean expected calibration error per setting and test set, before and after temperature scaling."""
    if not any(r["calibrated_runs"] for r in rows):
        return (
            "## Calibration\n\nNo run wrote predictions files or calibration figures: no expected calibration "
            "error to show.\n\n"
        )
    lines = [
        "## Calibration\n",
        "Expected calibration error in % (mean over the runs; 15 equal-width confidence bins, L1): how far the "
        "model's confidence is from its accuracy. ECE (T): after temperature scaling, T fitted on the validation "
        "predictions only (mean T shown), over the runs whose validation set determined T (T runs): a T at the edge "
        "of its range (e.g. every validation image right) is left out.\n",
        "| variant | backbone | "
        + ("setting | " if show_setting else "")
        + "test set | runs | ECE | T runs | ECE (T) | T |",
        "|---|---|" + ("---|" if show_setting else "") + "---|---|---|---|---|---|",
    ]
    for r in rows:
        if not r["calibrated_runs"]:
            continue
        setting = f"{r['setting'] or '-'} | " if show_setting else ""
        lines.append(
            f"| {r['variant']} | {r['backbone']} | {setting}{r['test_name']} | {r['calibrated_runs']} "
            f"| {_f(r['ece'])} | {r['scaled_runs']} | {_f(r['ece_ts'])} | {_f(r['temperature'])} |"
        )
    return "\n".join(lines) + "\n\n"


def status_markdown(status: SweepStatus, problems: list[str]) -> str:
    """Missing and failed jobs, unreadable results and predictions files."""
    out = io.StringIO()
    w = out.write
    if status.planned is None and (status.sweep_dir / "multirun.yaml").is_file():
        w("The sweeper chose its jobs on the fly (e.g. Optuna): missing runs cannot be listed.\n\n")
    if status.missing:
        w(f"## Missing runs ({len(status.missing)} of {status.planned} planned)\n\n")
        for m in status.missing:
            err = f": {m.error.strip().splitlines()[-1]}" if m.error.strip() else ""
            w(f"- {m.label} ({m.state}{err}): `{m.folder}`\n")
        w("\nRerun the same sweep command (same `hydra.sweep.dir`) to resume them; finished runs are skipped.\n\n")
    for u in status.unreadable:
        w(f"- unreadable: {u}\n")
    for p in problems:
        w(f"- unreadable predictions: {p}\n")
    return out.getvalue()


def csv_text(rows: list[dict], refs: list[dict]) -> str:
    """`report.csv`: one row per setting and test set (`aggregate`'s rows), then one per paper reference."""
    out = io.StringIO()
    fields = [
        "protocol",
        "variant",
        "backbone",
        "setting",
        "test_set",
        "mean",
        "std",
        "var",
        "n",
        "ci_low",
        "ci_high",
        "ci_kind",
        "f1_mean",
        "ece",
        "ece_ts",
        "temperature",
        "seeds",
        "split_seeds",
        "folds",
        "images",
        "gan_saw_test_subjects",
        "reference",
    ]
    numbers = ("mean", "std", "var", "ci_low", "ci_high", "f1_mean", "ece", "ece_ts", "temperature")
    wr = csv.DictWriter(out, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    wr.writeheader()
    for r in rows:
        wr.writerow(
            {
                **r,
                "test_set": r["test_name"],
                **{k: "" if r[k] is None else f"{r[k]:.4f}" for k in numbers},
                **{k: " ".join(map(str, r[k])) for k in ("seeds", "split_seeds", "folds", "images")},
                "reference": "",
            }
        )
    for r in refs:
        wr.writerow(
            {
                "protocol": r["protocol"],
                "variant": r["variant"],
                "backbone": r["backbone"],
                "test_set": display(r["test_set"]),
                "mean": f"{r['mean']:.4f}",
                "var": "" if r["var"] is None else f"{r['var']:.4f}",
                "reference": r["label"],
            }
        )
    return out.getvalue()


def per_class_csv(rows: list[dict]) -> str:
    """`report_per_class.csv`: one row per setting, test set and class (mean recall and std over the runs)."""
    out = io.StringIO()
    wr = csv.writer(out, lineterminator="\n")
    wr.writerow(["protocol", "variant", "backbone", "setting", "test_set", "class", "mean_recall", "std", "n"])
    for r in rows:
        for c, s in r["recall"].items():
            wr.writerow(
                [
                    r["protocol"],
                    r["variant"],
                    r["backbone"],
                    r["setting"],
                    r["test_name"],
                    c,
                    f"{s['mean']:.4f}",
                    "" if s["std"] is None else f"{s['std']:.4f}",
                    s["n"],
                ]
            )
    return out.getvalue()


# -------------------------------------------------------------------------------------------- the command
def report(
    sweep_dir: str | Path,
    out_dir: str | Path | None = None,
    *,
    compare: str | None = None,
    min_group: int = grp.MIN_GROUP,
    n_boot: int = fstats.N_BOOT,
    wandb_project: str | None = None,
) -> dict:
    """Aggregate a sweep folder; writes report.md/.csv, report_runs.csv, report_groups.csv, report_per_class.csv
    and report.png (and compare.md/.csv with `compare="KEY=A,B"`); returns them. `wandb_project`: also log the
    tables and charts to a W&B run of that project."""
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise SweepNotFoundError(
            f"sweep folder {sweep_dir} does not exist; pass the hydra.sweep.dir of a `python train.py -m ...` run"
        )
    if compare:
        cmp.parse(compare)  # a malformed spec fails before any work
    out_dir = Path(out_dir) if out_dir else sweep_dir
    status = sweep_status(sweep_dir)
    runs: list[LoadedRun] = status.runs
    if compare and runs:
        cmp.select(runs, *cmp.parse(compare))  # so does a key or value no run has
    records = [r.record for r in runs]
    figures, problems = [], []
    for run in runs:
        figs, problem = per_run.run_figures(run, n_boot=n_boot)
        figures.append(figs)
        if problem:
            problems.append(problem)
    rows = aggregate(records, figures)
    refs = reference_rows(records)
    cells = {(r["protocol"], r["variant"], r["backbone"], r["setting"], r["test_set"]): r["predictions"] for r in rows}
    group_tables = grp.group_tables(cells, min_group=min_group, n_boot=n_boot)
    entries = list(zip(runs, settings_of(records), figures, strict=True))
    md = (
        markdown(status, rows, refs)
        + (per_run.runs_markdown(entries, display, sweep_dir) if runs else "")
        + grp.markdown(group_tables, display, min_group)
        + status_markdown(status, problems)
    )
    files = {
        "markdown": out_dir / "report.md",
        "csv": out_dir / "report.csv",
        "runs": out_dir / "report_runs.csv",
        "groups": out_dir / "report_groups.csv",
        "per_class": out_dir / "report_per_class.csv",
    }
    if not runs:  # nothing to report: the status (planned, failed jobs) is printed, no empty files are written
        files = {}
    else:
        atomic_write_text(files["markdown"], md)
        atomic_write_text(files["csv"], csv_text(rows, refs))
        atomic_write_text(files["runs"], per_run.runs_csv(entries, display))
        atomic_write_text(files["groups"], grp.csv_text(group_tables, display))
        atomic_write_text(files["per_class"], per_class_csv(rows))
    if rows:
        files["chart"] = out_dir / "report.png"
        bar_chart(rows, refs, files["chart"], display, _order)
    comparisons = []
    if compare and runs:
        comparisons = cmp.compare(
            runs, compare, {id(r): f for r, f in zip(runs, figures, strict=True)}, column_of, display
        )
        files["compare_markdown"] = out_dir / "compare.md"
        files["compare_csv"] = out_dir / "compare.csv"
        atomic_write_text(files["compare_markdown"], cmp.markdown(compare, comparisons))
        atomic_write_text(files["compare_csv"], cmp.csv_text(comparisons))
    result = {
        "status": status,
        "rows": rows,
        "references": refs,
        "groups": group_tables,
        "comparisons": comparisons,
        "markdown": md,
        "files": files,
    }
    if wandb_project and rows:
        from fer.reporting.wandb_log import log_report

        result["wandb_dir"] = log_report(files, wandb_project, f"report-{sweep_dir.resolve().name}", out_dir)
    return result


def main(argv: list[str] | None = None) -> int:
    """`python -m fer.report` on `argv` (default: the command line): writes the report files and prints the tables.
    Returns 0, or 1 when the sweep has no finished run."""
    parser = argparse.ArgumentParser(prog="python -m fer.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("sweep_dir", help="a sweep folder (hydra.sweep.dir), searched recursively for results.json")
    parser.add_argument("--out", default=None, help="where to write the report files (default: the sweep folder)")
    parser.add_argument(
        "--compare",
        metavar="KEY=A,B",
        default=None,
        help="paired comparison of two values of a setting, as the runs' overrides spell it: data=kdef,kdef_pfa_q, "
        "backbone=vgg16,vgg19, data.offline_aug.enabled=false,true; writes compare.md and compare.csv",
    )
    parser.add_argument(
        "--min-group",
        type=int,
        default=grp.MIN_GROUP,
        help=f"groups of people with fewer test images are flagged in the group table (default {grp.MIN_GROUP})",
    )
    parser.add_argument(
        "--bootstrap", type=int, default=fstats.N_BOOT, help=f"bootstrap resamples (default {fstats.N_BOOT})"
    )
    parser.add_argument("--wandb", action="store_true", help="also log the tables and charts to a W&B run")
    parser.add_argument("--wandb-project", default="ferlab", help="the W&B project for --wandb (default ferlab)")
    args = parser.parse_args(argv)
    result = report(  # a UserError becomes one `error:` line and status 2 in cli_main
        args.sweep_dir,
        args.out,
        compare=args.compare,
        min_group=args.min_group,
        n_boot=args.bootstrap,
        wandb_project=args.wandb_project if args.wandb else None,
    )
    print(result["markdown"])
    if result["comparisons"]:
        print(f"Comparison ({args.compare}):")
        for c in result["comparisons"]:
            print(f"- {c['context'] + ': ' if c['context'] else ''}{c['comparison'].sentence()}")
        print()
    for name, path in result["files"].items():
        print(f"{name}: {path}")
    if result.get("wandb_dir"):
        print(f"wandb: {result['wandb_dir']}")
    if not result["rows"]:
        print(f"error: no finished run (results.json) under {args.sweep_dir}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    cli_main(main)
