"""`python generate.py task=gan emotion=<class|all>`: train one DCGAN per emotion, then sample from it.

For each emotion:
1. the prepared face crops of that class from `dataset` (KDEF by default) plus `gan.extra_sources` (e.g. `[web]`),
   minus `gan.exclude_subjects` (train a GAN per fold by excluding the fold's test subjects);
2. a GANModule (conf/model/gan.yaml) trained for `gan.max_epochs` by the shared `trainer`, with the callbacks of
   conf/callbacks/gan.yaml and the `logger` group, in `<gan.run_dir>/<class>/<settings key>/` (checkpoints, the
   fixed-noise grid per epoch); a rerun with the same settings resumes from `last.ckpt` (more epochs go on
   training, equal epochs train nothing);
3. `gan.samples_per_class` images from the final generator checkpoint, deterministic for `gan.sample_seed`,
   written as `<out_dir>/<class>/<class>_NNNN.png` (the `gan_q` source reads them; each image is its own
   subject), and the class entry of `<out_dir>/manifest.json`, merged under a lock because emotions may run
   in parallel jobs. Sampling is skipped when the manifest already holds the same checkpoint, seed and files.

With `model=gan_conditional` one class-conditional GAN trains once on the faces of all seven emotions (in
`<gan.run_dir>/all/<settings key>/`) and samples each listed emotion into the same layout and manifest; each entry's
`generator` says which kind made it (`per_emotion` or `conditional`). See docs/gan.md.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import time
from pathlib import Path

import cv2
import hydra
import numpy as np
import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf, open_dict
from torch.utils.data import DataLoader, TensorDataset

from fer.classes import CLASSES, class_index
from fer.data.cache import PreparedSet
from fer.data.catalogue import Source, dataset_with_extras, load_source
from fer.data.gan_manifest import MANIFEST, merge_manifest, read_manifest
from fer.engine.lifecycle import build_trainer, close_loggers, instantiate_dict, open_loggers
from fer.errors import ConfigError
from fer.models.conditional_gan import ConditionalGANModule
from fer.models.gan import GANModule, to_uint8
from fer.utils.io import atomic_path, atomic_write_json, check_folder, make_folder

log = logging.getLogger(__name__)

PER_EMOTION, CONDITIONAL = "per_emotion", "conditional"  # the manifest's `generator`: which GAN made a class's images


def emotions(value) -> list[str]:
    """`emotion=<class>`, `emotion=all` or a list; a clear error for anything else."""
    if value is None or value == "???":
        raise ConfigError("task=gan needs emotion=<class> or emotion=all (classes: " + ", ".join(CLASSES) + ")")
    names = list(CLASSES) if value == "all" else ([value] if isinstance(value, str) else list(value))
    for name in names:
        try:
            class_index(name)
        except ValueError as e:  # names the valid classes
            raise ConfigError(f"emotion={value}: {e}") from None
    return names


def class_faces(cfg: DictConfig, emotion: str) -> PreparedSet:
    """The face crops of one emotion from the dataset and the extra sources, as uint8 (N, H, W, C)."""
    g = cfg.gan
    parts = dataset_with_extras(cfg, g.extra_sources, "gan.extra_sources")
    label = class_index(emotion)
    excluded = set(g.exclude_subjects or [])
    chosen = []
    for src_name, src_cfg in parts.items():
        prepared = load_source(src_name, src_cfg, cfg.faces, g.image_size, g.color, cfg.paths.cache_dir)
        keep = [i for i, s in enumerate(prepared.samples) if s.label == label and s.subject not in excluded]
        log.info("%s: %d %s faces (of %d images)", src_name, len(keep), emotion, len(prepared.samples))
        if keep:
            chosen.append(prepared.subset(keep))
    if not chosen:
        raise ConfigError(
            f"no {emotion!r} faces in sources {sorted(parts)} (after gan.exclude_subjects); "
            f"check dataset.root and the sources' class folders"
        )
    return PreparedSet.concat(chosen)


def effective_faces(cfg: DictConfig) -> dict[str, dict]:
    """Per source, the face options its crops are made with: its catalogue entry's own over the global ones."""
    parts = dataset_with_extras(cfg, cfg.gan.extra_sources, "gan.extra_sources")
    return {n: Source.from_config(n, c).face_options(cfg.faces).key() for n, c in parts.items()}


