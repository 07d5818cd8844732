"""FERDataModule: catalogue sources -> cached face crops -> the protocol's train / validation / named test sets.

The module only loads, splits through the protocol (fer/data/protocols.py), checks leakage and serves loaders.
`preflight()` resolves every source the run needs (training, k-fold pool, test sets) and names all the missing
ones at once, before anything is read. Every setup passes `check_no_leakage` and saves `split.json` (the
split's subject lists, digest and GAN exposure: which evaluation subjects the GAN behind the training samples
has seen, from its manifest).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset

from fer.data.cache import PreparedSet
from fer.data.catalogue import Source, preflight, select
from fer.data.gan_manifest import read_gan_seen_subjects
from fer.data.protocols import PROTOCOLS, Protocol
from fer.data.splits import check_no_leakage, gan_exposure, save_split, split_record
from fer.data.variants import training_parts
from fer.errors import ConfigError
from fer.faces.pipeline import FacePipeline

log = logging.getLogger(__name__)


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
    """Loads the variant's training sources (and the protocol's pool and test sets) as cached face crops, splits
    them through `protocol`, checks leakage, saves `split.json` to `output_dir` and serves uint8 batches."""

    def __init__(
        self,
        train,  # catalogue names ([kdef, pfa]) or {name: entry or null}
        protocol: Protocol | str = "cross_db",
        catalogue: Mapping | None = None,  # the catalogue entries (`sources`) that names refer to
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
        kfold_pool: list[str] | None = None,  # the variant's default protocol.pool (read by conf/protocol/kfold.yaml)
    ):
        super().__init__()
        if isinstance(protocol, str):
            if protocol not in PROTOCOLS:
                raise ConfigError(f"protocol={protocol!r}; expected one of {sorted(PROTOCOLS)}")
            protocol = PROTOCOLS[protocol]()
        self.protocol = protocol
        self.save_hyperparameters(logger=False, ignore=["protocol", "catalogue", "kfold_pool"])
        self.sources = {
            "train": select(train, catalogue, "data.train"),
            "pool": select(protocol.pool, catalogue, "protocol.pool"),
            "test": select(protocol.tests, catalogue, "protocol.tests"),
        }
        # Each source's face pipeline, built once: the cache crops with it, and the checkpoint keeps the training
        # source's (`training_pipeline`), so prediction crops as training did.
        self.pipelines: dict[str, FacePipeline] = {
            n: s.pipeline(faces, image_size, color) for part in self.sources.values() for n, s in part.items()
        }
        self.train_set: PreparedSet | None = None
        self.val_set: PreparedSet | None = None
        self.test_sets: dict[str, PreparedSet] = {}
        self.split: dict = {}

    @property
    def test_names(self) -> list[str]:
        """The protocol's test sets, known without reading any data (the model is built from them)."""
        return self.protocol.test_names(list(self.sources["train"]))

    @property
    def training_pipeline(self) -> FacePipeline:
        """The face pipeline of the main training source (its first original dataset, else its first source)."""
        train = self.sources["train"]
        main = next((n for n, s in train.items() if s.origin == "original"), next(iter(train), None))
        if main is None:
            raise ConfigError("the data variant names no training source (data.train is empty)")
        return self.pipelines[main]

    def preflight(self) -> None:
        """Fail before any data is read, naming every missing source with its path and how to produce it."""
        if not self.sources["train"]:
            raise ConfigError("the data variant names no training source (data.train is empty)")
        preflight(
            {
                "training source": self.sources["train"].values(),
                "k-fold pool source": self.sources["pool"].values(),
                "test set": self.sources["test"].values(),
            }
        )

    def _load(self, sources: dict[str, Source]) -> dict[str, PreparedSet]:
        cache_dir = self.hparams.cache_dir
        return {n: s.load(self.pipelines[n], cache_dir) for n, s in sources.items()}

    def setup(self, stage: str | None = None) -> None:
        """Load, split, check and record once; later calls do nothing."""
        if self.train_set is not None:
            return
        self.preflight()
        hp = self.hparams
        train = training_parts(self._load(self.sources["train"]), hp, self.sources["train"])  # augmentation, GAN share
        split = self.protocol.split(
            train,
            self._load(self.sources["pool"]),
            self._load(self.sources["test"]),
            hp.split_seed,
            tuple(hp.val_origins),
        )
        self.train_set, self.val_set, self.test_sets = split.train, split.val, split.tests
        sides = {"val": self.val_set.samples, **{f"test:{k}": v.samples for k, v in self.test_sets.items()}}
        check_no_leakage(self.train_set.samples, **sides)
        self.split = split_record(train=self.train_set.samples, **sides)
        self.split.update(protocol=self.protocol.name, split_seed=hp.split_seed, fold=split.fold)
        evaluated = split.test_subjects | {s.subject for t in self.test_sets.values() for s in t.samples}
        self.split["gan"] = self._gan_exposure(split.val_subjects, evaluated)
        if hp.output_dir:
            save_split(Path(hp.output_dir) / "split.json", self.split)
        log.info("split %s: %s", self.split["digest"], self.split["images"])

    def _gan_exposure(self, val_subjects: set[str], test_subjects: set[str]) -> dict:
        """Which evaluation subjects the GANs behind the training images have seen (their manifests say)."""
        used = {s.dataset for s in self.train_set.samples}
        roots = {
            n: s.root
            for n, s in {**self.sources["train"], **self.sources["pool"]}.items()
            if s.origin == "gan" and n in used
        }
        exposure = gan_exposure(
            {n: read_gan_seen_subjects(r) for n, r in roots.items()}, val=val_subjects, test=test_subjects
        )
        if exposure.get("test_subjects_seen"):
            log.warning(
                "GAN samples in training were generated by a GAN trained on %d subject(s) of the test side "
                "(%s): this run's test accuracy is not subject-independent for them; use per-fold GANs",
                exposure["test_subjects_seen"],
                ", ".join(exposure["sources"]),
            )
        if exposure.get("unknown"):
            log.warning(
                "GAN source(s) %s have no manifest.json: cannot tell which subjects their GAN saw", exposure["unknown"]
            )
        return exposure

    def _loader(self, prepared: PreparedSet, shuffle: bool) -> DataLoader:
        return DataLoader(
            FaceArrayDataset(prepared),
            batch_size=self.hparams.batch_size,
            shuffle=shuffle,
            num_workers=self.hparams.num_workers,
            persistent_workers=self.hparams.num_workers > 0,
            drop_last=False,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_set, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_set, shuffle=False)

    @property
    def served_test_names(self) -> list[str]:
        """The test sets `test_dataloader` serves, in its order: those of `test_names` that have images."""
        return [n for n in self.test_names if n in self.test_sets]

    def test_dataloader(self) -> list[DataLoader]:
        """One loader per test set, in `served_test_names` order."""
        return [self._loader(self.test_sets[n], shuffle=False) for n in self.served_test_names]
