"""A *source* is one dataset root read by one reader, with its face options; a variant is a set of sources.

Source config (see `conf/sources/*.yaml`):
    reader: kdef | ckplus | jaffe | folder | fer2013       root: path        options: {reader keyword arguments}
    faces: {overrides of the global face options}    synthetic: kdef|ckplus|jaffe|null (render when missing)
    produced_by: the command that creates this source, named in the error when its root is missing
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

from fer.data.cache import PreparedSet, prepare
from fer.data.faces import FaceOptions
from fer.data.readers import read_dataset
from fer.data.samples import DatasetLayoutError, Sample

log = logging.getLogger(__name__)


class MissingSourceError(DatasetLayoutError):
    """A configured source's root is absent; the message names the source, the path and how to produce it."""


def _plain(cfg) -> dict:
    try:
        from omegaconf import OmegaConf

        if OmegaConf.is_config(cfg):
            return OmegaConf.to_container(cfg, resolve=True)
    except ImportError:  # pragma: no cover
        pass
    return dict(cfg or {})


def read_source(name: str, cfg: Mapping) -> list[Sample]:
    cfg = _plain(cfg)
    root = Path(str(cfg["root"])).expanduser()
    if cfg.get("synthetic"):
        from fer.synthetic import render

        render(cfg["synthetic"], root, **(cfg.get("synthetic_options") or {}))
    if not root.exists():
        how = cfg.get("produced_by") or f"set `sources.{name}.root` (or its `paths.*` entry) to the unpacked dataset"
        raise MissingSourceError(f"source {name!r}: root {root} does not exist; {how}")
    options = dict(cfg.get("options") or {})
    if cfg["reader"] == "folder":
        options.setdefault("name", name)
    return read_dataset(cfg["reader"], root, **options)


def load_source(name: str, cfg: Mapping, faces: Mapping, size: int, color: str, cache_dir: str | Path) -> PreparedSet:
    """Read a source and prepare its face crops through the cache."""
    cfg = _plain(cfg)
    if cfg.get("reader") == "fer2013":  # CSV pixel rows decode to PNGs beside the face cache
        cfg["options"] = {"decode_dir": str(Path(cache_dir) / "fer2013_png"), **(cfg.get("options") or {})}
    samples = read_source(name, cfg)
    face_opts = FaceOptions.from_config({**_plain(faces), **(cfg.get("faces") or {})})
    return prepare(samples, face_opts, size, color, cache_dir, name=name)


def dataset_source(cfg) -> tuple[str, dict]:
    """The source a generation task reads: `sources[dataset.name]` with `dataset.*` (e.g. root) on top."""
    ds = _plain(cfg.dataset)
    name = ds.pop("name")
    sources = _plain(cfg.sources)
    if name not in sources:
        raise ValueError(f"dataset={name!r} is not a configured source; expected one of {sorted(sources)}")
    return name, {**sources[name], **ds}


def dataset_with_extras(cfg, extras, key: str) -> dict[str, dict]:
    """The generation task's dataset source plus the named extra sources (e.g. `gan.extra_sources=[web]`)."""
    name, source = dataset_source(cfg)
    parts = {name: source}
    sources = _plain(cfg.sources)
    for extra in extras or []:
        if extra not in sources:
            raise ValueError(f"{key}: {extra!r} is not a configured source; expected one of {sorted(sources)}")
        parts[extra] = sources[extra]
    return parts
