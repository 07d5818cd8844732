"""`python -m fer.report <sweep> --compare KEY=A,B`: is setting B better than setting A, per test set?

A run's value of KEY is read from its overrides as they are spelled (`data=kdef_pfa_q`,
`data.offline_aug.enabled=true`, `backbone=vgg19`); `data`, `backbone` and `protocol` fall back to the run's
record. Runs are matched when they share seed, split seed and fold and everything else (protocol, variant,
backbone, other settings) except KEY. Matched runs give paired differences (fer.evaluation.stats.compare_paired; one
pair: a paired bootstrap over the shared test images); runs without a match fall back to an unpaired test."""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict

import numpy as np

from fer.errors import UserError
from fer.evaluation import stats
from fer.runs.record import IDENTITY, LoadedRun, setting_overrides

PAIRING = ("seed", "split_seed", "protocol.fold")  # what matches runs; comparing them makes no sense
RECORD_FIELD = {v: k for k, v in IDENTITY.items() if k not in ("fold", "seed", "split_seed", "task_name")}


class CompareError(UserError, ValueError):
    """`--compare` names a key or values that no run has."""


def parse(spec: str) -> tuple[str, str, str]:
    """`KEY=A,B` -> (key, a, b); a malformed spec or a pairing key is a CompareError."""
    key, sep, values = spec.partition("=")
    parts = [v.strip() for v in values.split(",")]
    if not sep or not key.strip() or len(parts) != 2 or not all(parts):
        raise CompareError(f"--compare {spec!r}: expected KEY=A,B (two values), e.g. --compare data=kdef,kdef_pfa_q")
    key = key.strip().lstrip("+~")
    if key in PAIRING:
        raise CompareError(f"--compare {key}: {key} is what pairs runs; compare a setting (data, backbone, ...)")
    return key, parts[0], parts[1]


def _overrides(run: LoadedRun) -> dict[str, str]:
    out = {}
    for o in run.record.overrides or []:
        k, sep, v = o.partition("=")
        if sep:
            out[k.lstrip("+~")] = v
    return out


