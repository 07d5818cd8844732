"""`python generate.py task=augment dataset=kdef dataset.root=<root> out_dir=<dir>`: offline augmentation.

Reads the dataset as a source (same reader, face detection, crop and resize to `image_size` as training),
writes `augment.copies` augmented PNGs per face crop into `out_dir` with a manifest and a preview
(fer/data/offline_aug.py), and logs the preview to image-capable loggers.
"""

from __future__ import annotations

import logging
from pathlib import Path

from omegaconf import DictConfig

from fer.data.catalogue import dataset_source, load_source
from fer.data.offline_aug import AugmentSettings, augment_to_folder
from fer.engine.lifecycle import open_loggers
from fer.utils.io import check_folder, make_folder

log = logging.getLogger(__name__)


def run(cfg: DictConfig) -> dict:
    """Crop the configured dataset, write its augmented copies to `out_dir`; returns the summary (counts, paths)."""
    check_folder(cfg.out_dir, "out_dir")  # before the faces are prepared; made once they are
    settings = AugmentSettings.from_config(cfg.augment)
    name, source = dataset_source(cfg)
    prepared = load_source(name, source, cfg.faces, int(cfg.image_size), cfg.color, cfg.paths.cache_dir)
    aug = cfg.augment
    make_folder(cfg.out_dir, "out_dir")
    summary = augment_to_folder(
        prepared,
        settings,
        cfg.out_dir,
        source["root"],
        name=name,
        workers=aug.get("workers"),
        preview=int(aug.get("preview") or 0),
    )
    if summary["preview"]:
        _log_preview(cfg, summary)
    return {"task": "augment", "dataset": name, "root": str(source["root"]), **summary}


def _log_preview(cfg: DictConfig, summary: dict) -> None:
    """Preview and counts to the configured loggers (W&B `log_image`, TensorBoard `add_image`, CSV counts)."""
    loggers = open_loggers(cfg)  # closed by the task wrapper
    for lg in loggers:
        lg.log_metrics({"augment/images": summary["images"], "augment/written": summary["written"]})
        if hasattr(lg, "log_image"):
            lg.log_image(key="augment/preview", images=[summary["preview"]])
        elif hasattr(getattr(lg, "experiment", None), "add_image"):
            import numpy as np
            from PIL import Image

            lg.experiment.add_image(
                "augment/preview", np.asarray(Image.open(summary["preview"]).convert("RGB")), dataformats="HWC"
            )
        lg.save()
    log.info("preview: %s", Path(summary["preview"]))
