"""The dataset catalogue: every dataset the framework reads is one named entry, turned once into a `Source`.

An entry (conf/sources/real.yaml; `sources=synthetic` swaps the roots of KDEF, CK+ and JAFFE for rendered faces):

    reader: kdef | ckplus | jaffe | folder | fer2013 | rafdb | affectnet     root: the dataset's folder (paths.*)
    options: {reader keyword arguments, checked against the reader's signature}
    faces: {overrides of the global face options}     produced_by: the command or download that creates the root
    synthetic: kdef|ckplus|jaffe (rendered into root on first use)      synthetic_options: {renderer options}

The data module, the generation tasks, `python -m fer.data` and `fer.deploy.predict` all go through `Source`, and
`preflight` checks every source a run needs before any of them is read, naming all the missing ones at once.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fer.data.readers import READERS
from fer.data.samples import Sample
from fer.errors import ConfigError, DatasetLayoutError
from fer.faces.detection import FaceOptions
from fer.faces.pipeline import FacePipeline
from fer.utils.config import plain

if TYPE_CHECKING:
    from fer.data.cache import PreparedSet

# Options the framework passes itself (never from a catalogue entry's `options`).
INTERNAL_OPTIONS = {"root", "decode_dir"}


class MissingSourceError(DatasetLayoutError):
    """Sources a run needs are absent; the message names each one, the path tried and how to produce it."""


def merge_faces(faces: Mapping | None, own: Mapping | None) -> dict:
    """Face options as a source uses them: its catalogue entry's own (`own`) over the global ones (`faces`)."""
    return {**plain(faces), **plain(own)}


def accepted_options(reader: str) -> list[str]:
    """The keyword options a reader accepts (its signature, less the ones the framework sets itself)."""
    params = inspect.signature(READERS[reader]).parameters.values()
    return sorted(
        p.name
        for p in params
        if p.kind is p.KEYWORD_ONLY or (p.kind is p.POSITIONAL_OR_KEYWORD and p.name not in INTERNAL_OPTIONS)
    )


@dataclass(frozen=True)
class Source:
    """One catalogue entry, validated: which reader reads which root with which options."""

    name: str
    reader: str
    root: Path
    options: dict[str, Any] = field(default_factory=dict)
    faces: dict[str, Any] = field(default_factory=dict)
    produced_by: str | None = None
    synthetic: str | None = None
    synthetic_options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_config(cls, name: str, cfg: Mapping) -> Source:
        """The entry `name` from its config, checked: unknown keys, reader or reader options and a missing root are
        `ConfigError`s."""
        cfg = plain(cfg)
        where = f"sources.{name}"
        unknown_keys = set(cfg) - {f.name for f in cls.__dataclass_fields__.values()}
        if unknown_keys:
            raise ConfigError(
                f"{where}: unknown key(s) {sorted(unknown_keys)}; a catalogue entry has reader, root, "
                "options, faces, produced_by, synthetic, synthetic_options"
            )
        reader = cfg.get("reader")
        if reader not in READERS:
            raise ConfigError(f"{where}.reader={reader!r}: expected one of {sorted(READERS)}")
        if not cfg.get("root"):
            raise ConfigError(f"{where}.root is not set; set it (or its paths.{name} entry) to the dataset's folder")
        options = dict(cfg.get("options") or {})
        accepted = accepted_options(reader)
        unknown = sorted(set(options) - set(accepted))
        if unknown:
            raise ConfigError(
                f"{where}.options: unknown option(s) {unknown} for the {reader} reader; accepted: {', '.join(accepted)}"
            )
        if reader == "folder" or reader == "augmented":
            options.setdefault("name", name)
        return cls(
            name=name,
            reader=reader,
            root=Path(str(cfg["root"])).expanduser(),
            options=options,
            faces=dict(cfg.get("faces") or {}),
            produced_by=cfg.get("produced_by"),
            synthetic=cfg.get("synthetic"),
            synthetic_options=dict(cfg.get("synthetic_options") or {}),
        )

    @property
    def origin(self) -> str:
        """The origin of this source's samples (its `origin` option; `original` by default)."""
        return self.options.get("origin", "original")

    def problem(self) -> str | None:
        """Why this source cannot be read (checked without reading it), or None."""
        if self.synthetic:
            return None  # rendered on first use
        how = (
            self.produced_by
            or f"point the {self.name} root (paths.{self.name}, or the command's <root>) at the unpacked dataset"
        )
        if not self.root.exists():
            return f"{self.name}: {self.root} does not exist; {how}"
        if self.root.is_dir() and not any(self.root.iterdir()):
            return f"{self.name}: {self.root} is an empty folder; {how}"
        return None

    def read(self, decode_dir: str | Path | None = None) -> list[Sample]:
        """The samples of this source as its reader returns them (synthetic sources are rendered first)."""
        if self.synthetic:
            from fer.synthetic import render

            render(self.synthetic, self.root, **self.synthetic_options)
        problem = self.problem()
        if problem:
            raise MissingSourceError(f"source {problem}")
        options = dict(self.options)
        if self.reader == "fer2013" and decode_dir is not None:
            options.setdefault("decode_dir", str(decode_dir))
        return READERS[self.reader](self.root, **options)

    def face_options(self, faces: Mapping | None) -> FaceOptions:
        """This source's face options: its own `faces` over the run's global ones (a folder of pre-cropped faces
        sets `detector: none`). The one place where the two are merged."""
        return FaceOptions.from_config(merge_faces(faces, self.faces))

    def pipeline(self, faces: Mapping | None, size: int, color: str, mean=None, std=None) -> FacePipeline:
        """The face pipeline this source's crops are made with (mean/std: the backbone's, when known)."""
        extra = {"mean": tuple(mean), "std": tuple(std)} if mean is not None else {}
        return FacePipeline(self.face_options(faces), int(size), str(color), **extra)

    def load(self, pipeline: FacePipeline, cache_dir: str | Path) -> PreparedSet:
        """Read the source and prepare its face crops with `pipeline` (`self.pipeline(...)`) through the cache
        (FER2013 CSVs decode beside it)."""
        from fer.data.cache import prepare

        samples = self.read(decode_dir=Path(cache_dir) / "fer2013_png")
        return prepare(samples, pipeline.faces, pipeline.size, pipeline.color, cache_dir, name=self.name)

    def as_config(self) -> dict:
        """The entry as a plain dict (for code that still passes configs around)."""
        return {
            "reader": self.reader,
            "root": str(self.root),
            "options": dict(self.options),
            "faces": dict(self.faces),
            "produced_by": self.produced_by,
            "synthetic": self.synthetic,
            "synthetic_options": dict(self.synthetic_options),
        }


