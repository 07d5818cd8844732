"""`python -m fer.study report <study>`: what the raters saw, with intervals (Markdown, CSV, a figure).

- Expression accuracy of people on real and on generated faces, per emotion and overall: the share of answers
  naming the face's class ("can't tell" counts as not naming it), with a 95% bootstrap interval that resamples
  face subjects with all their ratings (`fer.evaluation.stats.bootstrap_scores`; a generated face is its own
  subject), and the mean over raters with its t-interval (`fer.evaluation.stats.summarize`), which covers the
  spread between raters.
- Real-vs-generated detection accuracy (50% means people cannot tell), same intervals, and how often generated
  faces were taken for real.
- Inter-rater agreement: Krippendorff's alpha (the `krippendorff` package, nominal) on the expression ("can't
  tell" is a missing value) and on the real-or-generated answer.
- With `--checkpoint`: the framework's classifier on the same images (fer/study/classifier.py): how often it
  names the raters' majority expression, how often it agrees with single answers, its accuracy.
- Attention checks: a rater whose repeated faces got the same answers (expression and real-or-generated) in
  fewer than half of the checks is flagged and left out of every figure (`--keep-flagged` keeps them).
Only the first showing of a face counts; its repeat serves the check. `answers.csv` holds every answer and
`images.csv` one row per image, so every figure can be recomputed.
"""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from fer.classes import CLASSES
from fer.evaluation.stats import Interval, bootstrap_scores, summarize
from fer.reporting.wandb_log import log_report
from fer.study.db import CANT_TELL, EXPRESSIONS, KINDS, Study, StudyError
from fer.utils.io import atomic_write_text, save_figure

FLAG_BELOW = 0.5  # share of consistent attention checks under which a rater is flagged


# ------------------------------------------------------------------------------------------ raters
def rater_table(answers: list[dict]) -> list[dict]:
    """Per rater: answers, attention checks answered, how many were consistent, flagged, median seconds."""
    by_pos = {(a["rater_id"], a["position"]): a for a in answers}
    rows: dict[int, dict] = {}
    for a in answers:
        r = rows.setdefault(a["rater_id"], {"rater": a["rater"], "answers": 0, "checks": 0, "consistent": 0, "ms": []})
        r["answers"] += 1
        if a["elapsed_ms"] is not None:
            r["ms"].append(a["elapsed_ms"])
        first = by_pos.get((a["rater_id"], a["repeat_of"])) if a["repeat_of"] is not None else None
        if first is not None:
            r["checks"] += 1
            r["consistent"] += int(first["expression"] == a["expression"] and first["judged"] == a["judged"])
    out = []
    for rid, r in sorted(rows.items()):
        flagged = bool(r["checks"]) and r["consistent"] / r["checks"] < FLAG_BELOW
        median = float(np.median(r["ms"])) / 1000 if r["ms"] else None
        out.append(
            {
                "rater_id": rid,
                "rater": r["rater"],
                "answers": r["answers"],
                "checks": r["checks"],
                "consistent": r["consistent"],
                "flagged": flagged,
                "median_seconds": None if median is None else round(median, 2),
            }
        )
    return out


# ------------------------------------------------------------------------------------------ figures
def subject_of(a: dict) -> str:
    """The cluster an answer is resampled with: the real face's subject, or the generated face itself."""
    return a["subject"] if a["kind"] == "real" else f"generated:{a['item_id']}"


def accuracy(rows: list[dict], seed: int) -> dict:
    """Expression accuracy (%) with the face-subject interval, the mean over raters, can't-tell share."""
    if not rows:
        return {"n": 0, "acc": Interval(float("nan")), "raters": summarize([]), "cant_tell": float("nan")}
    labels = [CLASSES.index(a["label"]) for a in rows]
    preds = [EXPRESSIONS.index(a["expression"]) for a in rows]
    scores = bootstrap_scores(labels, preds, len(EXPRESSIONS), [subject_of(a) for a in rows], seed=seed)
    per_rater = defaultdict(list)
    for a in rows:
        per_rater[a["rater_id"]].append(a["expression"] == a["label"])
    return {
        "n": len(rows),
        "acc": scores["acc"],
        "raters": summarize([100 * float(np.mean(v)) for v in per_rater.values()]),
        "cant_tell": 100 * float(np.mean([a["expression"] == CANT_TELL for a in rows])),
    }


