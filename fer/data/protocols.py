"""Evaluation protocols: objects (`_target_` in conf/protocol/*.yaml) that turn loaded sources into a train set,
a validation set (checkpoint choice) and named test sets.

- `CrossDatabase` (`cross_db`): train on the variant's sources less a held-out `val_fraction` of their
  subjects (validation); test on each dataset named in `tests` (e.g. `[ckplus, jaffe]`), each on its own.
- `SubjectKFold` (`kfold`): the variant's sources plus the `pool` datasets, folds dealt on subjects; fold `fold`
  is the test set (`fold<k>`), a `val_fraction` of the remaining subjects is validation.
- `OfficialSplit` (`official`): a dataset's own split (`Sample.meta["split"]`: train / val / test): train on its
  training split, validate on its validation split (or on a held-out `val_fraction` of training subjects when
  it has none), test on its test split, named after the dataset.

Every protocol also accepts `tests`: datasets tested across databases, each contributing its test split when it
has one and all of it otherwise. Only subjects with original images are dealt out; derived images follow their
source subject, and images that stand for no real subject (GAN samples, web faces) stay in training unless the
variant scores them (`val_origins`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from fer.data.cache import PreparedSet
from fer.data.splits import holdout_subjects, kfold_subjects
from fer.errors import ConfigError, UserError


@dataclass
class Split:
    """What a protocol makes of the loaded sources."""

    train: PreparedSet
    val: PreparedSet
    tests: dict[str, PreparedSet]
    val_subjects: set[str] = field(default_factory=set)
    test_subjects: set[str] = field(default_factory=set)  # subjects dealt to the test side from training data
    fold: int | None = None


def _names(value) -> list[str]:
    """A list of catalogue names from a list, a single name, null, or a {name: entry-or-null} mapping."""
    from omegaconf import OmegaConf

    if OmegaConf.is_config(value):
        value = OmegaConf.to_container(value, resolve=True)
    if not value:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [str(k) for k, v in value.items() if v is not None]
    return [str(v) for v in value]


def split_subjects(pool: PreparedSet, origins=("original",)) -> set[str]:
    """The subjects a split deals out: those with images of the scored origins (originals by default).
    Subjects of derived images only (a GAN sample, a web face: each its own subject) have nothing to evaluate
    and stay on the training side, unless a variant scores them (kdef_gan_q validates on held-out GAN images)."""
    return {s.subject for s in pool.samples if s.origin in origins}


def official_part(prepared: PreparedSet, part: str) -> PreparedSet:
    """The original images of one official split part (train, val, test)."""
    return prepared.subset(
        [i for i, s in enumerate(prepared.samples) if s.origin == "original" and s.meta.get("split") == part]
    )


def test_side(prepared: PreparedSet) -> PreparedSet:
    """A dataset tested across databases: its official test split when it has one, all of it otherwise."""
    test = official_part(prepared, "test")
    return test if len(test.samples) else prepared


class Protocol:
    """Base: `tests` (cross-database test sets by catalogue name) and the `pool` of extra datasets."""

    name = "protocol"

    def __init__(self, tests=None, pool=None, val_fraction: float = 0.15, name: str | None = None):
        if not 0 < float(val_fraction) < 1:  # as fer.engine.config_checks: 0 would still hold one subject out
            raise ConfigError(f"protocol.val_fraction={val_fraction}: expected a fraction strictly between 0 and 1")
        self.tests = _names(tests)
        self.pool = _names(pool)
        self.val_fraction = float(val_fraction)
        self.name = name or self.name

    def test_names(self, train_names: list[str]) -> list[str]:
        """The named test sets this protocol reports, known before any data is read."""
        return list(self.tests)

    @property
    def fold(self) -> int | None:
        """The k-fold test fold, or None for protocols without folds."""
        return None

    def split(
        self,
        train: dict[str, PreparedSet],
        pool: dict[str, PreparedSet],
        tests: dict[str, PreparedSet],
        split_seed: int,
        val_origins=("original",),
    ) -> Split:
        """Train / validation / test sets from the loaded sources (by name): the variant's training sources, the
        k-fold pool and the cross-database test sets; subjects are dealt with `split_seed`, and validation scores
        images of `val_origins` only."""
        raise NotImplementedError

    def _cross_tests(self, tests: dict[str, PreparedSet]) -> dict[str, PreparedSet]:
        return {n: test_side(p) for n, p in tests.items()}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(tests={self.tests}, pool={self.pool}, val_fraction={self.val_fraction})"


def _side(pool: PreparedSet, keep) -> PreparedSet:
    return pool.subset([i for i, s in enumerate(pool.samples) if keep(s)])


class CrossDatabase(Protocol):
    """Train on the variant's sources less a `val_fraction` of their subjects (validation); test on each of `tests`."""

    name = "cross_db"

    def split(self, train, pool, tests, split_seed, val_origins=("original",)) -> Split:
        data = PreparedSet.concat(list(train.values()))
        held = holdout_subjects(split_subjects(data, val_origins), self.val_fraction, split_seed)
        # Validation scores real images only (val_origins); derived images of validation subjects are dropped.
        return Split(
            train=_side(data, lambda s: s.subject not in held),
            val=_side(data, lambda s: s.subject in held and s.origin in val_origins),
            tests=self._cross_tests(tests),
            val_subjects=held,
        )


