"""Config-level helpers over the catalogue (fer/data/catalogue.py) for code that passes source configs around.

`load_source(name, cfg, ...)` reads and prepares one source entry; `dataset_source(cfg)` and
`dataset_with_extras(cfg, extras, key)` give a generation task's sources (`dataset=<name>` plus e.g.
`gan.extra_sources=[web]`), checked together before any is read.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from fer.data.cache import PreparedSet
from fer.data.catalogue import MissingSourceError, Source, entry, plain, preflight
from fer.data.samples import Sample

__all__ = ["MissingSourceError", "dataset_source", "dataset_with_extras", "load_source", "read_source"]
_plain = plain  # older name, kept for callers


def read_source(name: str, cfg: Mapping) -> list[Sample]:
    return Source.from_config(name, cfg).read()


def load_source(name: str, cfg: Mapping, faces: Mapping, size: int, color: str, cache_dir: str | Path) -> PreparedSet:
    """Read a source entry and prepare its face crops through the cache."""
    return Source.from_config(name, cfg).load(faces, size, color, cache_dir)


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