def detection(rows: list[dict], seed: int) -> dict:
    """Real-vs-generated accuracy (%) with the face-subject interval and the mean over raters; the share of
    generated faces taken for real."""
    if not rows:
        return {"n": 0, "acc": Interval(float("nan")), "raters": summarize([]), "fooled": float("nan")}
    labels = [KINDS.index(a["kind"]) for a in rows]
    preds = [KINDS.index(a["judged"]) for a in rows]
    scores = bootstrap_scores(labels, preds, len(KINDS), [subject_of(a) for a in rows], seed=seed)
    per_rater = defaultdict(list)
    for a in rows:
        per_rater[a["rater_id"]].append(a["judged"] == a["kind"])
    generated = [a for a in rows if a["kind"] == "generated"]
    return {
        "n": len(rows),
        "acc": scores["acc"],
        "raters": summarize([100 * float(np.mean(v)) for v in per_rater.values()]),
        "fooled": 100 * float(np.mean([a["judged"] == "real" for a in generated])) if generated else float("nan"),
    }


def alpha(rows: list[dict], field: str, values: tuple[str, ...], skip: tuple[str, ...] = ()) -> float | None:
    """Krippendorff's alpha (nominal) over raters x images; None when it is not defined (one rater, one value)."""
    import krippendorff

    raters = sorted({a["rater_id"] for a in rows})
    items = sorted({a["item_id"] for a in rows})
    if len(raters) < 2 or not items:
        return None
    data = np.full((len(raters), len(items)), np.nan)
    ri, ii = {r: i for i, r in enumerate(raters)}, {t: i for i, t in enumerate(items)}
    for a in rows:
        if a[field] not in skip:
            data[ri[a["rater_id"]], ii[a["item_id"]]] = values.index(a[field])
    try:
        value = float(krippendorff.alpha(reliability_data=data, level_of_measurement="nominal"))
    except (ValueError, ZeroDivisionError):
        return None
    return None if np.isnan(value) else value


def image_rows(items: list[dict], rows: list[dict], scores: dict | None) -> list[dict]:
    """One row per image: its ratings (first showings of counted raters) and the classifier's answer."""
    by_item = defaultdict(list)
    for a in rows:
        by_item[a["item_id"]].append(a)
    out = []
    for it in sorted(items, key=lambda it: (it["kind"], CLASSES.index(it["label"]), it["id"])):
        answers = by_item.get(it["id"], [])
        named = Counter(a["expression"] for a in answers if a["expression"] != CANT_TELL)
        top = named.most_common(2)
        majority = top[0][0] if top and (len(top) == 1 or top[0][1] > top[1][1]) else ""
        row = {
            "item": it["id"],
            "kind": it["kind"],
            "label": it["label"],
            "subject": it["subject"],
            "source": it["source"],
            "origin_file": it["origin_file"],
            "ratings": len(answers),
            "correct": sum(a["expression"] == it["label"] for a in answers),
            "cant_tell": sum(a["expression"] == CANT_TELL for a in answers),
            "majority": majority,
            "majority_votes": top[0][1] if majority else 0,
            "judged_real": sum(a["judged"] == "real" for a in answers),
            "judged_generated": sum(a["judged"] == "generated" for a in answers),
            "mean_confidence": round(float(np.mean([a["confidence"] for a in answers])), 3) if answers else "",
        }
        if scores is not None:
            probs = scores[it["id"]]
            row["classifier"] = CLASSES[int(np.argmax(probs))]
            row["classifier_confidence"] = round(float(np.max(probs)), 5)
        out.append(row)
    return out


