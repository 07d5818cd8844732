"""`python generate.py task=gan_eval gan_eval.checkpoint=<classifier ckpt>`: do the GAN samples carry their emotion?

With a classifier trained by train.py (its run's `.hydra/config.yaml` rebuilds the network, since
ClassifierModule does not store `net` in its hyperparameters), for every emotion found in the samples folder:
- accuracy: the fraction of samples classified as the emotion their GAN was trained on;
- diversity: mean pairwise distance among the samples' pooled trunk features, against the same among the
  real images of that class (the GAN's training faces); a ratio below `gan_eval.collapse_ratio` warns of
  mode collapse;
- copying: each sample's distance to its nearest training image, against the distance from each real image to
  its nearest real image of *another* subject (KDEF's series A and B of one person are near duplicates, so
  same-subject neighbours would make every sample look novel); samples closer than
  `gan_eval.copy_ratio` x that median are flagged as possible copies.
- sample quality, independent of the classifier being trained when an ImageNet network's weights are local
  (`gan_eval.feature_net`, from `gan_eval.feature_net_checkpoint` or the timm cache; else the classifier's pooled
  features, and the report says which): KID (mean and std over random subsets) and improved precision / recall
  (fidelity / coverage), per class and overall, against real faces of the class whose subjects the GAN never saw
  (`reference: held_out`); when it saw them all, against its training faces (`reference: training`, which
  rewards copying: hold subjects out with `gan.exclude_subjects` for an honest figure).
Writes `<out_dir>/gan_eval.json` (per class and overall) and `<out_dir>/gan_eval_samples.csv` (one row per sample).
"""

from __future__ import annotations

import csv
import io
import logging
from pathlib import Path

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from fer.classes import CLASSES
from fer.data.cache import PreparedSet
from fer.data.catalogue import dataset_with_extras, load_source
from fer.data.gan_manifest import read_manifest
from fer.deploy.checkpoint import load_classifier
from fer.evaluation.sample_quality import kid, precision_recall
from fer.models.classifier import embed
from fer.models.components.feature_net import imagenet_features
from fer.utils.io import atomic_write_json, atomic_write_text

log = logging.getLogger(__name__)


def mean_pairwise(f: torch.Tensor) -> float:
    """Mean Euclidean distance over all pairs of rows of `f` (N, D); NaN for fewer than two."""
    if len(f) < 2:
        return float("nan")
    d = torch.cdist(f, f)
    return float(d[torch.triu(torch.ones_like(d, dtype=torch.bool), 1)].mean())


def real_faces(cfg: DictConfig, size: int, color: str, faces) -> PreparedSet:
    """The real face crops to compare with: `dataset` plus `gan_eval.extra_sources`, cropped as the classifier's."""
    e = cfg.gan_eval
    parts = dataset_with_extras(cfg, e.extra_sources, "gan_eval.extra_sources")
    return PreparedSet.concat([load_source(n, c, faces, size, color, cfg.paths.cache_dir) for n, c in parts.items()])


def evaluate_class(name, s_probs, s_feats, s_samples, r_feats, r_samples, label, e) -> tuple[dict, list[dict]]:
    """One class's figures (accuracy, confidence, diversity ratio, nearest-real distances, possible copies) and one
    CSV row per sample. `s_*`: the samples' probabilities, features and Samples; `r_*`: the real images' features
    and Samples; `e`: the `gan_eval` config."""
    pred = s_probs.argmax(-1)
    correct = pred == label
    div_s, div_r = mean_pairwise(s_feats), mean_pairwise(r_feats)
    ratio = div_s / div_r if div_r > 0 else float("nan")
    d = torch.cdist(s_feats, r_feats)
    nn_dist, nn_idx = d.min(1)
    # Real baseline: each real image's nearest real image of another subject.
    subj = np.asarray([s.subject for s in r_samples])
    rr = torch.cdist(r_feats, r_feats)
    rr[torch.from_numpy(subj[:, None] == subj[None, :])] = float("inf")
    real_nn = rr.min(1).values
    real_nn = real_nn[torch.isfinite(real_nn)]
    baseline = float(real_nn.median()) if len(real_nn) else float("nan")
    copies = nn_dist < e.copy_ratio * baseline if baseline == baseline else torch.zeros_like(correct)
    result = {
        "samples": len(s_samples),
        "real_images": len(r_samples),
        "accuracy": float(correct.float().mean()),
        "mean_confidence": float(s_probs[:, label].mean()),
        "predicted": {c: int((pred == i).sum()) for i, c in enumerate(CLASSES)},
        "diversity_samples": div_s,
        "diversity_real": div_r,
        "diversity_ratio": ratio,
        "collapse": bool(ratio < e.collapse_ratio),
        "nn_distance_median": float(nn_dist.median()),
        "real_cross_subject_nn_median": baseline,
        "nn_ratio": float(nn_dist.median()) / baseline if baseline > 0 else float("nan"),
        "possible_copies": int(copies.sum()),
    }
    rows = [
        {
            "file": s.path,
            "class": name,
            "predicted": CLASSES[int(pred[i])],
            "correct": bool(correct[i]),
            "confidence": round(float(s_probs[i, label]), 5),
            "nn_distance": round(float(nn_dist[i]), 5),
            "nn_file": r_samples[int(nn_idx[i])].path,
            "possible_copy": bool(copies[i]),
        }
        for i, s in enumerate(s_samples)
    ]
    return result, rows


