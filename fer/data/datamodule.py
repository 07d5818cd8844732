"""FERDataModule: sources -> cached face crops -> subject-independent train/val/test sets of uint8 tensors.

Protocols:
- `cross_db`: train on the variant's sources minus a held-out fraction of their subjects (validation, used
  for checkpoint choice); test on each configured test set (e.g. CK+ and JAFFE) separately.
- `kfold`: the variant's sources plus the `pool` sources, folds made on subjects; fold `fold` is the test
  set, a fraction of the remaining subjects is validation.
Only subjects with original images are dealt out; derived images follow their source subject, and images
that stand for no real subject (GAN samples, web faces) stay in training. Every setup passes
`check_no_leakage` and saves the split's subject lists, digest and GAN exposure (which evaluation subjects
the GAN behind the training samples has seen, from its manifest).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from fer.data.cache import PreparedSet
from fer.data.sources import load_source
from fer.data.splits import (
    check_no_leakage,
    gan_exposure,
    holdout_subjects,
    kfold_subjects,
    read_gan_seen_subjects,
    save_split,
    split_record,
)
from fer.data.variants import training_parts

log = logging.getLogger(__name__)
PROTOCOLS = ("cross_db", "kfold")


class FaceArrayDataset(Dataset):
    """(C, H, W) uint8 tensors and int labels from a PreparedSet; normalization happens on the device."""

    def __init__(self, prepared: PreparedSet):
        self.images = prepared.images
        self.labels = torch.as_tensor(prepared.labels)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int):
        # np.array: a writable copy of the (memory-mapped, read-only) crop; torch warns on read-only arrays
        return torch.from_numpy(np.array(self.images[i])).permute(2, 0, 1), self.labels[i]


class FERDataModule(pl.LightningDataModule):
    def __init__(
        self,
        train: dict,
        tests: dict | None = None,
        pool: dict | None = None,
        protocol: str = "cross_db",
        val_fraction: float = 0.15,
        n_folds: int = 5,
        fold: int = 0,
        split_seed: int = 0,
        faces: dict | None = None,
        image_size: int = 224,
        color: str = "gray",
        batch_size: int = 32,
        num_workers: int = 0,
        cache_dir: str = ".cache/faces",
        output_dir: str | None = None,
        name: str = "data",
        offline_aug: dict | None = None,  # {enabled, dir, copies, ranges...}: fer.data.variants
        gan_fraction: float = 1.0,  # share of GAN samples kept (deterministic per gan_seed)
        gan_seed: int = 0,
        val_origins: tuple[str, ...] = ("original",),  # origins scored on the validation side
    ):
        super().__init__()
        if protocol not in PROTOCOLS:
            raise ValueError(f"protocol={protocol!r}; expected one of {PROTOCOLS}")
        if protocol == "kfold" and not 0 <= fold < n_folds:
            raise ValueError(f"protocol.fold={fold} outside 0..{n_folds - 1}")
        self.save_hyperparameters(logger=False)
        self.train_set: PreparedSet | None = None
        self.val_set: PreparedSet | None = None
        self.test_sets: dict[str, PreparedSet] = {}
        self.split: dict = {}

    def _load(self, sources: dict | None) -> dict[str, PreparedSet]:
        hp = self.hparams
        return {name: load_source(name, cfg, hp.faces or {}, hp.image_size, hp.color, hp.cache_dir)
                for name, cfg in (sources or {}).items() if cfg is not None}

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        hp = self.hparams
        train_parts = training_parts(self._load(hp.train), hp)  # offline augmentation, GAN fraction
        if not train_parts:
            raise ValueError("the data variant names no training source (data.train is empty)")
        if hp.protocol == "cross_db":
            pool = PreparedSet.concat(list(train_parts.values()))
            self.test_sets = self._load(hp.tests)
            held = holdout_subjects(_split_subjects(pool, hp.val_origins), hp.val_fraction, hp.split_seed)
            test_subjects: set[str] = set()
        else:
            pool = PreparedSet.concat(list(train_parts.values()) + list(self._load(hp.pool).values()))
            folds = kfold_subjects(_split_subjects(pool), hp.n_folds, hp.split_seed)
            test_subjects = folds[hp.fold]
            self.test_sets = {f"fold{hp.fold}": pool.subset(
                [i for i, s in enumerate(pool.samples) if s.subject in test_subjects and s.origin == "original"])}
            rest = _split_subjects(pool, hp.val_origins) - test_subjects
            held = holdout_subjects(rest, hp.val_fraction, hp.split_seed + 1)
            pool = pool.subset([i for i, s in enumerate(pool.samples) if s.subject not in test_subjects])
        # Validation scores real images only (val_origins); derived images of validation subjects are dropped.
        self.val_set = pool.subset([i for i, s in enumerate(pool.samples) if s.subject in held and s.origin in hp.val_origins])
        self.train_set = pool.subset([i for i, s in enumerate(pool.samples) if s.subject not in held])
        check_no_leakage(self.train_set.samples, val=self.val_set.samples,
                         **{f"test:{k}": v.samples for k, v in self.test_sets.items()})
        self.split = split_record(train=self.train_set.samples, val=self.val_set.samples,
                                  **{f"test:{k}": v.samples for k, v in self.test_sets.items()})
        self.split.update(protocol=hp.protocol, split_seed=hp.split_seed,
                          fold=hp.fold if hp.protocol == "kfold" else None)
        self.split["gan"] = self._gan_exposure(held, test_subjects | {s.subject for t in self.test_sets.values() for s in t.samples})
        if hp.output_dir:
            save_split(Path(hp.output_dir) / "split.json", self.split)
        log.info("split %s: %s", self.split["digest"], self.split["images"])

    def _gan_exposure(self, val_subjects: set[str], test_subjects: set[str]) -> dict:
        """Which evaluation subjects the GANs behind the training images have seen (their manifests say)."""
        roots = {name: cfg["root"] for name, cfg in {**(self.hparams.train or {}), **(self.hparams.pool or {})}.items()
                 if cfg is not None and (cfg.get("options") or {}).get("origin") == "gan"}
        roots = {n: r for n, r in roots.items() if any(s.dataset == n for s in self.train_set.samples)}
        exposure = gan_exposure({n: read_gan_seen_subjects(r) for n, r in roots.items()},
                                val=val_subjects, test=test_subjects)
        if exposure.get("test_subjects_seen"):
            log.warning("GAN samples in training were generated by a GAN trained on %d subject(s) of the test side "
                        "(%s): this run's test accuracy is not subject-independent for them; use per-fold GANs",
                        exposure["test_subjects_seen"], ", ".join(exposure["sources"]))
        if exposure.get("unknown"):
            log.warning("GAN source(s) %s have no manifest.json: cannot tell which subjects their GAN saw",
                        exposure["unknown"])
        return exposure

    def _loader(self, prepared: PreparedSet, shuffle: bool) -> DataLoader:
        return DataLoader(FaceArrayDataset(prepared), batch_size=self.hparams.batch_size, shuffle=shuffle,
                          num_workers=self.hparams.num_workers, persistent_workers=self.hparams.num_workers > 0,
                          drop_last=False)

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, shuffle=False)

    def test_dataloader(self) -> list[DataLoader]:
        return [self._loader(s, shuffle=False) for s in self.test_sets.values()]

    @property
    def test_names(self) -> list[str]:
        return list(self.test_sets)


def _split_subjects(pool: PreparedSet, origins=("original",)) -> set[str]:
    """The subjects a split deals out: those with images of the scored origins (originals by default).
    Subjects of derived images only (a GAN sample, a web face: each its own subject) have nothing to evaluate
    and stay on the training side, unless a variant scores them (kdef_gan_q validates on held-out GAN images)."""
    return {s.subject for s in pool.samples if s.origin in origins}
