"""The paper's published figures (arXiv 2402.09982), shown as reference rows beside runs on real data."""

from __future__ import annotations

LABEL = "paper (arXiv 2402.09982)"

# (variant, backbone, protocol, test column) -> (mean accuracy %, variance or None when not published).
# Only figures stated in a source enter here; the rest of the paper's table (other variants and backbones,
# the variances) is left out until read off the paper itself.
# Source: arXiv 2402.09982, the best configuration (InceptionResNetV2 trained on KDEF + PFA + Q),
# https://arxiv.org/abs/2402.09982
PAPER: dict[tuple[str, str, str, str], tuple[float, float | None]] = {
    ("kdef_pfa_q", "inception_resnet_v2", "cross_db", "ckplus"): (86.15, None),
    ("kdef_pfa_q", "inception_resnet_v2", "cross_db", "jaffe"): (72.56, None),
    ("kdef_pfa_q", "inception_resnet_v2", "kfold", "kfold"): (97.99, None),
}


def reference_rows(records) -> list[dict]:
    """The paper's figures for the protocols and backbones the runs use; for runs on real data only (never
    beside synthetic-data numbers)."""
    if not records or any(r.synthetic_data is not False for r in records):
        return []
    used = {(r.protocol, r.backbone) for r in records}
    return [
        {
            "protocol": protocol,
            "variant": variant,
            "backbone": backbone,
            "label": LABEL,
            "test_set": col,
            "mean": mean,
            "var": var,
        }
        for (variant, backbone, protocol, col), (mean, var) in sorted(PAPER.items())
        if (protocol, backbone) in used
    ]


def paper_value(refs: list[dict], variant, backbone, protocol, col) -> float | None:
    """The paper's mean for one cell of our table, if published."""
    return next(
        (
            r["mean"]
            for r in refs
            if (r["variant"], r["backbone"], r["protocol"], r["test_set"]) == (variant, backbone, protocol, col)
        ),
        None,
    )