def settings_key(cfg: DictConfig, faces: PreparedSet) -> tuple[str, dict]:
    """Everything that changes what a GAN learns (not its epoch budget, not the sampling): the run folder key."""
    g = cfg.gan
    settings = {
        "model": OmegaConf.to_container(cfg.model, resolve=True),
        "image_size": g.image_size,
        "color": g.color,
        "batch_size": g.batch_size,
        "seed": cfg.seed,
        "faces": effective_faces(cfg),
        "train_files": hashlib.sha256("\n".join(sorted(s.path for s in faces.samples)).encode()).hexdigest(),
    }
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:12], settings


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, C) -> float (N, C, H, W) in [-1, 1], the generator's tanh range."""
    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def train_gan(cfg: DictConfig, emotion: str, faces: PreparedSet, run_dir: Path) -> tuple[Path, dict]:
    """Train (or resume) one emotion's GAN; returns its final checkpoint and the last epoch's losses."""
    g = cfg.gan
    pl.seed_everything(cfg.seed, workers=True)
    channels = 1 if g.color == "gray" else 3
    if faces.images.shape[-1] != channels:
        raise ValueError(
            f"prepared faces have {faces.images.shape[-1]} channels, expected {channels} for color={g.color}"
        )
    model: GANModule = hydra.utils.instantiate(cfg.model, channels=channels)
    # The labels ride along: the conditional GAN trains on them, the per-emotion DCGAN ignores them.
    data = TensorDataset(to_tensor(faces.images), torch.as_tensor(np.asarray(faces.labels), dtype=torch.long))
    # drop_last keeps one tiny last batch from skewing BatchNorm statistics, unless it is the only batch.
    loader = DataLoader(data, batch_size=g.batch_size, shuffle=True, drop_last=len(data) > g.batch_size, num_workers=0)
    # The trainer and its callbacks write into this emotion's run folder.
    run_cfg = copy.deepcopy(cfg)
    with open_dict(run_cfg):
        run_cfg.paths.output_dir = str(run_dir)
    loggers = open_loggers(cfg, name=f"gan_{emotion}")
    trainer = build_trainer(run_cfg.trainer, instantiate_dict(run_cfg.get("callbacks")), loggers)
    for lg in loggers:
        lg.log_hyperparams({"emotion": emotion, "train_images": len(data), **dict(model.hparams)})
    if trainer.checkpoint_callback is None:
        raise ConfigError(
            "task=gan needs a ModelCheckpoint among its callbacks (callbacks=gan, conf/callbacks/gan.yaml)"
        )
    last = Path(trainer.checkpoint_callback.dirpath) / "last.ckpt"
    resume = str(last) if g.resume and last.exists() else None
    if resume:
        log.info("%s: resuming from %s", emotion, last)
    trainer.fit(model, train_dataloaders=loader, ckpt_path=resume)
    for line in close_loggers(loggers):  # one logger run per emotion
        log.info(line)
    if not last.exists():
        raise RuntimeError(f"{emotion}: training wrote no checkpoint in {last.parent}")
    losses = {
        k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("train/") and not k.endswith("_step")
    }
    return last.resolve(), {"epochs": trainer.current_epoch, **losses}


def write_samples(model: GANModule, out_dir: Path, emotion: str, n: int, seed: int, **condition) -> list[str]:
    """n PNGs into `<out_dir>/<emotion>/`, written into a temporary folder and swapped into place. `condition`
    goes to `model.sample` (the conditional GAN's `label`)."""
    images = to_uint8(model.sample(n, seed, **condition)).permute(0, 2, 3, 1).numpy()
    files = []
    with atomic_path(out_dir / emotion, what=f"the {emotion} samples") as tmp:
        tmp.mkdir(parents=True)
        for i, img in enumerate(images):
            name = f"{emotion}_{i:04d}.png"
            img = img[:, :, 0] if img.shape[-1] == 1 else cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
            if not cv2.imwrite(str(tmp / name), img):
                raise OSError(f"could not write {tmp / name}; check free space and permissions of {out_dir}")
            files.append(f"{emotion}/{name}")
    return files


def up_to_date(out_dir: Path, emotion: str, checkpoint: Path, seed: int, n: int) -> dict | None:
    """The manifest's entry for `emotion` when it already holds `n` samples of this checkpoint (path and mtime) and
    seed, all files present; None when they must be written."""
    entry = read_manifest(out_dir).get("classes", {}).get(emotion)
    if not entry or entry.get("checkpoint") != str(checkpoint) or entry.get("seed") != seed:
        return None
    if entry.get("checkpoint_mtime_ns") != checkpoint.stat().st_mtime_ns or len(entry.get("files", [])) != n:
        return None
    if not all((out_dir / f).is_file() for f in entry["files"]):
        return None
    return entry


def run_one(cfg: DictConfig, emotion: str, out_dir: Path) -> dict:
    """Train (or resume) one emotion's GAN and write its samples and manifest entry unless up to date; returns
    counts, paths, training figures and seconds."""
    g = cfg.gan
    start = time.time()
    faces = class_faces(cfg, emotion)
    make_folder(out_dir, "out_dir")
    key, settings = settings_key(cfg, faces)
    run_dir = Path(g.run_dir) / emotion / key
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(run_dir / "settings.json", settings)
    checkpoint, train_info = train_gan(cfg, emotion, faces, run_dir)
    seed, n = int(g.sample_seed), int(g.samples_per_class)
    entry = up_to_date(out_dir, emotion, checkpoint, seed, n)
    if entry is not None:
        log.info("%s: %d samples from %s already written, skipping", emotion, n, checkpoint.name)
    else:
        model = GANModule.load_from_checkpoint(checkpoint, map_location="cpu")
        files = write_samples(model, out_dir, emotion, n, seed)
        entry = manifest_entry(cfg, checkpoint, train_info, run_dir, key, faces, files, PER_EMOTION)
        merge_manifest(out_dir, emotion, entry)
        log.info("%s: wrote %d samples to %s", emotion, n, out_dir / emotion)
    return class_result(entry, faces, run_dir, train_info, start)


