"""`python generate.py task=variants data=kdef_pfa_q` (or `'variants=[kdef_ol,kdef_q,kdef_pfa_q]'`): every derived
source those data variants need, built once, in dependency order, skipping what is already there and current.

The steps, each the existing code's (so its settings key decides what is current, and a rerun after `kill -9`
goes on where it stopped, as that code does):
1. `faces`: the face cache of each downloaded training source at the training image size (fer/data/cache.py);
2. `offline_aug`: for a variant with `offline_aug.enabled`, the augmented copies in the folder training reads
   (`fer.data.variants.offline_augmented`: keyed by the settings and the source crops);
3. `faces` at the GAN's size, then `gan`: for a training source of origin `gan` (gan_q), the seven per-emotion
   DCGANs and their samples into the source's root (`fer.tasks.gan.run_one`, the `gan.*` settings of task=gan);
   an emotion is current when the manifest holds samples from a GAN with the same settings key, epochs, seed
   and count.
The plan (each step, `build` or `current`) is printed first, then one line per step built.

`train.py ... produce_missing=true` runs the same plan before a run or a sweep starts (`ProduceMissing`, a Hydra
callback in conf/hydra/default.yaml): the sweep's jobs are listed as the basic sweeper lists them, each job's
config is composed, and the GAN settings are `generate.py task=variants` with the run's `paths`, `sources` and
`faces` overrides plus `produce_overrides`.
"""

from __future__ import annotations

import copy
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict

from fer.classes import CLASSES
from fer.errors import USER_ERROR_EXIT, ConfigError, UserError, user_error_message
from fer.utils.config import plain

# Origins of training sources this task produces; every other source is a download it can only name.
DERIVED_ORIGINS = ("gan",)
# Overrides of a train.py command that mean the same to generate.py (where the data is, how faces are cropped).
SHARED_KEYS = ("paths", "sources", "faces")


@dataclass
class Step:
    """One thing to build: `build()` does it and returns a one-line summary."""

    kind: str
    what: str
    current: bool
    build: Callable[[], str]

    def label(self) -> str:
        return f"{self.kind} {self.what}"


# ------------------------------------------------------------------------------------------------ the steps
def _face_step(source, faces, size: int, color: str, cache_dir: str) -> Step:
    from fer.data.cache import cache_key

    def build() -> str:
        prepared = source.load(source.pipeline(faces, size, color), cache_dir)
        return f"{len(prepared.samples)} face crops"

    entry = Path(cache_dir) / f"{source.name}-{cache_key(source.read(), source.face_options(faces), size, color)}"
    return Step("faces", f"{source.name} at {size} px {color}", (entry / "manifest.json").is_file(), build)


def _offline_step(source, faces, aug: dict, size: int, color: str, cache_dir: str, faces_ready: bool) -> Step:
    from fer.data.offline_aug import MANIFEST, AugmentSettings, settings_key, source_digest, source_key
    from fer.data.variants import offline_augmented

    def originals():
        prepared = source.load(source.pipeline(faces, size, color), cache_dir)
        return prepared.subset([i for i, s in enumerate(prepared.samples) if s.origin == "original"])

    def build() -> str:
        extra = offline_augmented(source.name, source, originals(), aug, size, color, cache_dir)
        return f"{len(extra.samples) if extra is not None else 0} augmented images"

    def current() -> bool:
        # The folder fer.data.variants.offline_augmented writes: <dir>/<name>-<size>px-<color>/<name>-<key>.
        # The "second run builds nothing" test fails if the two ever disagree.
        prepared = originals()
        keys = [source_key(s, source.root, prepared.images[i]) for i, s in enumerate(prepared.samples)]
        key = settings_key(AugmentSettings.from_config(aug), source_digest(prepared, keys))
        out = Path(aug["dir"]) / f"{source.name}-{size}px-{color}" / f"{source.name}-{key}"
        manifest = out / MANIFEST
        return manifest.is_file() and bool(OmegaConf.load(manifest).get("complete"))

    what = f"{source.name} at {size} px {color}, {aug.get('copies')} copies"
    return Step("offline_aug", what, faces_ready and current(), build)