def classifier_agreement(images: list[dict], rows: list[dict], seed: int) -> dict:
    """Per kind and overall: the classifier against the raters' majority expression (with a face-subject
    interval), against single answers, and against the true class."""
    pred = {r["item"]: r["classifier"] for r in images}
    out = {}
    for kind in (*KINDS, "all"):
        imgs = [r for r in images if kind in ("all", r["kind"])]
        voted = [r for r in imgs if r["majority"]]
        subjects = [r["subject"] if r["kind"] == "real" else f"generated:{r['item']}" for r in voted]
        maj = (
            bootstrap_scores(
                [CLASSES.index(r["majority"]) for r in voted],
                [CLASSES.index(r["classifier"]) for r in voted],
                len(CLASSES),
                subjects,
                seed=seed,
            )["acc"]
            if voted
            else Interval(float("nan"))
        )
        answers = [a for a in rows if kind in ("all", a["kind"])]
        out[kind] = {
            "images": len(imgs),
            "with_majority": len(voted),
            "majority": maj,
            "answers": 100 * float(np.mean([pred[a["item_id"]] == a["expression"] for a in answers]))
            if answers
            else float("nan"),
            "accuracy": 100 * float(np.mean([r["classifier"] == r["label"] for r in imgs])) if imgs else float("nan"),
        }
    return out


# ------------------------------------------------------------------------------------------ writing
def csv_text(rows: list[dict]) -> str:
    """Rows as CSV text with a header (empty for no rows)."""
    buf = io.StringIO()
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return buf.getvalue()


def _num(v: float | None, digits: int = 1) -> str:
    return "n/a" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:.{digits}f}"


def _t(s: dict) -> str:
    if s["mean"] is None:
        return "n/a"
    if s["low"] is None:
        return f"{s['mean']:.1f} (1 rater)"
    return f"{s['mean']:.1f} [{s['low']:.1f}, {s['high']:.1f}]"


def summary_rows(table: dict) -> list[dict]:
    """The main table as CSV rows: per emotion and overall, each figure with both intervals."""
    rows = []
    for scope, t in table.items():
        row = {"emotion": scope}
        for key, block in (("real", t["real"]), ("generated", t["generated"]), ("detection", t["detection"])):
            row[f"{key}_answers"] = block["n"]
            row[f"{key}_accuracy"] = _num(block["acc"].estimate, 2)
            row[f"{key}_low"] = _num(block["acc"].low, 2)
            row[f"{key}_high"] = _num(block["acc"].high, 2)
            row[f"{key}_rater_mean"] = _num(block["raters"]["mean"], 2)
            row[f"{key}_rater_low"] = _num(block["raters"]["low"], 2)
            row[f"{key}_rater_high"] = _num(block["raters"]["high"], 2)
        row["real_cant_tell"] = _num(t["real"]["cant_tell"], 2)
        row["generated_cant_tell"] = _num(t["generated"]["cant_tell"], 2)
        row["generated_taken_for_real"] = _num(t["detection"]["fooled"], 2)
        rows.append(row)
    return rows


