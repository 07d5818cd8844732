"""The per-group (bias) table: per setting, test set and attribute the readers attach to a person (KDEF sex,
RAF-DB gender / race / age group, JAFFE all female; the dataset of origin where a test set pools several),
images, accuracy and macro-F1 with intervals, recall per class, the worst group and the largest gap.

The predictions of a setting's runs are pooled (the figures are means over the runs; subjects keep their images
of every run together when resampled). Groups under `min_group` images are flagged, never dropped."""

from __future__ import annotations

import csv
import io

import numpy as np

from fer.evaluation import stats
from fer.evaluation.predictions import GROUP_KEYS, Predictions

MIN_GROUP = 30


def _pool(preds: list[Predictions]) -> dict:
    def cat(attr):
        return [v for p in preds for v in getattr(p, attr)]

    keys = {k for p in preds for k in p.groups}
    return {
        "labels": np.concatenate([p.labels for p in preds]),
        "preds": np.concatenate([p.preds for p in preds]),
        "subjects": cat("subjects"),
        "files": cat("files"),
        "datasets": cat("datasets"),
        "groups": {k: [v for p in preds for v in p.groups.get(k, [""] * len(p))] for k in keys},
        "class_names": preds[0].class_names,
    }


def attributes(pooled: dict) -> dict[str, list[str]]:
    """The attributes to report: those the readers filled in, and the dataset when the set pools several."""
    out = {k: pooled["groups"][k] for k in GROUP_KEYS if any(pooled["groups"].get(k, []))}
    if len(set(pooled["datasets"])) > 1:
        out["dataset"] = pooled["datasets"]
    return out


def group_tables(
    cells: dict[tuple, list[Predictions]], min_group: int = MIN_GROUP, n_boot: int = stats.N_BOOT
) -> list[dict]:
    """One entry per (cell key, attribute): {"key", "attribute", "runs", **stats.group_report(...)}.
    `cells` maps (protocol, variant, backbone, setting, test column) to its runs' predictions."""
    out = []
    for key, preds in sorted(cells.items(), key=lambda kv: tuple(map(str, kv[0]))):
        preds = [p for p in preds if p is not None and len(p)]
        if not preds or len({tuple(p.class_names) for p in preds}) != 1:
            continue
        pooled = _pool(preds)
        for attr, values in attributes(pooled).items():
            rep = stats.group_report(
                pooled["labels"],
                pooled["preds"],
                values,
                pooled["class_names"],
                subjects=pooled["subjects"],
                files=pooled["files"],
                min_group=min_group,
                n_boot=n_boot,
            )
            out.append({"key": key, "attribute": attr, "runs": len(preds), **rep})
    return out


# ------------------------------------------------------------------------------------------ rendering
def markdown(tables: list[dict], display, min_group: int) -> str:
    """The per-group section of the report from `group_tables`' entries; empty without any. Groups under
    `min_group` images are marked."""
    if not tables:
        return ""
    lines = [
        "## Per group (bias)\n",
        "Per test set and attribute of the people in it: images, accuracy and macro-F1 in % with 95% bootstrap "
        "intervals (resampling subjects), recall per class (%), pooled over the setting's runs. Worst group and "
        f"largest gap are over the named groups, with intervals. `*`: fewer than {min_group} images, read with care "
        "(`--min-group`).\n",
    ]
    for t in tables:
        protocol, variant, backbone, setting, col = t["key"]
        names = list(t["rows"][0]["recall"]) if t["rows"] else []
        where = f"{variant} / {backbone}" + (f" / {setting}" if setting else "")
        lines.append(f"### {display(col)}, {t['attribute']}: {where} ({t['runs']} run{'s' if t['runs'] > 1 else ''})\n")
        lines.append(
            "| group | images | subjects | accuracy [95% CI] | macro-F1 [95% CI] | " + " | ".join(names) + " |"
        )
        lines.append("|" + "---|" * (5 + len(names)))
        for r in t["rows"]:
            rec = " | ".join("-" if np.isnan(r["recall"][c]) else f"{r['recall'][c]:.1f}" for c in names)
            flag = " *" if r["small"] else ""
            lines.append(
                f"| {r['group']} | {r['images']}{flag} | {'' if r['subjects'] is None else r['subjects']} "
                f"| {r['acc'].text(1)} | {r['f1'].text(1)} | {rec} |"
            )
        lines.append("")
        if t["worst"]:
            summary = f"Worst group: {t['worst']['group']}, accuracy {t['worst']['acc'].text(1)}"
            if t["gap"]:
                hi, lo = t["gap"]["between"]
                summary += f"; largest gap: {hi} - {lo}, {t['gap']['points'].text(1)} points"
            else:
                summary += " (one group: no gap)"
            if t["small_groups"]:
                summary += f"; groups under {min_group} images: {', '.join(t['small_groups'])}"
            lines.append(summary + ".\n")
    return "\n".join(lines) + "\n"


FIELDS = [
    "protocol",
    "variant",
    "backbone",
    "setting",
    "test_set",
    "attribute",
    "group",
    "runs",
    "images",
    "subjects",
    "small",
    "acc",
    "acc_low",
    "acc_high",
    "f1",
    "f1_low",
    "f1_high",
    "worst_group",
    "worst_acc",
    "worst_low",
    "worst_high",
    "gap",
    "gap_low",
    "gap_high",
]


def _n(v) -> str:
    return "" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:.4f}"


def csv_text(tables: list[dict], display) -> str:
    """`report_groups.csv`: one row per group; the worst group and the gap repeated on each row of their table."""
    names = list(tables[0]["rows"][0]["recall"]) if tables and tables[0]["rows"] else []
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=FIELDS + [f"recall_{c}" for c in names], lineterminator="\n")
    w.writeheader()
    for t in tables:
        protocol, variant, backbone, setting, col = t["key"]
        worst, gap = t["worst"] or {}, t["gap"] or {}
        for r in t["rows"]:
            w.writerow(
                {
                    "protocol": protocol,
                    "variant": variant,
                    "backbone": backbone,
                    "setting": setting,
                    "test_set": display(col),
                    "attribute": t["attribute"],
                    "group": r["group"],
                    "runs": t["runs"],
                    "images": r["images"],
                    "subjects": "" if r["subjects"] is None else r["subjects"],
                    "small": int(r["small"]),
                    "acc": _n(r["acc"].estimate),
                    "acc_low": _n(r["acc"].low),
                    "acc_high": _n(r["acc"].high),
                    "f1": _n(r["f1"].estimate),
                    "f1_low": _n(r["f1"].low),
                    "f1_high": _n(r["f1"].high),
                    "worst_group": worst.get("group", ""),
                    "worst_acc": _n(worst["acc"].estimate) if worst else "",
                    "worst_low": _n(worst["acc"].low) if worst else "",
                    "worst_high": _n(worst["acc"].high) if worst else "",
                    "gap": _n(gap["points"].estimate) if gap else "",
                    "gap_low": _n(gap["points"].low) if gap else "",
                    "gap_high": _n(gap["points"].high) if gap else "",
                    **{f"recall_{c}": _n(r["recall"].get(c)) for c in names},
                }
            )
    return out.getvalue()