def _gan_step(gen: DictConfig, emotion: str, out_dir: Path, faces_ready: bool) -> Step:
    from fer.tasks import gan

    def build() -> str:
        r = gan.run_one(gen, emotion, out_dir)
        return f"{r['samples']} samples from a GAN of {r['epochs']} epochs on {r['train_images']} faces"

    def current() -> bool:
        from fer.data.gan_manifest import read_manifest

        entry = read_manifest(out_dir).get("classes", {}).get(emotion)
        if not entry:
            return False
        g = gen.gan
        key, _ = gan.settings_key(gen, gan.class_faces(gen, emotion))
        files = entry.get("files", [])
        return (
            entry.get("settings_key") == key
            and int(entry.get("epochs", -1)) >= int(g.max_epochs)
            and entry.get("seed") == int(g.sample_seed)
            and len(files) == int(g.samples_per_class)
            and all((out_dir / f).is_file() for f in files)
        )

    return Step("gan", f"{emotion} -> {out_dir}", faces_ready and current(), build)


def plan(gen: DictConfig, jobs: list[DictConfig]) -> list[Step]:
    """The steps that give `jobs` (configs with `data`, `sources`, `faces`) every derived source, in dependency
    order, each once. `gen`: the generation config (the `gan` settings of task=gan). Missing downloads are
    named all at once, since no step can make them."""
    from fer.data.catalogue import Source, dataset_with_extras, preflight, select

    steps: dict[tuple, Step] = {}
    downloads, gan_roots = [], {}
    for job in jobs:
        data = job.data
        sources = select(data.train, job.sources, "data.train")
        downloads += [s for s in sources.values() if s.origin not in DERIVED_ORIGINS]
        gan_roots.update({str(s.root): s for s in sources.values() if s.origin in DERIVED_ORIGINS})
    preflight({"training source": downloads})
    if gan_roots and any(OmegaConf.select(j, "protocol.name") == "kfold" for j in jobs):
        # Science first: a GAN built here sees every subject of its dataset, test folds included. The runs flag
        # it (results.json: gan_saw_test_subjects); per-fold GANs need gan.exclude_subjects (docs/training.md).
        print("note: these GANs train on every subject, so they see each k-fold test fold (flagged in results.json)")
    for job in jobs:
        data, faces = job.data, job.faces
        size, color, cache_dir = int(data.image_size), str(data.color), str(data.cache_dir)
        aug = plain(data.offline_aug)
        for s in select(data.train, job.sources, "data.train").values():
            if s.origin in DERIVED_ORIGINS:
                continue
            key = ("faces", s.name, str(s.root), size, color, str(s.face_options(faces).key()), cache_dir)
            if key not in steps:
                steps[key] = _face_step(s, faces, size, color, cache_dir)
            if aug.get("enabled") and int(aug.get("copies", 1)) > 0 and s.origin == "original":
                akey = ("offline_aug", s.name, str(s.root), size, color, str(sorted(aug.items())), cache_dir)
                if akey not in steps:
                    steps[akey] = _offline_step(s, faces, aug, size, color, cache_dir, steps[key].current)
    for root in gan_roots:
        cfg = copy.deepcopy(gen)
        with open_dict(cfg):
            cfg.out_dir = root  # the source's own folder; gan.run_dir follows it (${out_dir}/_runs)
        g, ready = cfg.gan, True
        for name, entry in dataset_with_extras(cfg, g.extra_sources, "gan.extra_sources").items():
            s = Source.from_config(name, entry)
            size, color, cache_dir = int(g.image_size), str(g.color), str(cfg.paths.cache_dir)
            key = ("faces", s.name, str(s.root), size, color, str(s.face_options(cfg.faces).key()), cache_dir)
            if key not in steps:
                steps[key] = _face_step(s, cfg.faces, size, color, cache_dir)
            ready = ready and steps[key].current
        for emotion in CLASSES:
            steps[("gan", root, emotion)] = _gan_step(cfg, emotion, Path(root).expanduser().resolve(), ready)
    return list(steps.values())


def execute(steps: list[Step], title: str) -> dict:
    """Print the plan, build each step that is not current, one line each; returns what was done."""
    todo = [s for s in steps if not s.current]
    lines = [f"{title}: {len(todo)} step(s) to build, {len(steps) - len(todo)} current"]
    lines += [f"  {'build  ' if not s.current else 'current'} {s.label()}" for s in steps]
    print("\n".join(lines), flush=True)
    start, done = time.time(), []
    for i, step in enumerate(todo, 1):
        t = time.time()
        summary = step.build()
        left = (time.time() - start) / i * (len(todo) - i)
        print(f"[{i}/{len(todo)}] {step.label()}: {summary} ({time.time() - t:.1f} s, eta {left:.0f} s)", flush=True)
        done.append({"step": step.label(), "summary": summary})
    return {
        "built": done,
        "current": [s.label() for s in steps if s.current],
        "seconds": round(time.time() - start, 1),
    }