def class_result(entry: dict, faces: PreparedSet, run_dir: Path, train_info: dict, start: float) -> dict:
    """One class's line of the task's result: its samples, checkpoint, training faces and time."""
    return {
        "samples": len(entry["files"]),
        "checkpoint": entry["checkpoint"],
        "train_images": len(faces.samples),
        "seen_subjects": len(entry["seen_subjects"]),
        "run_dir": str(run_dir),
        **train_info,
        "seconds": round(time.time() - start, 1),
    }


def manifest_entry(
    cfg: DictConfig, checkpoint: Path, train_info: dict, run_dir: Path, key: str, faces: PreparedSet, files, generator
) -> dict:
    """One class's manifest entry: the files, the checkpoint and seed that made them, and what the GAN saw."""
    counts: dict[str, int] = {}
    for s in faces.samples:
        counts[s.dataset] = counts.get(s.dataset, 0) + 1
    return {
        "generator": generator,
        "model": cfg.model._target_,
        "checkpoint": str(checkpoint),
        "checkpoint_mtime_ns": checkpoint.stat().st_mtime_ns,
        "seed": int(cfg.gan.sample_seed),
        "train_seed": cfg.seed,
        "epochs": train_info["epochs"],
        "image_size": cfg.gan.image_size,
        "color": cfg.gan.color,
        "run_dir": str(run_dir),
        "settings_key": key,
        # Which subjects the GAN saw: a k-fold split must not test on them while training on these samples.
        "seen_subjects": sorted({s.subject for s in faces.samples}),
        "train_images": len(faces.samples),
        "train_sources": counts,
        "files": files,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def is_conditional(cfg: DictConfig) -> bool:
    """Whether `model` is a class-conditional GAN (one for all emotions, conf/model/gan_conditional.yaml)."""
    return issubclass(hydra.utils.get_class(cfg.model._target_), ConditionalGANModule)


def run_conditional(cfg: DictConfig, names: list[str], out_dir: Path) -> dict:
    """Train one conditional GAN on the faces of all seven emotions (whatever `emotion` lists: the class
    embedding needs every class), then sample `gan.samples_per_class` images of each listed emotion.

    Every class's manifest entry names the same checkpoint, and its `seen_subjects` are all subjects the GAN saw
    (of any emotion): the shared generator learnt their faces, so the leakage rules treat them as seen."""
    g = cfg.gan
    start = time.time()
    faces = PreparedSet.concat([class_faces(cfg, emotion) for emotion in CLASSES])
    key, settings = settings_key(cfg, faces)
    run_dir = Path(g.run_dir) / "all" / key
    run_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_json(run_dir / "settings.json", settings)
    checkpoint, train_info = train_gan(cfg, "all", faces, run_dir)
    seed, n = int(g.sample_seed), int(g.samples_per_class)
    model, results = None, {}
    for emotion in names:
        entry = up_to_date(out_dir, emotion, checkpoint, seed, n)
        if entry is not None:
            log.info("%s: %d samples from %s already written, skipping", emotion, n, checkpoint.name)
        else:
            model = model or ConditionalGANModule.load_from_checkpoint(checkpoint, map_location="cpu")
            files = write_samples(model, out_dir, emotion, n, seed, label=class_index(emotion))
            entry = manifest_entry(cfg, checkpoint, train_info, run_dir, key, faces, files, CONDITIONAL)
            merge_manifest(out_dir, emotion, entry)
            log.info("%s: wrote %d samples of the conditional GAN to %s", emotion, n, out_dir / emotion)
        results[emotion] = class_result(entry, faces, run_dir, train_info, start)
    return results


def run(cfg: DictConfig) -> dict:
    """`run_one` for each emotion of `cfg.emotion` (a class, a list or `all`); returns the results by emotion."""
    out_dir = Path(cfg.out_dir).expanduser().resolve()
    check_folder(out_dir, "out_dir")  # made when the first class's faces are read: no empty folder on a data error
    torch.set_float32_matmul_precision("high")
    names, start = emotions(cfg.emotion), time.time()
    if is_conditional(cfg):
        results = run_conditional(cfg, names, out_dir)
    else:
        results = {}
        for i, emotion in enumerate(names, 1):
            results[emotion] = r = run_one(cfg, emotion, out_dir)
            eta = (time.time() - start) / i * (len(names) - i)  # one line per emotion, also without a terminal
            log.info(
                "gan %d/%d %s: %d epochs, %d samples; eta %.0f s",
                i, len(names), emotion, r["epochs"], r["samples"], eta,
            )  # fmt: skip
    return {"out_dir": str(out_dir), "manifest": str(out_dir / MANIFEST), "classes": results}