def markdown(
    study: Study,
    table: dict,
    raters: list[dict],
    agreement: dict,
    clf: dict | None,
    kept: bool,
    subjects: dict[str, int],
) -> str:
    """report.md: the study, the main table, agreement, the classifier, the raters, the files."""
    m = study.meta
    flagged = [r["rater"] for r in raters if r["flagged"]]
    counted = [r for r in raters if kept or not r["flagged"]]
    lines = [
        f"# Rating study: {study.folder.name}",
        "",
        f"{len(study.items())} faces ({m['per_class']} real and {m['per_class']} generated per emotion: "
        f"{', '.join(m['classes'])}), {m['image_size']} px {m['color']}; generated: `{m['generated']}`, "
        f"real: `{m['real']}`. {len(raters)} rater(s) answered, {len(counted)} counted"
        + (f" ({len(flagged)} flagged by the attention checks and left out: {', '.join(flagged)})" if flagged else "")
        + (" (flagged raters kept: --keep-flagged)" if kept and flagged else "")
        + ".",
        "",
        "Accuracy in %, with a 95% bootstrap interval over face subjects (each generated face is its own subject)",
        "and the mean over raters with its 95% t-interval. Detection: real-vs-generated accuracy, 50% = chance.",
        "",
        "| emotion | real: expression | generated: expression | detection | generated taken for real | "
        "over raters: real / generated / detection |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for scope, t in table.items():
        name = f"**{scope}**" if scope == "overall" else scope
        lines.append(
            f"| {name} | {t['real']['acc'].text()} | {t['generated']['acc'].text()} | "
            f"{t['detection']['acc'].text()} | {_num(t['detection']['fooled'])} | "
            f"{_t(t['real']['raters'])} / {_t(t['generated']['raters'])} / {_t(t['detection']['raters'])} |"
        )
    o = table["overall"]
    lines += [
        "",
        f"Face subjects resampled: {subjects['real']} real, {subjects['generated']} generated (each generated face is "
        "its own)."
        + (" With fewer than 10 subjects on a side, its intervals say little." if min(subjects.values()) < 10 else ""),
        "",
        f'"Can\'t tell" answers: {_num(o["real"]["cant_tell"])}% on real faces, '
        f"{_num(o['generated']['cant_tell'])}% on generated ones (counted as wrong above).",
        "",
        "## Agreement between raters",
        "",
        "Krippendorff's alpha (nominal; 1 = full agreement, 0 = chance; \"can't tell\" is a missing value):",
        "",
        "| answer | all faces | real | generated |",
        "| --- | ---: | ---: | ---: |",
    ]
    for what, a in agreement.items():
        lines.append(f"| {what} | {_num(a['all'], 3)} | {_num(a['real'], 3)} | {_num(a['generated'], 3)} |")
    if clf is not None:
        lines += [
            "",
            f"## The classifier on the same faces (`{clf['checkpoint']}`)",
            "",
            "| faces | images (with a majority) | names the raters' majority | agrees with single answers | accuracy |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        for kind, c in clf["agreement"].items():
            lines.append(
                f"| {kind} | {c['images']} ({c['with_majority']}) | {c['majority'].text()} | {_num(c['answers'])} | "
                f"{_num(c['accuracy'])} |"
            )
    lines += [
        "",
        "## Raters",
        "",
        "| rater | answers | attention checks consistent | median seconds per face | flagged |",
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for r in raters:
        checks = f"{r['consistent']} of {r['checks']}" if r["checks"] else "none"
        lines.append(
            f"| {r['rater']} | {r['answers']} | {checks} | {_num(r['median_seconds'])} | "
            f"{'yes' if r['flagged'] else ''} |"
        )
    lines += [
        "",
        "Files: `summary.csv` (this table), `images.csv` (one row per image), `answers.csv` (every answer, "
        "attention checks and flagged raters included, with `counted`), `raters.csv`, `report.png`.",
        "",
    ]
    return "\n".join(lines)


def figure(table: dict, path: Path, title: str) -> None:
    """report.png: people's expression accuracy (real, generated) and detection accuracy per emotion."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scopes = list(table)
    x = np.arange(len(scopes))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.2))

    def bars(ax, blocks, offset, width, label, color):
        est = np.array([b["acc"].estimate for b in blocks], dtype=float)
        low = np.array([np.nan if b["acc"].low is None else b["acc"].low for b in blocks], dtype=float)
        high = np.array([np.nan if b["acc"].high is None else b["acc"].high for b in blocks], dtype=float)
        err = np.nan_to_num(np.vstack([est - low, high - est]), nan=0.0)
        ax.bar(x + offset, np.nan_to_num(est), width, yerr=err, capsize=3, label=label, color=color)

    bars(ax1, [table[s]["real"] for s in scopes], -0.2, 0.4, "real faces", "#4c72b0")
    bars(ax1, [table[s]["generated"] for s in scopes], 0.2, 0.4, "generated faces", "#dd8452")
    ax1.axhline(100 / len(CLASSES), color="grey", lw=1, ls=":", label="chance (1 in 7)")
    ax1.set_title("Which expression? People's accuracy")
    bars(ax2, [table[s]["detection"] for s in scopes], 0.0, 0.6, "real-vs-generated accuracy", "#55a868")
    ax2.axhline(50, color="grey", lw=1, ls=":", label="50%: cannot tell")
    ax2.set_title("Real photo or generated? Detection accuracy")
    for ax in (ax1, ax2):
        ax.set_xticks(x, scopes, rotation=30, ha="right")
        ax.set_ylim(0, 122)
        ax.set_yticks(range(0, 101, 20))
        ax.set_ylabel("% (95% interval over face subjects)")
        ax.legend(fontsize=8, loc="upper center", ncol=3, frameon=False)
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_figure(fig, path, dpi=110)


def report(
    study_dir: str | Path,
    out_dir: str | Path | None = None,
    checkpoint: str | None = None,
    run_config: str | None = None,
    keep_flagged: bool = False,
    wandb_project: str | None = None,
    seed: int = 0,
) -> dict:
    """Write report.md, summary.csv, images.csv, answers.csv, raters.csv and report.png; returns their paths and
    the overall figures."""
    study = Study.open(study_dir)
    try:
        items, answers = study.items(), study.answers()
    finally:
        study.close()
    if not answers:
        raise StudyError(
            f"{study.folder}: no answers yet ({len(study.raters())} rater(s) invited); "
            "serve the study and let the raters answer first"
        )
    raters = rater_table(answers)
    flagged = {r["rater_id"] for r in raters if r["flagged"]}
    for a in answers:
        a["counted"] = a["repeat_of"] is None and (keep_flagged or a["rater_id"] not in flagged)
    rows = [a for a in answers if a["counted"]]
    if not rows:
        raise StudyError(
            f"{study.folder}: every rater who answered was flagged by the attention checks; "
            "look at raters in answers.csv, or pass --keep-flagged"
        )

    table = {}
    for scope in (*[c for c in CLASSES if c in study.meta["classes"]], "overall"):
        part = [a for a in rows if scope in ("overall", a["label"])]
        table[scope] = {
            "real": accuracy([a for a in part if a["kind"] == "real"], seed),
            "generated": accuracy([a for a in part if a["kind"] == "generated"], seed),
            "detection": detection(part, seed),
        }
    agreement = {}
    for what, field, values, skip in (
        ("expression", "expression", EXPRESSIONS, (CANT_TELL,)),
        ("real or generated", "judged", KINDS, ()),
    ):
        agreement[what] = {
            k: alpha([a for a in rows if k in ("all", a["kind"])], field, values, skip) for k in ("all", *KINDS)
        }
    scores = clf = None
    if checkpoint:
        from fer.study.classifier import score_images

        scores = score_images(study.folder, items, checkpoint, run_config)
    images = image_rows(items, rows, scores)
    if scores is not None:
        clf = {"checkpoint": str(checkpoint), "agreement": classifier_agreement(images, rows, seed)}

    out = Path(out_dir).expanduser() if out_dir else study.folder / "report"
    files = {
        "report": out / "report.md",
        "summary": out / "summary.csv",
        "images": out / "images.csv",
        "answers": out / "answers.csv",
        "raters": out / "raters.csv",
        "figure": out / "report.png",
    }
    subjects = {k: len({subject_of(a) for a in rows if a["kind"] == k}) for k in KINDS}
    atomic_write_text(files["report"], markdown(study, table, raters, agreement, clf, keep_flagged, subjects))
    atomic_write_text(files["summary"], csv_text(summary_rows(table)))
    atomic_write_text(files["images"], csv_text(images))
    atomic_write_text(files["answers"], csv_text(answers))
    atomic_write_text(files["raters"], csv_text(raters))
    counted = len({a["rater_id"] for a in rows})
    figure(table, files["figure"], f"Rating study '{study.folder.name}': {len(rows)} answers from {counted} raters")
    result = {
        "files": files,
        "overall": {k: table["overall"][k]["acc"] for k in ("real", "generated", "detection")},
        "agreement": agreement,
        "classifier": clf,
        "flagged": sorted(r["rater"] for r in raters if r["flagged"]),
    }
    if wandb_project:
        result["wandb_dir"] = log_report(files, wandb_project, f"study-{study.folder.name}", out)
    return result
