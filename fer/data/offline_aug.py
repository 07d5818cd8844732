"""Offline augmentation: each face crop gets `copies` transformed images, stored on disk with a manifest.

The paper's six kinds of change, each drawn independently per image (ranges in `conf/data/offline_aug/paper.yaml`):

    flip       horizontal flip with probability `flip`
    height     vertical stretch by a factor in `height` (resize of the height, frame kept: centre crop / pad)
    width      horizontal stretch by a factor in `width`
    rotation   rotation by an angle in [-rotation, rotation] degrees
    zoom       isotropic scale by a factor in `zoom` (> 1 zooms in)
    contrast   contrast factor in `contrast` (1 = unchanged; pixels move away from / towards the mean)

The kernels are `torchvision.transforms.v2.functional` calls with explicitly drawn parameters (so the
manifest records exactly what was applied), run on PIL images: on CPU these are the fastest kernels and
they are bit-exact on every machine. The crop is padded first (`fill: reflect`, as Keras' default fill
mode, or a constant grey level), so rotation, zoom-out and shrinking never bring empty corners into view.

Determinism: copy k of a source image is drawn from a generator seeded with (seed, a stable hash of the
source's path relative to its dataset root, k); never from global RNG state or worker order, so any
number of workers and any interrupted-then-resumed run give byte-identical files.

Folder layout written by `augment_to_folder` and read back by `read_augmented` (the `augmented` reader):

    <out>/augment.json           settings stamp, written first (a run with other settings fails clearly)
    <out>/<class>/<stem>_aug<k>.png
    <out>/manifest.json          one row per image (file, source file, subject, label, drawn parameters),
                                 written last: its presence means the folder is complete
    <out>/preview.png            originals (first column) and their augmented copies
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
from PIL import Image

from fer.classes import CLASSES
from fer.data.cache import PreparedSet
from fer.data.readers.augmented import MANIFEST, STAMP
from fer.data.samples import Sample
from fer.errors import ConfigError, UserError
from fer.utils.io import DiskFullError, atomic_path, atomic_write_json, disk_full_error
from fer.utils.procs import file_lock, worker_pool

log = logging.getLogger(__name__)
AUGMENT_VERSION = 1
PREVIEW = "preview.png"


class AugmentSettingsError(UserError, ValueError):
    """An output folder holds augmentation made with other settings (or from other source crops)."""


def _pair(v, name: str) -> tuple[float, float]:
    lo, hi = (float(x) for x in v)
    if lo > hi or lo <= 0:
        raise ConfigError(f"augment.{name}={list(v)}: expected [low, high] with 0 < low <= high")
    return lo, hi


@dataclass(frozen=True)
class AugmentSettings:
    """Everything that changes the augmented images (the folder's settings key)."""

    copies: int = 5
    seed: int = 0
    rotation: float = 10.0
    zoom: tuple[float, float] = (0.9, 1.1)
    flip: float = 0.5
    height: tuple[float, float] = (0.9, 1.1)
    width: tuple[float, float] = (0.9, 1.1)
    contrast: tuple[float, float] = (0.8, 1.2)
    fill: int | str = "reflect"

    def __post_init__(self) -> None:
        if self.copies < 1:
            raise ConfigError(f"augment.copies={self.copies}: expected >= 1")
        if not 0 <= self.flip <= 1:
            raise ConfigError(f"augment.flip={self.flip}: expected a probability in [0, 1]")
        if not 0 <= self.rotation <= 45:
            raise ConfigError(f"augment.rotation={self.rotation}: expected degrees in [0, 45]")
        if self.fill != "reflect" and not (isinstance(self.fill, int) and 0 <= self.fill <= 255):
            raise ConfigError(f"augment.fill={self.fill!r}: expected 'reflect' or a grey level 0..255")
        for name in ("zoom", "height", "width", "contrast"):
            object.__setattr__(self, name, _pair(getattr(self, name), name))

    @classmethod
    def from_config(cls, cfg: Mapping | None) -> AugmentSettings:
        """From a config node; keys that are not settings (enabled, dir, workers, preview) are ignored."""
        try:
            from omegaconf import OmegaConf

            if OmegaConf.is_config(cfg):
                cfg = OmegaConf.to_container(cfg, resolve=True)
        except ImportError:  # pragma: no cover
            pass
        names = {f.name for f in fields(cls)}
        return cls(
            **{k: tuple(v) if isinstance(v, (list, tuple)) else v for k, v in dict(cfg or {}).items() if k in names}
        )

    def to_dict(self) -> dict:
        """The settings as plain JSON values (tuples as lists)."""
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}