def canonical(value) -> str:
    """One spelling per value, as Hydra parses it: a sweep over `false,true` records `False` and `True`, and
    `0.50` is `0.5`."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    if not isinstance(value, str):
        parsed = value
    else:
        try:
            parsed = OverridesParser.create().parse_override(f"k={value}").value()
        except HydraException:
            return value
    if isinstance(parsed, bool) or parsed is None:
        return str(parsed).lower()
    return json.dumps(parsed) if isinstance(parsed, int | float) else str(parsed)


def value_of(run: LoadedRun, key: str) -> str | None:
    """The run's value of `key` (its override, else its record's field for data/backbone/protocol), canonical;
    None when the run does not set it."""
    value = _overrides(run).get(key)
    if value is None and key in RECORD_FIELD:
        value = getattr(run.record, RECORD_FIELD[key])
    return None if value is None else canonical(value)


def label(key: str, value: str) -> str:
    """How a compared value is named in the tables: the bare value for data and backbone, else `key=value`."""
    return value if key in ("data", "backbone") else f"{key}={value}"


def _context(run: LoadedRun, key: str) -> tuple:
    """Everything that must agree between two runs compared on KEY, except the pairing fields."""
    r = run.record
    others = ",".join(sorted(o for o in setting_overrides(r.overrides) if o.split("=", 1)[0].lstrip("+~") != key))
    return (
        r.protocol,
        None if key == "data" else r.variant,
        None if key == "backbone" else r.backbone,
        others,
    )


def _context_label(ctx: tuple, common: set) -> str:
    protocol, variant, backbone, others = ctx
    parts = [str(p) for p in (protocol, variant, backbone) if p is not None]
    extra = [o for o in others.split(",") if o and o not in common]
    return " / ".join(parts + extra)


def select(runs: list[LoadedRun], key: str, a: str, b: str) -> tuple[list[LoadedRun], list[LoadedRun]]:
    """The runs with key=a and those with key=b; a CompareError names the keys or values seen when none match."""
    seen: dict[str, int] = defaultdict(int)
    for run in runs:
        v = value_of(run, key)
        if v is not None:
            seen[v] += 1
    if not seen:
        keys = sorted({k for run in runs for k in _overrides(run)} | set(RECORD_FIELD))
        raise CompareError(f"--compare {key}: no run sets {key}; keys seen in the runs' overrides: {', '.join(keys)}")
    a, b = canonical(a), canonical(b)
    missing = [v for v in (a, b) if v not in seen]
    if missing:
        values = ", ".join(f"{v} ({n} run{'s' if n > 1 else ''})" for v, n in sorted(seen.items()))
        raise CompareError(f"--compare {key}: no run has {key}={' or '.join(missing)}; values seen: {values}")
    return [r for r in runs if value_of(r, key) == a], [r for r in runs if value_of(r, key) == b]


def compare(
    runs: list[LoadedRun], spec: str, figures: dict[int, dict], column_of, display, seed: int = 0
) -> list[dict]:
    """One entry per (context, test column): {"context", "comparison": stats.Comparison, "pairs": [...]}.
    `figures` maps id(run) to its per-test RunFigures (fer.reporting.per_run)."""
    key, a, b = parse(spec)
    runs_a, runs_b = select(runs, key, a, b)
    la, lb = label(key, a), label(key, b)
    contexts: dict[tuple, dict[str, list[LoadedRun]]] = defaultdict(lambda: {"a": [], "b": []})
    for side, rs in (("a", runs_a), ("b", runs_b)):
        for r in rs:
            contexts[_context(r, key)][side].append(r)
    all_settings = [set(ctx[3].split(",")) - {""} for ctx in contexts]
    common = set.intersection(*all_settings) if all_settings else set()
    out = []
    for ctx, sides in sorted(contexts.items(), key=lambda kv: tuple(map(str, kv[0]))):
        cols = sorted({column_of(t) for r in sides["a"] + sides["b"] for t in r.record.tests or {}})
        for col in cols:
            out.append(_compare_cell(sides, col, la, lb, figures, column_of, display, seed))
            out[-1]["context"] = _context_label(ctx, common) if len(contexts) > 1 else ""
    return out


def _acc(run: LoadedRun, col: str, column_of) -> tuple[str, float] | None:
    for name, res in (run.record.tests or {}).items():
        if column_of(name) == col and res.get("acc") is not None:
            return name, 100 * float(res["acc"])
    return None


def _compare_cell(sides, col, la, lb, figures, column_of, display, seed) -> dict:
    def pair_key(r):
        return (r.record.seed, r.record.split_seed, r.record.fold)

    def with_acc(rs):
        return {pair_key(r): (r, _acc(r, col, column_of)) for r in rs if _acc(r, col, column_of)}

    va, vb = with_acc(sides["a"]), with_acc(sides["b"])
    shared = sorted(set(va) & set(vb), key=lambda k: tuple(map(str, k)))
    pairs = [
        {"seed": k[0], "split_seed": k[1], "fold": k[2], "a": va[k][1][1], "b": vb[k][1][1], "diff": None}
        for k in shared
    ]
    for p in pairs:
        p["diff"] = p["b"] - p["a"]
    test = display(col)
    if len(shared) >= 2:
        c = stats.compare_paired(la, lb, test, [p["diff"] for p in pairs])
    elif len(shared) == 1:
        c = _one_pair(va[shared[0]], vb[shared[0]], la, lb, test, figures, seed)
    else:
        c = stats.compare_unpaired(la, lb, test, [v[1][1] for v in va.values()], [v[1][1] for v in vb.values()])
    left = (len(va) - len(shared)) + (len(vb) - len(shared))
    if shared and left:
        c.note = "; ".join(filter(None, [c.note, f"{left} run(s) without a matching run left out"]))
    c.n_a, c.n_b = len(va), len(vb)
    return {
        "comparison": c,
        "pairs": pairs,
        "test_set": col,
        "mean_a": float(np.mean([v[1][1] for v in va.values()])) if va else None,
        "mean_b": float(np.mean([v[1][1] for v in vb.values()])) if vb else None,
    }


def _one_pair(run_a, run_b, la, lb, test, figures, seed) -> stats.Comparison:
    """One matched pair: a paired bootstrap over the test images both runs predicted, when both wrote them."""
    (ra, (name_a, acc_a)), (rb, (name_b, acc_b)) = run_a, run_b
    pa = getattr(figures.get(id(ra), {}).get(name_a), "predictions", None)
    pb = getattr(figures.get(id(rb), {}).get(name_b), "predictions", None)
    if pa is not None and pb is not None:
        index_b = {f: i for i, f in enumerate(pb.files)}
        both = [(i, index_b[f]) for i, f in enumerate(pa.files) if f in index_b]
        if both:
            ia, ib = (np.asarray(x) for x in zip(*both, strict=True))
            return stats.compare_images(
                la, lb, test, pa.correct[ia], pb.correct[ib], [pa.subjects[i] for i in ia], seed=seed
            )
    c = stats.compare_paired(la, lb, test, [acc_b - acc_a])
    c.note = "one matched pair and no shared predictions files: add seeds, or rerun to write predictions"
    return c


# ------------------------------------------------------------------------------------------ rendering
def markdown(spec: str, results: list[dict]) -> str:
    """`compare.md`: one sentence per comparison (`compare`'s results), then the paired runs' accuracies."""
    key, a, b = parse(spec)
    lines = [
        f"# {label(key, b)} vs {label(key, a)}\n",
        "Accuracy in %; difference = "
        f"{label(key, b)} - {label(key, a)} in points. Runs are paired when they share seed, split seed and fold "
        "and all other settings; the interval is a 95% t-interval over the paired differences (one pair: a paired "
        "bootstrap over the shared test images; unmatched runs: Welch's).\n",
    ]
    for r in results:
        c = r["comparison"]
        head = f"{r['context']}: " if r["context"] else ""
        lines.append(f"- {head}{c.sentence()}")
    for r in results:
        if not r["pairs"]:
            continue
        title = f"{r['context']}, " if r["context"] else ""
        lines += [
            f"\n## {title}{r['comparison'].test_set}\n",
            f"| seed | split seed | fold | {label(key, a)} | {label(key, b)} | difference |",
            "|---|---|---|---|---|---|",
        ]
        for p in r["pairs"]:
            fold = "-" if p["fold"] is None else p["fold"]
            lines.append(
                f"| {p['seed']} | {p['split_seed']} | {fold} | {p['a']:.2f} | {p['b']:.2f} | {p['diff']:+.2f} |"
            )
    return "\n".join(lines) + "\n"


FIELDS = [
    "context",
    "test_set",
    "a",
    "b",
    "method",
    "n_pairs",
    "n_a",
    "n_b",
    "mean_a",
    "mean_b",
    "diff",
    "low",
    "high",
    "test",
    "p",
    "significant",
    "images",
    "sentence",
]


def csv_text(results: list[dict]) -> str:
    """`compare.csv`: one row per comparison (FIELDS)."""
    out = io.StringIO()
    w = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\n")
    w.writeheader()
    for r in results:
        c = r["comparison"]
        w.writerow(
            {
                "context": r["context"],
                "test_set": c.test_set,
                "a": c.a,
                "b": c.b,
                "method": c.method,
                "n_pairs": c.n_pairs,
                "n_a": c.n_a,
                "n_b": c.n_b,
                **{k: "" if r[k] is None else f"{r[k]:.4f}" for k in ("mean_a", "mean_b")},
                **{k: "" if getattr(c, k) is None else f"{getattr(c, k):.4f}" for k in ("diff", "low", "high")},
                "test": c.test,
                "p": "" if c.p is None else f"{c.p:.6g}",
                "significant": int(c.significant),
                "images": c.images or "",
                "sentence": c.sentence(),
            }
        )
    return out.getvalue()
