"""The paper's tables from a sweep folder: `python -m fer.report <sweep dir>`.

Reads every finished run (`results.json`, searched recursively), groups the runs by protocol, variant and
backbone, and prints and writes into the sweep folder:
- `report.md` / `report.csv`: per test set (CK+, JAFFE; or the k-fold test folds) the accuracy's mean,
  standard deviation (sample, ddof=1), variance and number of runs, with the seeds, split seeds and folds used;
- `report_per_class.csv` (and a Markdown section): recall per class, mean over the runs;
- `report.png`: bar chart of the means with standard-deviation error bars.
Jobs that the sweep planned (its `multirun.yaml`) but that have no `results.json` are named as missing,
with whether they failed (`failed.json`) or can resume. Reading the sweep folder is fer/runs.py's; this
module only aggregates and renders.
"""

from __future__ import annotations

import argparse
import csv
import io
import logging
import math
import os
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from fer.classes import CLASSES
from fer.errors import USER_ERROR_EXIT, UserError, cli_main, user_error_message
from fer.runs import RunRecord, SweepStatus, setting_overrides, sweep_status
from fer.utils import atomic_write_text

log = logging.getLogger(__name__)

DISPLAY = {"ckplus": "CK+", "jaffe": "JAFFE", "kfold": "k-fold"}


class SweepNotFoundError(UserError, FileNotFoundError):
    """The folder given to the report is not there."""


# arXiv 2402.09982, InceptionResNetV2 trained on KDEF + PFA + Q: a reference for real-data runs only.
PAPER = {
    "label": "paper (arXiv 2402.09982)",
    "variant": "kdef_pfa_q",
    "backbone": "inception_resnet_v2",
    "cross_db": {"ckplus": 86.15, "jaffe": 72.56},
    "kfold": {"kfold": 97.99},
}


def display(test_name: str) -> str:
    return DISPLAY.get(test_name, test_name)


def column_of(test_name: str) -> str:
    """The table column of a test set: k-fold test folds share one column."""
    return "kfold" if test_name.startswith("fold") and test_name[4:].isdigit() else test_name


# ------------------------------------------------------------------------------------------- aggregating
def stats(values: list[float]) -> dict:
    """Mean, sample standard deviation and variance (ddof=1; None for a single run), number of runs."""
    n = len(values)
    mean = sum(values) / n
    var = sum((v - mean) ** 2 for v in values) / (n - 1) if n > 1 else None
    return {"mean": mean, "std": math.sqrt(var) if var is not None else None, "var": var, "n": n}


def _f(v, digits: int = 2) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def aggregate(runs: list[RunRecord]) -> list[dict]:
    """One row per (protocol, variant, backbone, setting) and test column: accuracy stats in percent."""
    items = [setting_overrides(r.overrides) for r in runs]
    common = frozenset.intersection(*items) if items else frozenset()
    groups: dict[tuple, list[RunRecord]] = defaultdict(list)
    for r, it in zip(runs, items, strict=False):
        # Only what differs between the runs of this sweep names a setting (shared overrides would repeat).
        groups[(r.protocol, r.variant, r.backbone, ",".join(sorted(it - common)))].append(r)
    rows = []
    for (protocol, variant, backbone, setting), members in sorted(
        groups.items(), key=lambda kv: tuple(map(str, kv[0]))
    ):
        by_col: dict[str, list[tuple[RunRecord, dict]]] = defaultdict(list)
        for r in members:
            for name, res in (r.tests or {}).items():
                by_col[column_of(name)].append((r, res))
        for col, pairs in sorted(by_col.items()):
            s = stats([100 * res["acc"] for _, res in pairs])
            recall = {
                c: stats([100 * res["recall"][c] for _, res in pairs if c in (res.get("recall") or {})])
                for c in CLASSES
                if any(c in (res.get("recall") or {}) for _, res in pairs)
            }
            rows.append(
                {
                    "protocol": protocol,
                    "variant": variant,
                    "backbone": backbone,
                    "setting": setting,
                    "test_set": col,
                    "test_name": display(col),
                    **s,
                    "images": sorted({res.get("n") for _, res in pairs}),
                    "seeds": sorted({r.seed for r, _ in pairs}, key=str),
                    "split_seeds": sorted({r.split_seed for r, _ in pairs}, key=str),
                    "folds": sorted({r.fold for r, _ in pairs if r.fold is not None}),
                    "gan_saw_test_subjects": any(r.gan_saw_test_subjects for r, _ in pairs),
                    "recall": recall,
                    "skipped": sorted({n for r in members for n in r.skipped_tests or []}),
                }
            )
    return rows


def reference_rows(runs: list[RunRecord]) -> list[dict]:
    """The paper's numbers, for runs on real data only (never beside synthetic-data numbers)."""
    if not runs or any(r.synthetic_data is not False for r in runs):
        return []
    out = []
    for protocol in sorted({r.protocol for r in runs}):
        for col, acc in PAPER.get(protocol, {}).items():
            out.append(
                {
                    "protocol": protocol,
                    "variant": PAPER["variant"],
                    "backbone": PAPER["backbone"],
                    "label": PAPER["label"],
                    "test_set": col,
                    "test_name": display(col),
                    "mean": acc,
                }
            )
    return out


# -------------------------------------------------------------------------------------------- rendering
def _fmt_list(values) -> str:
    return " ".join(str(v) for v in values) if values else "-"


