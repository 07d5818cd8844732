"""Configuration checked in one place, before any data is read.

`check_config(cfg)` looks at the settings a run uses (types and ranges) and raises one `ConfigError` listing
every problem, each as `key=value: what is allowed`. Keys absent from a configuration are not checked, so
the same function serves `train.py` and `generate.py`. The small checks are public for the command-line
tools (e.g. `check_image_size(args.size, "--size")`).
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from fer.classes import CLASSES
from fer.data.catalogue import merge_faces
from fer.errors import ConfigError
from fer.faces.detection import DETECTORS
from fer.faces.pipeline import check_color, check_image_size

MODEL_ENV = {"opencv_dnn": "FER_DNN_MODEL", "yunet": "FER_YUNET_MODEL"}
_MISSING = object()


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def check_positive_int(value, key: str) -> None:
    """`value` must be an int >= 1 (not a bool); otherwise a ConfigError naming `key`."""
    if not _is_int(value) or value < 1:
        raise ConfigError(f"{key}={value!r}: expected a positive integer")


def check_timm_model(name, key: str = "backbone.name") -> None:
    """`name` must be a timm architecture (a pretrained tag such as `vgg16.tv_in1k` is allowed)."""
    import timm

    if not isinstance(name, str) or not timm.is_model(name):
        close = difflib.get_close_matches(str(name), timm.list_models(), n=3, cutoff=0.6)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ConfigError(f"{key}={name!r}: not a timm model{hint}; list them with `python -c \"import timm; "
                          f"print(timm.list_models('*pattern*'))\"`")  # fmt: skip


def check_detector(faces, key: str = "faces") -> None:
    """A known face detector, and the model file that the DNN detectors need."""
    detector = _get(faces, "detector", "haar")
    if detector not in DETECTORS:
        raise ConfigError(f"{key}.detector={detector!r}: expected one of {', '.join(DETECTORS)}")
    if detector in MODEL_ENV:
        model = _get(faces, "model", None)
        if not model or not Path(str(model)).expanduser().is_file():
            raise ConfigError(
                f"{key}.model={model!r}: {detector} needs its model file (not found); download it (see "
                f"conf/faces/{detector}.yaml) and set {key}.model=<file> or the {MODEL_ENV[detector]} variable"
            )
        if detector == "opencv_dnn":
            config = _get(faces, "config", None)
            if not config or not Path(str(config)).expanduser().is_file():
                raise ConfigError(
                    f"{key}.config={config!r}: opencv_dnn needs deploy.prototxt (not found); set {key}.config=<file> "
                    f"or the FER_DNN_CONFIG variable"
                )


def check_accelerator(accelerator, key: str = "trainer.accelerator") -> None:
    """A GPU accelerator needs a GPU on this machine (Lightning would say "No supported gpu backend found!")."""
    if accelerator not in ("gpu", "cuda"):
        return
    import torch

    if not torch.cuda.is_available():
        raise ConfigError(
            f"{key}={accelerator}: no GPU was found on this machine; run with trainer=cpu, or trainer=default "
            "(which uses a GPU when there is one)"
        )


def check_emotion(value, key: str = "emotion") -> None:
    """`emotion=<class>`, `emotion=all` or a list of classes."""
    names = list(value) if isinstance(value, (list, tuple)) else [value]
    bad = [n for n in names if n not in CLASSES and not (n == "all" and len(names) == 1)]
    if value is None or bad or not names:
        raise ConfigError(f"{key}={value!r}: expected a class ({', '.join(CLASSES)}), a list of them, or all")


def check_config(cfg: DictConfig) -> None:
    """Raise ConfigError naming every malformed or out-of-range setting of `cfg` (train or generate)."""
    problems: list[str] = []

    def check(fn, *args) -> None:
        try:
            fn(*args)
        except ConfigError as e:
            problems.append(str(e))

    def value(key: str):
        try:
            return OmegaConf.select(cfg, key, default=_MISSING, throw_on_missing=False)
        except Exception:  # an interpolation that cannot resolve yet (e.g. a dataset root): checked where used
            return _MISSING

    def each(keys: tuple[str, ...], fn) -> None:
        for key in keys:
            v = value(key)
            if v is not _MISSING and v != "???":
                check(fn, v, key)

    each(("seed", "split_seed"), _check_int)
    each(("trainer.max_epochs",), check_positive_int)
    each(("trainer.min_epochs",), _check_non_negative_int)
    each(("data.batch_size", "task.gan.batch_size", "task.gan.max_epochs"), check_positive_int)
    # offline augmentation: generate.py's task (augment.*) and training's switch (data.offline_aug.*)
    each(("augment.copies", "data.offline_aug.copies"), check_positive_int)
    each(("data.num_workers",), _check_non_negative_int)
    each(("data.image_size", "backbone.input_size", "image_size"), check_image_size)
    each(("data.color", "color"), check_color)
    each(("protocol.val_fraction",), _check_fraction)
    check(_check_folds, value("protocol.n_folds"), value("protocol.fold"))
    faces = value("faces")
    if faces is not _MISSING and faces is not None:
        detector = _get(faces, "detector", "haar")
        if detector not in DETECTORS:  # the default of every source
            problems.append(f"faces.detector={detector!r}: expected one of {', '.join(DETECTORS)}")
        else:
            for options in _faces_in_use(cfg, faces):
                check(check_detector, options)
    if value("backbone.name") is not _MISSING:
        check(check_timm_model, value("backbone.name"))
    elif OmegaConf.select(cfg, "backbone") is not None and OmegaConf.is_missing(cfg.backbone, "name"):
        problems.append("backbone.name is not set: give a timm model name, e.g. backbone.name=convnext_tiny")
    if value("task.name") == "gan":
        check(check_emotion, value("emotion"))
    check(check_accelerator, value("trainer.accelerator"))
    min_epochs, max_epochs = value("trainer.min_epochs"), value("trainer.max_epochs")
    if _is_int(min_epochs) and _is_int(max_epochs) and 0 < max_epochs < min_epochs:
        problems.append(f"trainer.min_epochs={min_epochs} exceeds trainer.max_epochs={max_epochs}")
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems) if len(problems) > 1 else problems[0])


def _check_int(v, key: str) -> None:
    if not _is_int(v):
        raise ConfigError(f"{key}={v!r}: expected an integer")


def _check_non_negative_int(v, key: str) -> None:
    if not _is_int(v) or v < 0:
        raise ConfigError(f"{key}={v!r}: expected an integer >= 0")


def _check_fraction(v, key: str) -> None:
    # 0 would still hold one subject out (there is no run without validation), 1 would leave none to train on
    if not _is_number(v) or not 0 < v < 1:
        raise ConfigError(f"{key}={v!r}: expected a fraction of the subjects strictly between 0 and 1 (e.g. 0.15)")


def _check_folds(n_folds, fold) -> None:
    if n_folds is _MISSING or fold is _MISSING:
        return
    if not _is_int(n_folds) or n_folds < 2:
        raise ConfigError(f"protocol.n_folds={n_folds!r}: expected an integer >= 2")
    if not _is_int(fold) or not 0 <= fold < n_folds:
        raise ConfigError(
            f"protocol.fold={fold!r}: expected an integer from 0 to {n_folds - 1} (protocol.n_folds={n_folds})"
        )


def _faces_in_use(cfg: DictConfig, faces) -> list[dict]:
    """The face options the run's sources use: the global `faces` merged with each source's own `faces`
    (a source of pre-cropped faces sets `detector: none`, and then needs no detector model). Sources are the
    nodes with a `reader`, wherever the data, dataset or protocol settings place them."""
    plain = OmegaConf.to_container(faces, resolve=True) if OmegaConf.is_config(faces) else dict(faces)
    found: dict[str, dict] = {}

    def walk(node, depth: int) -> None:
        if depth > 6:
            return
        if OmegaConf.is_dict(node) and "reader" in node:
            try:
                own = OmegaConf.to_container(node.get("faces") or OmegaConf.create({}), resolve=True)
            except Exception:  # not resolvable here: the global options stand for it
                own = {}
            found[json.dumps(own, sort_keys=True, default=str)] = merge_faces(plain, own)
            return
        keys = list(node.keys()) if OmegaConf.is_dict(node) else range(len(node)) if OmegaConf.is_list(node) else []
        for k in keys:
            try:
                child = node[k]
            except Exception:  # e.g. a path that needs the Hydra run: not a source
                continue
            walk(child, depth + 1)

    # Sources named from the catalogue (`data.train`, `protocol.tests`, `protocol.pool`: lists of names; the
    # generation tasks' `dataset.name`) are looked up in `sources`.
    catalogue = cfg.get("sources") or {}
    for key in ("data.train", "protocol.tests", "protocol.pool", "dataset.name"):
        try:
            names = OmegaConf.select(cfg, key, default=None)
        except Exception:  # not resolvable here: nothing to look up
            continue
        if isinstance(names, str):
            names = [names]
        elif OmegaConf.is_dict(names):
            names = [k for k, v in names.items() if v is not None]
        for name in names or []:
            if isinstance(name, str) and name in catalogue:
                walk(catalogue[name], 0)
    if found:  # the run names its sources: the catalogue's other entries (also reachable from data) are not used
        return list(found.values())
    for top in cfg:
        if top in ("sources", "hydra", "paths", "faces"):
            continue
        try:
            walk(cfg[top], 0)
        except Exception:  # e.g. a value that needs the Hydra run to resolve: holds no source
            continue
    return list(found.values()) or [plain]


def _get(node, key: str, default):
    if isinstance(node, dict):
        return node.get(key, default)
    try:
        return OmegaConf.select(node, key, default=default)
    except Exception:
        return default