def stable_int(text: str) -> int:
    """A 64-bit integer from a string, the same on every machine and Python run (unlike `hash`)."""
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


def draw_params(settings: AugmentSettings, source_key: str, copy: int) -> dict:
    """The parameters of copy `copy` of the image keyed `source_key` (rounded: the manifest is exact)."""
    s = settings
    rng = np.random.default_rng([s.seed, stable_int(source_key), copy])
    return {
        "rotation": round(float(rng.uniform(-s.rotation, s.rotation)), 3),
        "zoom": round(float(rng.uniform(*s.zoom)), 4),
        "flip": bool(rng.random() < s.flip),
        "height": round(float(rng.uniform(*s.height)), 4),
        "width": round(float(rng.uniform(*s.width)), 4),
        "contrast": round(float(rng.uniform(*s.contrast)), 4),
    }


def border(params: Mapping, h: int, w: int) -> int:
    """Pixels added on each side before the warp: just enough for this copy's rotation, zoom-out and
    shrink, so no uncovered area reaches the output frame (and no more: the warp's cost grows with it)."""
    r = np.deg2rad(abs(params["rotation"]))
    shrink = params["zoom"] * min(params["height"], params["width"], 1.0)
    return int(np.ceil(0.5 * max(h, w) * max(0.0, (np.cos(r) + np.sin(r)) / min(shrink, 1.0) - 1))) + 2


def apply_params(image: np.ndarray, params: Mapping, settings: AugmentSettings) -> np.ndarray:
    """One augmented copy of an (H, W, C) uint8 crop, C = 1 or 3; same shape out.

    pad (reflect, or constant `fill`) -> flip -> stretch height/width -> rotate + zoom about the centre ->
    centre crop back to H x W -> contrast.
    """
    from torchvision.transforms.v2 import InterpolationMode
    from torchvision.transforms.v2 import functional as F

    h, w = image.shape[:2]
    img = Image.fromarray(image[:, :, 0] if image.shape[2] == 1 else image)
    fill = 0 if settings.fill == "reflect" else int(settings.fill)
    pad = border(params, h, w)
    img = F.pad(img, [pad], fill=fill, padding_mode="reflect" if settings.fill == "reflect" else "constant")
    if params["flip"]:
        img = F.horizontal_flip(img)
    ph, pw = h + 2 * pad, w + 2 * pad
    img = F.resize(
        img,
        [max(1, round(ph * params["height"])), max(1, round(pw * params["width"]))],
        interpolation=InterpolationMode.BILINEAR,
    )
    # Only the centre that the rotation and zoom map into the frame is needed: a smaller warp input is faster.
    r = np.deg2rad(abs(params["rotation"]))
    need = int(np.ceil(max(h, w) * (np.cos(r) + np.sin(r)) / params["zoom"])) + 4
    if img.height > need or img.width > need:
        img = F.center_crop(img, [min(img.height, need), min(img.width, need)])
    img = F.affine(
        img,
        angle=params["rotation"],
        translate=[0, 0],
        scale=params["zoom"],
        shear=[0.0, 0.0],
        interpolation=InterpolationMode.BILINEAR,
        fill=fill,
    )
    img = F.center_crop(img, [h, w])
    img = F.adjust_contrast(img, params["contrast"])
    out = np.asarray(img)
    return out[:, :, None] if out.ndim == 2 else out


