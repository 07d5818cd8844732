"""The model card of an exported model: its metadata (fer/deploy/export.py, `describe`) in Markdown, for people.

Plain Python: the card can be rebuilt from an ONNX file's metadata without torch.
"""

from __future__ import annotations

SYNTHETIC_WARNING = (
    "> **Plumbing check only.** This model was trained and tested on synthetic faces rendered by the framework "
    "(`sources=synthetic`): it recognizes no real expression, and its figures say nothing about real faces."
)
LIMITS = [
    "Intended use: research on facial expression recognition and its methods; a starting point for models "
    "trained and validated on data like the data of their use.",
    "The classes are seven prototypical expressions; an expression shown is not an emotion felt, and many faces "
    "show none of the seven or a mix.",
    "Laboratory datasets (KDEF, CK+, JAFFE) hold posed, frontal, evenly lit faces of few, mostly young adult "
    "subjects: accuracy on spontaneous, turned, occluded, poorly lit or low-resolution faces, on children, older "
    "people or under-represented groups is unknown and usually much lower.",
    "Faces are found by the detector named under preprocessing; a missed face is replaced by the centre of the "
    "image (`face_found: false`) or skipped, as `on_no_face` says.",
    "Not for decisions about people (hiring, education, policing, health, insurance) or for inferring "
    "emotions without consent.",
]


def _pct(v) -> str:
    return f"{100 * float(v):.2f}%"


def _face_boxes(faces: dict) -> str:
    """How the crop box is found: a detector's box with its margin, or the fixed box / whole image (no detector)."""
    if faces.get("detector") == "none":
        where = f"fixed crop {faces['crop']} (fractions of width and height)" if faces.get("crop") else "whole image"
        return f"{where}, square {faces.get('square')}."
    return (
        f"each detected face's box (training used the largest) plus a margin of {faces.get('margin')} of its size "
        f"on each side, square {faces.get('square')}; no face found: `{faces.get('on_no_face')}`."
    )


def _round(values) -> list[float]:
    return [round(float(v), 4) for v in values]


def _metrics(m: dict | None, training: dict) -> list[str]:
    if not m:
        return [
            "No test metrics: the training run's folder held no results.json with test results (the run did not "
            "finish its tests, or the checkpoint was moved out of its run folder)."
        ]
    seed = training.get("seed")
    lines = [
        f"Runs: {m.get('runs', 1)} (seed {seed}): single figures, no spread over seeds or folds; "
        "`python -m fer.report` over a sweep gives means and intervals.",
        "",
        "| test set | images | accuracy | macro-F1 |",
        "| --- | ---: | ---: | ---: |",
    ]
    lines += [f"| {n} | {t['images']} | {_pct(t['acc'])} | {_pct(t['f1'])} |" for n, t in m["sets"].items()]
    if not m.get("same_checkpoint"):
        lines += [
            "",
            f"Measured with the run's checkpoint `{m.get('tested_checkpoint')}` (best on validation), not with the "
            f"exported `{training.get('checkpoint')}`.",
        ]
    return lines


def model_card(meta: dict, filename: str) -> str:
    """Markdown for the model `filename` with metadata `meta` (values as plain objects, not JSON strings)."""
    classes, pipeline, inp = meta["fer.class_names"], meta["fer.pipeline"], meta["fer.input"]
    training, faces = meta.get("fer.training") or {}, pipeline["faces"]
    shape = " x ".join(str(s) for s in inp["shape"])
    lines = [f"# {filename}: facial expression classifier ({meta['fer.backbone']})", ""]
    if training.get("synthetic_data"):
        lines += [SYNTHETIC_WARNING, ""]
    lines += [
        f"A `{meta['fer.backbone']}` network trained with ferlab {meta['fer.framework_version']} to classify a face "
        f"crop into {len(classes)} expressions. Metadata in the model (`fer.*` keys) says all of this for programs; "
        f"`python -m fer.predict --model {filename} <images, folders or videos>` uses it.",
        "",
        "## Classes",
        "",
        ", ".join(f"{i} `{c}`" for i, c in enumerate(classes)),
        "",
        "## Input and output",
        "",
        f"- Input `{inp['name']}`: {inp['dtype']} {shape} ({inp['layout']}, {inp['channels']}, values "
        f"{inp['range'][0]}-{inp['range'][1]}), any batch size N. Normalization is inside the model.",
        f"- Output `{meta['fer.output']['name']}`: N x {len(classes)}, {meta['fer.output']['what']}.",
        "",
        "## Preprocessing (the face pipeline of training)",
        "",
        f"- Face detector `{faces.get('detector')}`: " + _face_boxes(faces),
        f"- Crop resized to {pipeline['size']} x {pipeline['size']} ({pipeline.get('resize')}), "
        f"{'grey' if pipeline['color'] == 'gray' else 'RGB'}.",
        f"- In the model: pixels / 255, minus mean {_round(pipeline['mean'])}, over std {_round(pipeline['std'])}"
        + (", the grey channel replicated to RGB" if pipeline["color"] == "gray" and len(pipeline["mean"]) == 3 else "")
        + ("; the mean of the crop's and its mirror's probabilities" if meta["fer.output"].get("tta_flip") else "")
        + ".",
        *_adjustment_line(meta["fer.output"].get("logit_adjustment")),
        "",
        "## Training data",
        "",
        f"- Data variant `{training.get('data')}`: {', '.join(training.get('train_sources') or []) or 'unknown'}.",
        f"- Protocol `{training.get('protocol')}`, seed {training.get('seed')}, checkpoint "
        f"`{training.get('checkpoint')}`.",
        f"- Synthetic data: {({True: 'yes', False: 'no'}).get(training.get('synthetic_data'), 'unknown')}.",
        "",
        "## Test metrics",
        "",
        *_metrics(meta.get("fer.test_metrics"), training),
        "",
        "## Intended use and limits",
        "",
        *[f"- {line}" for line in LIMITS],
        "",
    ]
    return "\n".join(lines)


def _adjustment_line(adjustment: dict | None) -> list[str]:
    """The model card's line on a post-hoc logit adjustment (none without one)."""
    if not adjustment:
        return []
    return [
        f"- In the model: post-hoc logit adjustment, probabilities divided by the training prior to the power "
        f"tau = {adjustment['tau']:.1f} (fitted on {adjustment.get('val_images')} {adjustment.get('fitted_on')} "
        "images for macro-F1) and renormalized: rare classes are predicted more often."
    ]