def quality_features(cfg: DictConfig, samples: np.ndarray, real: np.ndarray, s_feats, r_feats, device):
    """The features KID and precision/recall use, and the network's name: an ImageNet timm network when its
    weights are local, else the classifier's pooled features (already computed)."""
    e = cfg.gan_eval
    net = imagenet_features(e.feature_net, e.feature_net_checkpoint) if e.feature_net else None
    if net is None:
        if e.feature_net:
            log.warning(
                "no local ImageNet weights for gan_eval.feature_net=%s (set gan_eval.feature_net_checkpoint=<file>, "
                "or run timm.create_model(%r, pretrained=True) once with network access): KID and precision/recall "
                "use the classifier's own features",
                e.feature_net,
                e.feature_net,
            )
        return s_feats, r_feats, f"classifier:{e.checkpoint} (pooled trunk features)"
    net.to(device)
    return net.embed(samples, e.batch_size, device), net.embed(real, e.batch_size, device), net.description


def quality(fake: torch.Tensor, real: torch.Tensor, e) -> dict:
    """KID and precision/recall of generated against real features (the settings from `gan_eval`)."""
    if len(real) <= e.pr_k or len(fake) <= e.pr_k:
        return {"kid": float("nan"), "precision": float("nan"), "recall": float("nan"), "real_images": len(real)}
    return {
        **kid(real, fake, subsets=e.kid_subsets, subset_size=e.kid_subset_size, seed=e.seed),
        **precision_recall(real, fake, k=e.pr_k),
        "real_images": len(real),
    }


def reference_indices(real: PreparedSet, label: int, seen: set[str], min_held_out: int) -> tuple[list[int], str]:
    """Real faces of class `label` to judge samples against: those of subjects the GAN never saw when there are
    at least `min_held_out`, else those it trained on."""
    of_class = np.flatnonzero(real.labels == label)
    held_out = [int(i) for i in of_class if seen and real.samples[i].subject not in seen]
    if len(held_out) >= min_held_out:
        return held_out, "held_out"
    return [int(i) for i in of_class if not seen or real.samples[i].subject in seen], "training"