def markdown(status: SweepStatus, rows: list[dict], refs: list[dict]) -> str:
    out = io.StringIO()
    w = out.write
    w(f"# Results of {status.sweep_dir}\n\n")
    planned = f" of {status.planned} planned" if status.planned is not None else ""
    w(
        f"{len(status.runs)} finished run(s){planned}. Accuracy in %: mean, standard deviation (ddof=1) and "
        f"variance over the runs (seeds, and folds for k-fold; n/a for a single run); n = number of runs.\n\n"
    )
    show_setting = any(r["setting"] for r in rows)
    for protocol in sorted({r["protocol"] for r in rows}, key=str):
        prow = [r for r in rows if r["protocol"] == protocol]
        cols = sorted({r["test_set"] for r in prow}, key=lambda c: (c not in DISPLAY, c))
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
            head += [f"{name} mean", f"{name} std", f"{name} var", f"{name} n"]
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
                        _f(r["std"]),
                        _f(r["var"]),
                        str(r["n"]),
                    ]
                    if r
                    else ["-", "-", "-", "0"]
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
        if prefs:
            line = [f"{PAPER['variant']} ({PAPER['label']})", PAPER["backbone"]] + (
                ["reference"] if show_setting else []
            )
            for c in cols:
                ref = next((r for r in prefs if r["test_set"] == c), None)
                line += [f"{ref['mean']:.2f}" if ref else "-", "-", "-", "-"]
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
    return out.getvalue()


def csv_text(rows: list[dict], refs: list[dict]) -> str:
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
        "seeds",
        "split_seeds",
        "folds",
        "images",
        "gan_saw_test_subjects",
        "reference",
    ]
    wr = csv.DictWriter(out, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    wr.writeheader()
    for r in rows:
        wr.writerow(
            {
                **r,
                "test_set": r["test_name"],
                **{k: "" if r[k] is None else f"{r[k]:.4f}" for k in ("mean", "std", "var")},
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
                "test_set": r["test_name"],
                "mean": f"{r['mean']:.4f}",
                "reference": r["label"],
            }
        )
    return out.getvalue()


def per_class_csv(rows: list[dict]) -> str:
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


def bar_chart(rows: list[dict], path: Path) -> None:
    """Grouped bars (one group per variant/backbone, one bar per test set) with std error bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    protocols = sorted({r["protocol"] for r in rows}, key=str)
    fig, axes = plt.subplots(len(protocols), 1, figsize=(max(6, 1.2 * len(rows)), 4 * len(protocols)), squeeze=False)
    for ax, protocol in zip(axes[:, 0], protocols, strict=False):
        prow = [r for r in rows if r["protocol"] == protocol]
        groups = sorted({(r["variant"], r["backbone"], r["setting"]) for r in prow}, key=lambda k: tuple(map(str, k)))
        cols = sorted({r["test_set"] for r in prow}, key=lambda c: (c not in DISPLAY, c))
        width = 0.8 / len(cols)
        for j, c in enumerate(cols):
            xs, means, stds = [], [], []
            for i, g in enumerate(groups):
                r = next(
                    (r for r in prow if (r["variant"], r["backbone"], r["setting"]) == g and r["test_set"] == c), None
                )
                if r:
                    xs.append(i + (j - (len(cols) - 1) / 2) * width)
                    means.append(r["mean"])
                    stds.append(r["std"] or 0.0)
            ax.bar(xs, means, width, yerr=stds, capsize=3, label=display(c))
        ax.set_xticks(range(len(groups)))
        ax.set_xticklabels(
            [f"{v}\n{b}" + (f"\n{s[:40]}" + ("..." if len(s) > 40 else "") if s else "") for v, b, s in groups],
            fontsize=8,
        )
        ax.set_ylabel("accuracy (%)")
        ax.set_ylim(0, 100)
        ax.set_title(f"{protocol}: mean ± std over runs")
        ax.legend()
    fig.tight_layout()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".png")
    os.close(fd)
    fig.savefig(tmp, dpi=120)
    plt.close(fig)
    os.replace(tmp, path)


def report(sweep_dir: str | Path, out_dir: str | Path | None = None) -> dict:
    """Aggregate a sweep folder; writes report.md/.csv, report_per_class.csv and report.png; returns them."""
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        raise SweepNotFoundError(
            f"sweep folder {sweep_dir} does not exist; pass the hydra.sweep.dir of a `python train.py -m ...` run"
        )
    out_dir = Path(out_dir) if out_dir else sweep_dir
    status = sweep_status(sweep_dir)
    records = [r.record for r in status.runs]
    rows = aggregate(records)
    refs = reference_rows(records)
    md = markdown(status, rows, refs)
    files = {
        "markdown": out_dir / "report.md",
        "csv": out_dir / "report.csv",
        "per_class": out_dir / "report_per_class.csv",
    }
    atomic_write_text(files["markdown"], md)
    atomic_write_text(files["csv"], csv_text(rows, refs))
    atomic_write_text(files["per_class"], per_class_csv(rows))
    if rows:
        files["chart"] = out_dir / "report.png"
        bar_chart(rows, files["chart"])
    return {"status": status, "rows": rows, "references": refs, "markdown": md, "files": files}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fer.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("sweep_dir", help="a sweep folder (hydra.sweep.dir), searched recursively for results.json")
    parser.add_argument("--out", default=None, help="where to write the report files (default: the sweep folder)")
    args = parser.parse_args(argv)
    try:
        result = report(args.sweep_dir, args.out)
    except SweepNotFoundError as e:
        print(user_error_message(e), file=sys.stderr)
        return USER_ERROR_EXIT
    print(result["markdown"])
    for name, path in result["files"].items():
        print(f"{name}: {path}")
    if not result["rows"]:
        print(f"error: no finished run (results.json) under {args.sweep_dir}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    cli_main(main)