def entry(catalogue: Mapping, name: str, key: str = "sources") -> Source:
    """The catalogue entry `name`, validated; an unknown name is an error listing the known ones."""
    catalogue = plain(catalogue)
    if name not in catalogue or catalogue[name] is None:
        known = sorted(k for k, v in catalogue.items() if v is not None)
        raise ConfigError(
            f"{key}: {name!r} is not a dataset of the catalogue; known: {', '.join(known)} (conf/sources/real.yaml)"
        )
    return Source.from_config(name, catalogue[name])


def select(names, catalogue: Mapping | None, key: str) -> dict[str, Source]:
    """Sources named by a config value: a list of catalogue names (`[ckplus, jaffe]`), null or `[]` (none), or a
    mapping of names to entries (inline entries, null to leave one out)."""
    from omegaconf import OmegaConf

    if OmegaConf.is_config(names):
        names = OmegaConf.to_container(names, resolve=True)
    if not names:
        return {}
    if isinstance(names, str):
        names = [names]
    if isinstance(names, Mapping):
        return {n: Source.from_config(n, cfg) for n, cfg in names.items() if cfg is not None}
    return {str(n): entry(catalogue or {}, str(n), key) for n in names}


def preflight(needed: Mapping[str, Iterable[Source]]) -> None:
    """Fail with one message naming every missing source (what it is for, the path tried, how to produce it)."""
    problems, seen = [], set()
    for role, sources in needed.items():
        for source in sources:
            why = None if (source.name, source.root) in seen else source.problem()
            seen.add((source.name, source.root))
            if why:
                problems.append(f"  - {role} {why}")
    if problems:
        raise MissingSourceError(f"{len(problems)} data source(s) this run needs are missing:\n" + "\n".join(problems))


# Config-level helpers for code that passes source configs around (the data module, the generation tasks).


def read_dataset(reader: str, root: str | Path, **options) -> list[Sample]:
    """Read one dataset with the named reader (`kdef`, `ckplus`, `jaffe`, `folder`, `fer2013`, `rafdb`,
    `affectnet`); unknown options are refused with the accepted ones."""
    decode_dir = options.pop("decode_dir", None)
    return Source.from_config(reader, {"reader": reader, "root": str(root), "options": options}).read(decode_dir)


def read_source(name: str, cfg: Mapping) -> list[Sample]:
    """The samples of the catalogue entry `cfg` (named `name`), without cropping."""
    return Source.from_config(name, cfg).read()


def load_source(name: str, cfg: Mapping, faces: Mapping, size: int, color: str, cache_dir: str | Path) -> PreparedSet:
    """Read a source entry and prepare its face crops through the cache."""
    source = Source.from_config(name, cfg)
    return source.load(source.pipeline(faces, size, color), cache_dir)


def _dataset(cfg) -> Source:
    """`sources[dataset.name]` with `dataset.*` (e.g. root) on top."""
    ds = plain(cfg.dataset)
    name = ds.pop("name")
    base = entry(cfg.sources, name, "dataset")
    return Source.from_config(name, {**base.as_config(), **ds})


def dataset_source(cfg) -> tuple[str, dict]:
    """The source a generation task reads, checked (preflight) before anything is read."""
    source = _dataset(cfg)
    preflight({"dataset": [source]})
    return source.name, source.as_config()


def dataset_with_extras(cfg, extras, key: str) -> dict[str, dict]:
    """The generation task's dataset source plus the named extra sources, all checked at once."""
    sources = [_dataset(cfg)] + [entry(cfg.sources, str(e), key) for e in extras or []]
    preflight({"dataset": sources[:1], key: sources[1:]})
    return {s.name: s.as_config() for s in sources}
