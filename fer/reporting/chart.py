"""`report.png`: grouped bars of the mean accuracy per setting and test set, with 95% intervals as error bars
(across runs; a single run's bootstrap interval over its test images) and the paper's figures as markers."""

from __future__ import annotations

from pathlib import Path

from fer.reporting.paper import paper_value
from fer.utils.io import save_figure


def _key(r: dict) -> tuple:
    return (r["variant"], r["backbone"], r["setting"])


def bar_chart(rows: list[dict], refs: list[dict], path: Path, display, order) -> None:
    """Save the chart of the report's `rows` (one panel per protocol) with the paper's `refs` to `path`.
    `display` names a test set in the legend; `order` is the sort key of the test-set columns."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    protocols = sorted({r["protocol"] for r in rows}, key=str)
    fig, axes = plt.subplots(len(protocols), 1, figsize=(max(6, 1.2 * len(rows)), 4 * len(protocols)), squeeze=False)
    for ax, protocol in zip(axes[:, 0], protocols, strict=False):
        prow = [r for r in rows if r["protocol"] == protocol]
        groups = sorted({_key(r) for r in prow}, key=lambda k: tuple(map(str, k)))
        cols = sorted({r["test_set"] for r in prow}, key=order)
        width = 0.8 / len(cols)
        marked = False
        for j, c in enumerate(cols):
            xs, means, err = [], [], [[], []]
            for i, g in enumerate(groups):
                r = next((r for r in prow if _key(r) == g and r["test_set"] == c), None)
                if r is None:
                    continue
                x = i + (j - (len(cols) - 1) / 2) * width
                xs.append(x)
                means.append(r["mean"])
                low, high = r["ci_low"], r["ci_high"]
                err[0].append(max(0.0, r["mean"] - low) if low is not None else 0.0)
                err[1].append(max(0.0, high - r["mean"]) if high is not None else 0.0)
                ref = paper_value(refs, g[0], g[1], protocol, c)
                if ref is not None:
                    ax.plot(x, ref, "k*", markersize=10, label=None if marked else "paper")
                    marked = True
            ax.bar(xs, means, width, yerr=err, capsize=3, label=display(c))
        ax.set_xticks(range(len(groups)))
        ax.set_xticklabels(
            [f"{v}\n{b}" + (f"\n{s[:40]}" + ("..." if len(s) > 40 else "") if s else "") for v, b, s in groups],
            fontsize=8,
        )
        ax.set_ylabel("accuracy (%)")
        ax.set_ylim(0, 100)
        ax.set_title(f"{protocol}: mean over runs, 95% interval")
        ax.legend()
    fig.tight_layout()
    save_figure(fig, path, dpi=120)
