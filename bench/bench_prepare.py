"""Face preparation speed: the cache's process pool (2 workers) against a one-process loop, same run.

980 KDEF-sized (562 x 762) colour JPEGs are generated on the fly from scikit-image's astronaut photo (a
real face, shifted and re-lit per image so no two files are alike), then prepared with the Haar detector
at 224 x 224 grey, once with `workers=2` and once with `workers=1` (the plain in-process loop), each into an
empty cache. Reports images/second for both, their ratio, and whether both produced identical arrays.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np


def make_images(out: Path, n: int, seed: int = 0) -> list[Path]:
    from skimage import data

    rng = np.random.default_rng(seed)
    base = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    paths = []
    for i in range(n):
        dx, dy = rng.integers(-20, 21, 2)
        crop = base[max(0, 20 + dy): 420 + dy, max(0, 80 + dx): 374 + dx]  # ~0.74 aspect, like KDEF
        img = cv2.resize(crop, (562, 762), interpolation=cv2.INTER_LINEAR)
        img = cv2.convertScaleAbs(img, alpha=float(rng.uniform(0.8, 1.2)), beta=float(rng.uniform(-20, 20)))
        p = out / ("happy" if i % 2 else "sad") / f"img{i:04d}.jpg"
        p.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(p), img, [cv2.IMWRITE_JPEG_QUALITY, 92])
        paths.append(p)
    return paths


def run(quick: bool = False) -> dict:
    from fer.data.cache import prepare
    from fer.data.faces import FaceOptions
    from fer.data.readers import read_dataset

    n = 98 if quick else 980
    faces = FaceOptions(detector="haar")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        make_images(tmp / "imgs", n)
        samples = read_dataset("folder", tmp / "imgs", name="bench")
        timings, results = {}, {}
        for label, workers in (("loop", 1), ("pool", 2)):
            start = time.perf_counter()
            results[label] = prepare(samples, faces, 224, "gray", tmp / f"cache_{label}", name="bench", workers=workers)
            timings[label] = time.perf_counter() - start
        same = np.array_equal(np.asarray(results["loop"].images), np.asarray(results["pool"].images))
        found = n - results["pool"].report["no_face"]
    return {
        "images": n, "size": "562x762 -> 224 gray", "detector": "haar", "cpu_count": os.cpu_count(),
        "cv2_threads": cv2.getNumThreads(),
        "loop_images_per_s": round(n / timings["loop"], 1), "pool_images_per_s": round(n / timings["pool"], 1),
        "loop_s": round(timings["loop"], 2), "pool_s": round(timings["pool"], 2),
        "speedup": round(timings["loop"] / timings["pool"], 2), "faces_found": found, "identical_arrays": bool(same),
    }


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run(quick="--quick" in sys.argv)))
