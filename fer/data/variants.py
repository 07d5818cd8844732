"""Training-side knobs that apply to any data variant (called from `FERDataModule.setup`).

- Offline augmentation (`data.offline_aug.enabled=true`, ranges and `copies` in `data.offline_aug.*`):
  every training source's original images get augmented copies through the same code as
  `python generate.py task=augment`, cached under `data.offline_aug.dir` in a folder keyed by the settings
  and the source crops. The whole source is augmented once; each copy carries its source subject, so the
  subject split that follows drops the copies of validation and test subjects with their sources.
  Only `data.train` sources are augmented (not the k-fold `pool`, e.g. CK+ and JAFFE), and only their
  `original` images (not PFA swaps or GAN samples).
- `data.gan_fraction` in [0, 1]: the share of GAN samples (origin `gan`) kept, per class, as a deterministic
  subset for `data.gan_seed` (nested: the subset for 0.25 lies inside the one for 0.5).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from fer.data.cache import PreparedSet, prepare
from fer.data.offline_aug import AugmentSettings, augment_to_folder, stable_int
from fer.data.readers.augmented import read_augmented
from fer.faces.detection import FaceOptions
from fer.utils.config import plain as _plain

log = logging.getLogger(__name__)


def gan_subset(prepared: PreparedSet, fraction: float, seed: int) -> PreparedSet:
    """Keep round(fraction * n) of each class's GAN samples, ranked by a stable hash of (seed, path)."""
    if not 0 <= fraction <= 1:
        raise ValueError(f"data.gan_fraction={fraction}: expected a fraction in [0, 1]")
    gan = [i for i, s in enumerate(prepared.samples) if s.origin == "gan"]
    if fraction == 1 or not gan:
        return prepared
    keep = {i for i, s in enumerate(prepared.samples) if s.origin != "gan"}
    for label in sorted({prepared.samples[i].label for i in gan}):
        idx = [i for i in gan if prepared.samples[i].label == label]
        # Ranked by a hash of (seed, class, file name): portable across machines; ties by the full path.
        idx.sort(
            key=lambda i: (
                stable_int(f"{seed}\0{label}\0{Path(prepared.samples[i].path).name}"),
                prepared.samples[i].path,
            )
        )
        keep.update(idx[: int(round(fraction * len(idx)))])
    return prepared.subset(sorted(keep))


def offline_augmented(
    name: str, source, prepared: PreparedSet, cfg: Mapping, size: int, color: str, cache_dir: str | Path
) -> PreparedSet | None:
    """The augmented copies of `prepared`'s original images (None when it has none), built once and cached."""
    originals = prepared.subset([i for i, s in enumerate(prepared.samples) if s.origin == "original"])
    if not len(originals.samples):
        return None
    cfg = _plain(cfg)
    if not cfg.get("dir"):
        raise ValueError(
            "data.offline_aug.dir is not set (the cache folder of augmented images, e.g. ${paths.offline_aug})"
        )
    root = str(source.root) if hasattr(source, "root") else _plain(source)["root"]  # a Source or an entry
    summary = augment_to_folder(
        originals,
        AugmentSettings.from_config(cfg),
        None,
        root,
        name=name,
        workers=cfg.get("workers"),
        preview=int(cfg.get("preview", 4)),
        base_dir=Path(cfg["dir"]) / f"{name}-{size}px-{color}",
    )
    samples = read_augmented(summary["out_dir"], name=f"{name}_ol", source_root=root)
    # The PNGs already hold crops at this size: the face step is the identity, the cache makes reloads cheap.
    return prepare(samples, FaceOptions(detector="none"), size, color, cache_dir, name=f"{name}_ol")


def training_parts(parts: dict[str, PreparedSet], hp: Mapping, sources: Mapping) -> dict[str, PreparedSet]:
    """Apply the variant knobs to the loaded training sources (`sources`: their catalogue entries, by name).
    Reads `hp` (the DataModule's hparams): offline_aug, gan_fraction, gan_seed, image_size, color, cache_dir."""
    fraction = float(hp.get("gan_fraction", 1.0) if hp.get("gan_fraction") is not None else 1.0)
    out = {n: gan_subset(p, fraction, int(hp.get("gan_seed") or 0)) for n, p in parts.items()}
    aug = _plain(hp.get("offline_aug") or {})
    if aug.get("enabled") and int(aug.get("copies", 1)) > 0:  # copies=0: the no-augmentation point of a sweep
        for n, p in list(out.items()):
            extra = offline_augmented(n, sources[n], p, aug, hp["image_size"], hp["color"], hp["cache_dir"])
            if extra is not None:
                out[f"{n}_ol"] = extra
    counts = {n: len(p.samples) for n, p in out.items()}
    if counts != {n: len(p.samples) for n, p in parts.items()}:
        log.info("training sources after the variant knobs: %s", counts)
    return out