# ---------------------------------------------------------------------------------------------- front ends
def _key(override: str) -> str:
    from fer.runs.sweep import parse_overrides

    return parse_overrides([override])[0].key_or_group


def _compose(config_name: str, overrides: list[str]) -> DictConfig:
    from hydra import compose
    from hydra.errors import HydraException

    try:
        return compose(config_name=config_name, overrides=overrides)
    except HydraException as e:  # e.g. a variant with no conf/data/<name>.yaml
        raise ConfigError(f"{' '.join(overrides)}: {e}") from None


def variant_jobs(cfg: DictConfig) -> list[DictConfig]:
    """The configs of the variants `generate.py task=variants` builds for: `variants=[...]` (each composed as this
    command with `data=<variant>`), or `data=<variant>`."""
    names = list(cfg.get("variants") or [])
    if not names:
        if cfg.get("data") is None:
            raise ConfigError("task=variants needs data=<variant> or 'variants=[kdef_ol,kdef_q,...]' (conf/data/)")
        return [cfg]
    from hydra.core.hydra_config import HydraConfig

    rest = [o for o in HydraConfig.get().overrides.task if _key(o) not in ("data", "variants")]
    return [_compose(HydraConfig.get().job.config_name, [*rest, f"data={v}"]) for v in names]


def run(cfg: DictConfig) -> dict:
    jobs = variant_jobs(cfg)
    names = [str(j.data.name) for j in jobs]
    return {"task": "variants", "variants": names, **execute(plan(cfg, jobs), f"variants {', '.join(names)}")}


def sweep_jobs(config: DictConfig, multirun: bool) -> list[DictConfig]:
    """The composed config of each job a `train.py` run or basic-sweeper multirun will run."""
    from fer.runs.sweep import expand_sweep

    task = list(config.hydra.overrides.task)
    args = task
    if multirun:
        params = OmegaConf.select(config, "hydra.sweeper.params", default=None) or {}
        args = [f"{k}={v}" for k, v in OmegaConf.to_container(params, resolve=False).items()] + task
    try:
        listed = expand_sweep(args)
    except ValueError as e:  # a sweeper that draws its jobs as it goes (Optuna)
        raise ConfigError(
            f"produce_missing=true needs a sweep whose jobs can be listed ({e}); build the sources first with "
            f"python generate.py task=variants 'variants=[...]'"
        ) from None
    unique = {tuple(o for o in job if not _key(o).startswith("hydra.")) for job in listed}
    return [_compose(str(config.hydra.job.config_name), list(job)) for job in sorted(unique)]


def generation_config(config: DictConfig) -> DictConfig:
    """`generate.py task=variants` with the run's shared overrides and `produce_overrides`."""
    task = list(config.hydra.overrides.task)
    shared = [o for o in task if _key(o).lstrip("+~").split(".")[0] in SHARED_KEYS]
    gen = _compose("generate", ["task=variants", *shared, *list(config.get("produce_overrides") or [])])
    with open_dict(gen):  # this step's own logs (the GANs' CSV logs), outside any sweep folder
        gen.paths.output_dir = str(Path(gen.paths.log_dir) / "variants" / time.strftime("%Y-%m-%d_%H-%M-%S"))
    return gen


def missing_hint(datamodule, cfg: DictConfig) -> str | None:
    """When every source a run misses is one this task builds: the one command that builds them."""
    missing = [s for part in datamodule.sources.values() for s in part.values() if s.problem()]
    if not missing or any(s.origin not in DERIVED_ORIGINS for s in missing):
        return None
    return (
        f"build them with one command: python generate.py task=variants data={cfg.data.name} (with this "
        f"command's paths/sources overrides), or add produce_missing=true to this command"
    )


class ProduceMissing(Callback):
    """Hydra callback: with `produce_missing=true`, build what the run's or sweep's variants need before it starts
    (a no-op for configs without the key, e.g. generate.py's)."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._produce(config, multirun=False)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._produce(config, multirun=True)

    @staticmethod
    def _produce(config: DictConfig, multirun: bool) -> None:
        if not config.get("produce_missing"):
            return
        try:
            jobs = sweep_jobs(config, multirun)
            title = f"produce_missing: derived sources for {len(jobs)} job(s) of this {'sweep' if multirun else 'run'}"
            execute(plan(generation_config(config), jobs), title)
        except UserError as e:  # one line and status 2, as a job's user error
            print(user_error_message(e), file=sys.stderr, flush=True)
            raise SystemExit(USER_ERROR_EXIT) from None