def source_key(sample: Sample, root: str | Path | None, image: np.ndarray | None = None) -> str:
    """What seeds a source's copies: its path relative to the dataset root (portable across machines and
    moved roots), else a hash of its crop's bytes."""
    if root is not None:
        try:
            return Path(sample.path).relative_to(Path(root).expanduser()).as_posix()
        except ValueError:
            pass
    if image is None:
        raise ValueError(f"{sample.path} is not under the dataset root {root}; cannot key its augmentation")
    return "sha256:" + hashlib.sha256(np.ascontiguousarray(image).tobytes()).hexdigest()


def source_digest(prepared: PreparedSet, keys: Sequence[str]) -> str:
    """Identity of the source crops: their bytes, keys, labels and subjects (not paths or mtimes)."""
    h = hashlib.blake2b(digest_size=10)
    h.update(repr(prepared.images.shape).encode())
    for i, (s, k) in enumerate(zip(prepared.samples, keys, strict=False)):
        h.update(f"{k}\0{s.label}\0{s.subject}\n".encode())
        h.update(memoryview(np.ascontiguousarray(prepared.images[i])).cast("B"))
    return h.hexdigest()


def settings_key(settings: AugmentSettings, digest: str) -> str:
    """A 12-hex-digit key of the settings and the source crops' digest (`source_digest`): the output's identity."""
    blob = json.dumps({"v": AUGMENT_VERSION, "settings": settings.to_dict(), "source": digest}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def output_names(samples: Sequence[Sample], keys: Sequence[str], copies: int) -> list[list[str]]:
    """`<class>/<stem>_aug<k>.png` per source and copy; a stem shared within a class gets the key's hash."""
    stems = [
        f"{CLASSES[s.label]}/{Path(k).stem if not k.startswith('sha256:') else k[7:23]}"
        for s, k in zip(samples, keys, strict=False)
    ]
    seen: dict[str, int] = {}
    for st in stems:
        seen[st] = seen.get(st, 0) + 1
    stems = [st if seen[st] == 1 else f"{st}-{stable_int(k) % 16**8:08x}" for st, k in zip(stems, keys, strict=False)]
    return [[f"{st}_aug{c}.png" for c in range(copies)] for st in stems]


def _save_png(img: np.ndarray, path: Path) -> None:
    """Atomic: a temporary file beside the target, renamed into place; fast zlib level (lossless anyway)."""
    try:
        with atomic_path(path) as tmp:
            Image.fromarray(img[:, :, 0] if img.shape[2] == 1 else img).save(tmp, format="PNG", compress_level=1)
    except DiskFullError:
        raise disk_full_error(path.parent.parent, img.nbytes, "the augmented images") from None


def _augment_chunk(args) -> int:
    """Worker: render and write the missing copies of a chunk of sources; returns how many were written."""
    images, jobs, settings, out = args
    written = 0
    for image, copies in zip(images, jobs, strict=False):
        for params, name in copies:
            _save_png(apply_params(image, params, settings), out / name)
            written += 1
    return written


def augment_arrays(images: np.ndarray, keys: Sequence[str], settings: AugmentSettings) -> np.ndarray:
    """In memory: (N, H, W, C) crops -> (N, copies, H, W, C) augmented copies (tests, benchmarks, previews)."""
    out = np.empty((len(images), settings.copies, *images.shape[1:]), dtype=np.uint8)
    for i, (img, key) in enumerate(zip(images, keys, strict=False)):
        for c in range(settings.copies):
            out[i, c] = apply_params(np.asarray(img), draw_params(settings, key, c), settings)
    return out


def _check_stamp(out: Path, stamp: dict) -> bool:
    """True when `out` holds this exact augmentation; raises when it holds another one."""
    path = out / STAMP
    if not path.is_file():
        foreign = sorted(p.name for p in out.iterdir())
        if foreign:
            raise AugmentSettingsError(
                f"{out} is not empty ({', '.join(foreign[:5])}) and holds no {STAMP}: not an "
                "offline-augmentation folder; choose an empty or new out_dir"
            )
        return False
    old = json.loads(path.read_text())
    if old.get("key") == stamp["key"]:
        return True
    was = old.get("settings", {})
    diff = [f"{k}: {was.get(k)} -> {v}" for k, v in stamp["settings"].items() if was.get(k) != v]
    if old.get("source", {}).get("digest") != stamp["source"]["digest"]:
        diff.append("the source crops (dataset content, face options, image size or colour)")
    what = "; ".join(diff) or "a different version"
    raise AugmentSettingsError(
        f"{out} holds offline augmentation made with other settings ({what}; "
        f"its {STAMP}: key {old.get('key')}, this run: {stamp['key']}); "
        f"choose another out_dir, or delete {out} to replace it"
    )


def augment_to_folder(
    prepared: PreparedSet,
    settings: AugmentSettings,
    out_dir: str | Path | None,
    root: str | Path | None,
    name: str = "data",
    workers: int | None = None,
    preview: int = 4,
    base_dir: str | Path | None = None,
) -> dict:
    """Write `settings.copies` augmented PNGs per crop of `prepared` into `out_dir`, plus the manifest.

    `out_dir` holding another augmentation raises AugmentSettingsError; with `out_dir=None` the folder is
    `<base_dir>/<name>-<settings key>` instead (the training-time cache: other settings, other folder).
    Idempotent and resumable: files already present are complete (atomic writes) and identical to what
    would be written (determinism), so they are skipped; the manifest is written last. Returns a summary.
    """
    start = time.perf_counter()
    if not len(prepared.samples):
        raise ValueError(f"{name}: no images to augment")
    keys = [source_key(s, root, prepared.images[i]) for i, s in enumerate(prepared.samples)]
    digest = source_digest(prepared, keys)
    key = settings_key(settings, digest)
    if out_dir is None and base_dir is None:
        raise ValueError("augment_to_folder: give out_dir or base_dir")
    out = Path(out_dir) if out_dir is not None else Path(base_dir) / f"{name}-{key}"
    stamp = {
        "version": AUGMENT_VERSION,
        "key": key,
        "settings": settings.to_dict(),
        "source": {
            "name": name,
            "root": str(root) if root is not None else None,
            "images": len(keys),
            "digest": digest,
            "shape": list(prepared.images.shape[1:]),
        },
    }
    out.mkdir(parents=True, exist_ok=True)
    with file_lock(out.parent / f".{out.name}.augment.lock"):  # beside the folder: nothing foreign inside it
        if _check_stamp(out, stamp) and (out / MANIFEST).is_file():
            manifest = json.loads((out / MANIFEST).read_text())
            if manifest.get("complete") and all((out / r["file"]).is_file() for r in manifest["rows"]):
                log.info("%s: offline augmentation already complete in %s", name, out)
                return _summary(manifest, out, written=0, seconds=time.perf_counter() - start)
        atomic_write_json(out / STAMP, stamp)
        (out / MANIFEST).unlink(missing_ok=True)
        for tmp in out.glob("*/.*.tmp*"):  # leftovers of an interrupted run
            tmp.unlink(missing_ok=True)
        names = output_names(prepared.samples, keys, settings.copies)
        for d in {n.split("/", 1)[0] for row in names for n in row}:
            (out / d).mkdir(exist_ok=True)
        rows, todo = [], []
        for i, (s, k) in enumerate(zip(prepared.samples, keys, strict=False)):
            missing = []
            for c in range(settings.copies):
                params = draw_params(settings, k, c)
                rows.append(
                    {
                        "file": names[i][c],
                        "source": k,
                        "source_path": s.path,
                        "subject": s.subject,
                        "dataset": s.dataset,
                        "label": s.label,
                        "class": CLASSES[s.label],
                        "copy": c,
                        "params": params,
                    }
                )
                if not (out / names[i][c]).is_file():
                    missing.append((params, names[i][c]))
            if missing:
                todo.append((i, missing))
        written = _run_jobs(prepared.images, todo, settings, out, workers)
        previewed = write_preview(prepared, keys, settings, out / PREVIEW, n=preview) if preview else None
        manifest = {**stamp, "complete": True, "preview": previewed, "rows": rows}
        atomic_write_json(out / MANIFEST, manifest)
    summary = _summary(manifest, out, written=written, seconds=time.perf_counter() - start)
    log.info(
        "%s: %d augmented images (%d written now) in %s, %.1f s",
        name,
        summary["images"],
        written,
        out,
        summary["seconds"],
    )
    return summary


def _summary(manifest: dict, out: Path, written: int, seconds: float) -> dict:
    return {
        "out_dir": str(out),
        "key": manifest["key"],
        "sources": manifest["source"]["images"],
        "images": len(manifest["rows"]),
        "written": written,
        "seconds": round(seconds, 3),
        "preview": str(out / PREVIEW) if manifest.get("preview") else None,
    }


def default_workers() -> int:
    """Worker processes for augmentation: the CPU count, at most 4."""
    return max(1, min(4, os.cpu_count() or 1))


def _run_jobs(images: np.ndarray, todo: list, settings: AugmentSettings, out: Path, workers: int | None) -> int:
    if not todo:
        return 0
    workers = default_workers() if workers is None else max(1, int(workers))
    per = max(1, min(64, len(todo) // (workers * 4) or 1))
    chunks = [todo[i : i + per] for i in range(0, len(todo), per)]
    tasks = [(np.stack([images[i] for i, _ in ch]), [m for _, m in ch], settings, out) for ch in chunks]
    if workers == 1 or len(chunks) == 1:
        return _progress(map(_augment_chunk, tasks), sum(len(m) for _, m in todo), out)
    import torchvision.transforms.v2.functional  # noqa: F401  (imported once here: forked workers inherit it)

    with worker_pool(workers) as pool:  # workers die with this process: a killed run leaves none writing
        return _progress(pool.map(_augment_chunk, tasks), sum(len(m) for _, m in todo), out)


def _progress(counts, total: int, out: Path, every: float = 30.0) -> int:
    """Sum the chunks' written counts, logging `written/total, img/s, eta` at most every `every` seconds."""
    start = last = time.perf_counter()
    written = 0
    for n in counts:
        written += n
        if (now := time.perf_counter()) - last >= every and written < total:
            last, rate = now, written / (now - start)
            log.info(
                "%s: %d/%d images written, %.1f img/s, eta %.0f s", out, written, total, rate, (total - written) / rate
            )
    return written


def preview_indices(prepared: PreparedSet, n: int) -> list[int]:
    """The first image of each of the first `n` classes present (then more images, if classes run out)."""
    first: dict[int, int] = {}
    for i, s in enumerate(prepared.samples):
        first.setdefault(s.label, i)
    idx = [first[c] for c in sorted(first)][:n]
    idx += [i for i in range(len(prepared.samples)) if i not in idx][: n - len(idx)]
    return idx


def preview_grid(originals: np.ndarray, copies: np.ndarray) -> np.ndarray:
    """One row per image: the original, then its copies; (H', W', 3) uint8 via torchvision's make_grid."""
    import torch
    from torchvision.utils import make_grid

    rows = np.concatenate([originals[:, None], copies], axis=1)  # (n, 1 + copies, H, W, C)
    t = torch.from_numpy(rows.reshape(-1, *rows.shape[2:])).permute(0, 3, 1, 2)
    grid = make_grid(t, nrow=rows.shape[1], padding=4, pad_value=255)
    return grid.permute(1, 2, 0).numpy()


def write_preview(
    prepared: PreparedSet, keys: Sequence[str], settings: AugmentSettings, path: Path, n: int = 4
) -> list[str]:
    """Save the preview grid atomically; returns the source keys shown (one per row)."""
    idx = preview_indices(prepared, n)
    originals = np.stack([np.asarray(prepared.images[i]) for i in idx])
    grid = preview_grid(originals, augment_arrays(originals, [keys[i] for i in idx], settings))
    with atomic_path(path) as tmp:
        Image.fromarray(grid).save(tmp, format="PNG")
    return [keys[i] for i in idx]
