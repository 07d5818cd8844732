"""Offline augmentation speed: 980 face crops at 224 px (KDEF's frontal count), 5 copies each.

Framework: `fer.data.offline_aug` (torchvision v2 functional kernels on PIL images, parameters drawn per image,
a process pool, fast PNG level) in memory and end to end (`augment_to_folder`: PNGs + manifest).
Baseline: a plain one-image-at-a-time PIL loop doing the same six transforms (flip, height/width resize,
rotation, zoom, contrast) with `random.Random`, saving PNGs with PIL's defaults. Both in the same run.

    python -m bench augment [--quick]
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

from fer.data.catalogue import load_source
from fer.data.offline_aug import AugmentSettings, augment_arrays, augment_to_folder, default_workers, source_key

CROP = [0.14, 0.159, 0.86, 0.691]  # the synthetic KDEF face box


def _center(img: Image.Image, w: int, h: int) -> Image.Image:
    """Centre crop or pad (black) to w x h."""
    canvas = Image.new(img.mode, (w, h))
    canvas.paste(img, ((w - img.width) // 2, (h - img.height) // 2))
    return canvas


def pil_baseline(images: np.ndarray, s: AugmentSettings, out: Path | None) -> int:
    """The plain loop: per image, per copy, draw and apply the six transforms with PIL; optionally save."""
    rng = random.Random(s.seed)
    n = 0
    for i, a in enumerate(images):
        src = Image.fromarray(a[:, :, 0] if a.shape[2] == 1 else a)
        w, h = src.size
        for c in range(s.copies):
            img = src.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if rng.random() < s.flip else src
            img = img.resize(
                (round(w * rng.uniform(*s.width)), round(h * rng.uniform(*s.height))), Image.Resampling.BILINEAR
            )
            img = _center(img, w, h)
            img = img.rotate(rng.uniform(-s.rotation, s.rotation), Image.Resampling.BILINEAR)
            z = rng.uniform(*s.zoom)
            img = _center(img.resize((round(w * z), round(h * z)), Image.Resampling.BILINEAR), w, h)
            img = ImageEnhance.Contrast(img).enhance(rng.uniform(*s.contrast))
            if out is not None:
                img.save(out / f"{i}_{c}.png")
            n += 1
    return n


def _crops(n_subjects: int, work: Path):
    from fer.synthetic import render

    root = work / "kdef"
    render("kdef", root, subjects=n_subjects, angles=("S",), akdef=False)
    src = {"reader": "kdef", "root": str(root)}
    return load_source("kdef", src, {"detector": "none", "crop": CROP}, 224, "gray", work / "cache"), root


def _rate(fn, n_images: int) -> tuple[float, float]:
    t = time.perf_counter()
    fn()
    dt = time.perf_counter() - t
    return round(n_images / dt, 1), round(dt, 2)


def run(quick: bool = False) -> dict:
    work = Path(tempfile.mkdtemp(prefix="bench_augment_"))
    try:
        prepared, root = _crops(7 if quick else 70, work)  # 98 or 980 crops
        s = AugmentSettings()
        images = np.asarray(prepared.images)
        keys = [source_key(x, root) for x in prepared.samples]
        n = len(images) * s.copies
        workers = default_workers()
        # warm-up (imports, caches) outside the timings
        augment_arrays(images[:2], keys[:2], s)
        pil_baseline(images[:2], s, None)

        fw_mem, fw_mem_s = _rate(lambda: augment_arrays(images, keys, s), n)
        base_mem, base_mem_s = _rate(lambda: pil_baseline(images, s, None), n)
        (work / "base").mkdir()
        base_disk, base_disk_s = _rate(lambda: pil_baseline(images, s, work / "base"), n)
        fw_disk1, fw_disk1_s = _rate(
            lambda: augment_to_folder(prepared, s, work / "fw1", root, workers=1, preview=0), n
        )
        fw_disk, fw_disk_s = _rate(
            lambda: augment_to_folder(prepared, s, work / "fw", root, workers=workers, preview=0), n
        )
        rerun, rerun_s = _rate(lambda: augment_to_folder(prepared, s, work / "fw", root, workers=workers, preview=0), n)
        size = lambda d: sum(p.stat().st_size for p in d.rglob("*.png"))  # noqa: E731
        return {
            "crops": len(images),
            "size": 224,
            "copies": s.copies,
            "images": n,
            "workers": workers,
            "cpus": os.cpu_count(),
            "framework_in_memory_img_per_s": fw_mem,
            "baseline_pil_in_memory_img_per_s": base_mem,
            "ratio_in_memory": round(fw_mem / base_mem, 2),
            "framework_to_disk_1_worker_img_per_s": fw_disk1,
            "framework_to_disk_img_per_s": fw_disk,
            "baseline_pil_to_disk_img_per_s": base_disk,
            "ratio_to_disk": round(fw_disk / base_disk, 2),
            "ratio_to_disk_1_worker": round(fw_disk1 / base_disk, 2),
            "rerun_seconds": rerun_s,
            "framework_png_mb": round(size(work / "fw") / 2**20, 1),
            "baseline_png_mb": round(size(work / "base") / 2**20, 1),
            "timings_s": {
                "framework_in_memory": fw_mem_s,
                "baseline_in_memory": base_mem_s,
                "framework_to_disk": fw_disk_s,
                "framework_to_disk_1_worker": fw_disk1_s,
                "baseline_to_disk": base_disk_s,
            },
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
