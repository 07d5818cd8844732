"""Face preparation speed: the cache's process pool (2 workers) against a one-process loop, same run.

980 KDEF-sized (562 x 762) colour JPEGs are generated on the fly from scikit-image's astronaut photo (a
real face, shifted and re-lit per image so no two files are alike), then prepared with the Haar detector
at 224 x 224 grey with `workers=2` (the pool) and with `workers=1` (the plain in-process loop, OpenCV's own
threads left at their default), each into an empty cache; the full run adds the loop with OpenCV limited to
one thread (a strictly one-core baseline). The machine is shared, so the methods are interleaved: the images
are processed in blocks (98 each), every block by every method in rotating order, and times are summed.
Reports images/second, the pool's speedup over each loop, the
loops' CPU milliseconds per image (robust to other load on the machine; the pool's is not measured), the
load average, and whether all runs produced identical arrays.
"""

from __future__ import annotations

import os
import resource
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
        crop = base[max(0, 20 + dy) : 420 + dy, max(0, 80 + dx) : 374 + dx]  # ~0.74 aspect, like KDEF
        img = cv2.resize(crop, (562, 762), interpolation=cv2.INTER_LINEAR)
        img = cv2.convertScaleAbs(img, alpha=float(rng.uniform(0.8, 1.2)), beta=float(rng.uniform(-20, 20)))
        p = out / ("happy" if i % 2 else "sad") / f"img{i:04d}.jpg"
        p.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(p), img, [cv2.IMWRITE_JPEG_QUALITY, 92])
        paths.append(p)
    return paths


def run(quick: bool = False) -> dict:
    from fer.data.cache import prepare
    from fer.data.catalogue import read_dataset
    from fer.faces.detection import FaceOptions

    n = 98 if quick else 980
    load_start = os.getloadavg()[0]
    faces = FaceOptions(detector="haar")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        make_images(tmp / "imgs", n)
        samples = read_dataset("folder", tmp / "imgs", name="bench")
        runs = [("loop", 1, None), ("pool", 2, None)] + ([] if quick else [("loop_1thread", 1, 1)])
        timings, cpu, results = {r[0]: 0.0 for r in runs}, {r[0]: 0.0 for r in runs}, {r[0]: [] for r in runs}
        default_threads = cv2.getNumThreads()
        block = 98
        for b, lo in enumerate(range(0, n, block)):
            part = samples[lo : lo + block]
            for label, workers, threads in runs[b % len(runs) :] + runs[: b % len(runs)]:
                cv2.setNumThreads(threads if threads else default_threads)
                c0, start = _cpu(), time.perf_counter()
                p = prepare(part, faces, 224, "gray", tmp / f"cache_{label}", name=f"bench{b}", workers=workers)
                timings[label] += time.perf_counter() - start
                cpu[label] += _cpu() - c0
                results[label].append(p)
        cv2.setNumThreads(default_threads)
        arrays = {k: np.concatenate([np.asarray(p.images) for p in v]) for k, v in results.items()}
        same = all(np.array_equal(a, arrays["pool"]) for a in arrays.values())
        found = n - sum(p.report["no_face"] for p in results["pool"])
    out = {
        "images": n,
        "blocks": -(-n // 98),
        "size": "562x762 -> 224 gray",
        "detector": "haar",
        "cpu_count": os.cpu_count(),
        "cv2_default_threads": default_threads,
        "load_avg_1min_start": round(load_start, 2),
        "load_avg_1min_end": round(os.getloadavg()[0], 2),
    }
    for label in timings:
        out[f"{label}_images_per_s"] = round(n / timings[label], 1)
        out[f"{label}_s"] = round(timings[label], 2)
        if label != "pool":
            out[f"{label}_cpu_ms_per_image"] = round(1000 * cpu[label] / n, 1)
    out["speedup"] = round(timings["loop"] / timings["pool"], 2)  # pool vs the one-process loop
    if "loop_1thread" in timings:
        out["speedup_vs_1thread"] = round(timings["loop_1thread"] / timings["pool"], 2)
    return {**out, "faces_found": found, "identical_arrays": bool(same)}


def _cpu() -> float:
    """CPU seconds of this process (all its threads)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    return me.ru_utime + me.ru_stime


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run(quick="--quick" in sys.argv)))