class SubjectKFold(Protocol):
    """Subject folds over the training sources plus `pool`: fold `fold` is the test set `fold<k>`, a `val_fraction`
    of the other subjects is validation; `tests` are tested across databases as well."""

    name = "kfold"

    def __init__(
        self, n_folds: int = 5, fold: int = 0, tests=None, pool=None, val_fraction: float = 0.1, name: str | None = None
    ):
        super().__init__(tests=tests, pool=pool, val_fraction=val_fraction, name=name)
        if not 0 <= int(fold) < int(n_folds):
            raise ConfigError(f"protocol.fold={fold} outside 0..{int(n_folds) - 1}")
        self.n_folds, self._fold = int(n_folds), int(fold)

    @property
    def fold(self) -> int:
        return self._fold

    def test_names(self, train_names):
        return [f"fold{self._fold}", *self.tests]

    def split(self, train, pool, tests, split_seed, val_origins=("original",)) -> Split:
        data = PreparedSet.concat(list(train.values()) + list(pool.values()))
        folds = kfold_subjects(split_subjects(data), self.n_folds, split_seed)
        test_subjects = folds[self._fold]
        fold_test = _side(data, lambda s: s.subject in test_subjects and s.origin == "original")
        held = holdout_subjects(split_subjects(data, val_origins) - test_subjects, self.val_fraction, split_seed + 1)
        data = _side(data, lambda s: s.subject not in test_subjects)
        return Split(
            train=_side(data, lambda s: s.subject not in held),
            val=_side(data, lambda s: s.subject in held and s.origin in val_origins),
            tests={f"fold{self._fold}": fold_test, **self._cross_tests(tests)},
            val_subjects=held,
            test_subjects=test_subjects,
            fold=self._fold,
        )


class OfficialSplit(Protocol):
    """Train / validation / test as each dataset defines them (FER2013 Training / PublicTest / PrivateTest,
    RAF-DB train / test, AffectNet train / val, a folder's train / val / test)."""

    name = "official"

    def test_names(self, train_names):
        return list(dict.fromkeys([*train_names, *self.tests]))

    def split(self, train, pool, tests, split_seed, val_origins=("original",)) -> Split:
        official_tests, val_parts, held = {}, [], set()
        for name, prepared in train.items():
            if not any(s.meta.get("split") for s in prepared.samples):
                if all(s.origin != "original" for s in prepared.samples):
                    continue  # GAN samples, augmented copies: training material with no split of their own
                raise UserError(
                    f"protocol=official: dataset {name!r} has no official split (its reader marks no "
                    "train/val/test images); use protocol=cross_db or protocol=kfold for it"
                )
            test = official_part(prepared, "test")
            if not len(test.samples):
                raise UserError(
                    f"protocol=official: dataset {name!r} has no test split (no image of it is marked test); "
                    "see docs/datasets.md for the layouts that carry one"
                )
            official_tests[name] = test
            val = official_part(prepared, "val")
            if len(val.samples):
                val_parts.append(val)
            else:  # no validation split: a held-out fraction of the training subjects, as cross_db does
                training = official_part(prepared, "train")
                held |= holdout_subjects(split_subjects(training, val_origins), self.val_fraction, split_seed)
        data = PreparedSet.concat(list(train.values()))
        val_parts.append(
            _side(
                data, lambda s: s.subject in held and s.origin in val_origins and s.meta.get("split") in (None, "train")
            )
        )
        evaluated = held | {s.subject for p in [*official_tests.values(), *val_parts] for s in p.samples}

        def trains(s) -> bool:
            if s.meta.get("split") == "train":  # an official training image (a shared subject: the guard says so)
                return s.subject not in held
            # Derived images (augmented copies) and split-less extras (GAN samples) follow their source subject.
            return s.meta.get("split") is None and s.subject not in evaluated

        train_side = _side(data, trains)
        cross = {n: p for n, p in self._cross_tests(tests).items() if n not in official_tests}
        val = PreparedSet.concat(val_parts) if any(len(p.samples) for p in val_parts) else data.subset([])
        return Split(
            train=train_side,
            val=val,
            tests={**official_tests, **cross},
            val_subjects={s.subject for p in val_parts for s in p.samples},
        )


PROTOCOLS = {p.name: p for p in (CrossDatabase, SubjectKFold, OfficialSplit)}
