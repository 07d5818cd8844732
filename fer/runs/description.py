"""A run's description of itself, saved inside each of its checkpoints: the network's config, the face pipeline
its training faces were cropped with, and the training data, so that a checkpoint alone is enough to predict
(fer/deploy/) and an exported model can say what it was trained on."""

from __future__ import annotations

from fer.data.catalogue import Source, select
from fer.faces.pipeline import FacePipeline

__all__ = ["describe_run", "training_pipeline", "training_source", "uses_synthetic_data"]


def training_source(cfg) -> Source | None:
    """The run's main training source: its first original dataset (else its first source; None without any)."""
    sources = select(cfg.data.train, cfg.get("sources") or {}, "data.train")
    return next((s for s in sources.values() if s.origin == "original"), next(iter(sources.values()), None))


def training_pipeline(cfg, mean=None, std=None) -> FacePipeline:
    """The face pipeline a run's config crops its main training source with (mean/std: the backbone's, when
    known). For configs alone (an older checkpoint's run config); a run takes its data module's pipeline."""
    main = training_source(cfg)
    faces = cfg.data.get("faces") or {}
    if main is None:
        main = Source.from_config("data", {"reader": "folder", "root": "."})  # the global face options alone
    return main.pipeline(faces, int(cfg.data.image_size), str(cfg.data.color), mean, std)


def uses_synthetic_data(cfg) -> bool:
    """True when any training or test source is the bundled synthetic renderer (no paper reference then)."""
    catalogue = cfg.get("sources") or {}
    parts = [cfg.data.get("train"), cfg.protocol.get("tests"), cfg.protocol.get("pool")]
    return any(s.synthetic for part in parts for s in select(part, catalogue, "data").values())


def describe_run(cfg, pipeline: FacePipeline | None = None) -> dict:
    """What a checkpoint needs to be used on its own (plain values; the model adds the backbone's mean/std).
    `pipeline`: the face pipeline the run's data module built for its training source (default: from `cfg`)."""
    from omegaconf import OmegaConf

    return {
        "net": OmegaConf.to_container(cfg.model.net, resolve=True),
        "pipeline": (pipeline or training_pipeline(cfg)).to_dict(),
        "backbone": str(cfg.model.net.backbone),
        "data": str(cfg.data.get("name", "")),
        "train_sources": list(select(cfg.data.train, cfg.get("sources") or {}, "data.train")),
        "protocol": str(cfg.protocol.get("name", "")) if cfg.get("protocol") else "",
        "seed": int(cfg.seed) if cfg.get("seed") is not None else None,
        # Trained or tested on the bundled synthetic faces: an exported model's card says it is a plumbing check
        "synthetic_data": uses_synthetic_data(cfg) if cfg.get("protocol") else None,
    }