def run(cfg: DictConfig) -> dict:
    """Evaluate the GAN samples of every class with the classifier; writes `gan_eval.json` and
    `gan_eval_samples.csv` and returns the overall figures, per-class accuracy and warnings."""
    e = cfg.gan_eval
    out_dir = Path(cfg.out_dir).expanduser()
    model, pipeline = load_classifier(e.checkpoint, e.run_config)
    class_names = list(model.hparams.class_names)
    if tuple(class_names) != CLASSES:
        raise ValueError(f"{e.checkpoint}: classifier classes {class_names} differ from {list(CLASSES)}")
    device = torch.device("cuda" if torch.cuda.is_available() and e.device != "cpu" else "cpu")
    model.to(device)
    # The classifier's own face pipeline: its crop size and colour, its face options under the sources' own
    size, color, faces = pipeline.size, pipeline.color, pipeline.to_dict()["faces"]

    samples_dir = Path(e.samples_dir).expanduser()
    gan_cfg = {**OmegaConf.to_container(cfg.sources.gan_q, resolve=True), "root": str(samples_dir)}
    samples = load_source("gan_q", gan_cfg, faces, size, color, cfg.paths.cache_dir)
    real = real_faces(cfg, size, color, faces)
    manifest = read_manifest(samples_dir).get("classes", {})
    s_probs, s_feats = embed(model, samples.images, e.batch_size, device)
    r_probs, r_feats = embed(model, real.images, e.batch_size, device)
    r_labels, s_labels = real.labels, samples.labels
    q_s, q_r, feature_network = quality_features(cfg, samples.images, real.images, s_feats, r_feats, device)
    q_fake, q_real, references = [], [], set()

    report = {
        "checkpoint": str(e.checkpoint),
        "samples_dir": str(samples_dir),
        "image_size": size,
        "color": color,
        "classes": {},
        "warnings": [],
        "note": "one classifier checkpoint, one set of samples per class",
        "feature_network": feature_network,
    }
    rows: list[dict] = []
    for label, name in enumerate(CLASSES):
        s_idx = np.flatnonzero(s_labels == label)
        if not len(s_idx):
            continue
        seen = set(manifest.get(name, {}).get("seen_subjects") or [])
        r_idx = [i for i in np.flatnonzero(r_labels == label) if not seen or real.samples[i].subject in seen]
        if not r_idx:
            raise ValueError(
                f"no real {name!r} images to compare the samples with; check dataset.root "
                f"(and that the manifest's seen_subjects match this dataset)"
            )
        res, class_rows = evaluate_class(
            name,
            s_probs[s_idx],
            s_feats[s_idx],
            [samples.samples[i] for i in s_idx],
            r_feats[r_idx],
            [real.samples[i] for i in r_idx],
            label,
            e,
        )
        res["real_accuracy"] = float((r_probs[r_idx].argmax(-1) == label).float().mean())  # the classifier's bar
        ref_idx, reference = reference_indices(real, label, seen, e.min_held_out)
        res["generator"] = manifest.get(name, {}).get("generator", "per_emotion")
        res.update(reference=reference, **quality(q_s[s_idx], q_r[ref_idx], e))
        q_fake.append(q_s[s_idx])
        q_real.append(q_r[ref_idx])
        references.add(reference)
        report["classes"][name] = res
        rows += class_rows
        if res["collapse"]:
            msg = (
                f"{name}: possible mode collapse, sample diversity is {res['diversity_ratio']:.2f} x the real "
                f"images' (threshold gan_eval.collapse_ratio={e.collapse_ratio})"
            )
            log.warning(msg)
            report["warnings"].append(msg)
        if res["possible_copies"]:
            msg = f"{name}: {res['possible_copies']} sample(s) lie unusually close to a training image (see the CSV)"
            log.warning(msg)
            report["warnings"].append(msg)
    if not rows:
        raise ValueError(f"{samples_dir}: no samples of any class; run `python generate.py task=gan emotion=all` first")
    report["overall"] = {
        "samples": len(rows),
        "accuracy": float(np.mean([r["correct"] for r in rows])),
        "collapsed_classes": [n for n, r in report["classes"].items() if r["collapse"]],
        "reference": "+".join(sorted(references)),
        **quality(torch.cat(q_fake), torch.cat(q_real), e),
    }
    for name, r in report["classes"].items():
        log.info(
            "%-9s %s: accuracy %.3f  KID %.4f +- %.4f  precision %.3f  recall %.3f  (vs %d %s real faces)",
            name,
            r["generator"],
            r["accuracy"],
            r["kid"],
            r.get("kid_std", float("nan")),
            r["precision"],
            r["recall"],
            r["real_images"],
            r["reference"],
        )
    log.info("features for KID and precision/recall: %s", feature_network)
    atomic_write_json(out_dir / "gan_eval.json", report)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(out_dir / "gan_eval_samples.csv", buf.getvalue())
    log.info(
        "GAN samples: accuracy %.3f over %d samples; report %s",
        report["overall"]["accuracy"],
        len(rows),
        out_dir / "gan_eval.json",
    )
    return {
        "report": str(out_dir / "gan_eval.json"),
        "overall": report["overall"],
        "feature_network": feature_network,
        "accuracy": {n: r["accuracy"] for n, r in report["classes"].items()},
        "kid": {n: r["kid"] for n, r in report["classes"].items()},
        "warnings": report["warnings"],
    }
