"""The face cache: cropped, resized faces stored once as a memory-mappable uint8 array plus a manifest.

A cache entry is keyed by everything that changes its content (the source files' list, sizes and mtimes,
the face options, size and colour), so a changed setting never reuses stale crops. Concurrent jobs take a
file lock; the entry is written under a temporary name and renamed into place.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fer.data.faces import FaceOptions, crop_face
from fer.data.images import BadImageError, load_image
from fer.data.samples import Sample

log = logging.getLogger(__name__)
CACHE_VERSION = 1


@dataclass
class PreparedSet:
    """Samples with their face crops: `images[i]` (H, W, C uint8, possibly memory-mapped) is `samples[i]`."""

    samples: list[Sample]
    images: np.ndarray
    report: dict = field(default_factory=dict)

    @property
    def labels(self) -> np.ndarray:
        return np.asarray([s.label for s in self.samples], dtype=np.int64)

    def subset(self, idx) -> "PreparedSet":
        idx = np.asarray(idx, dtype=np.int64)
        return PreparedSet([self.samples[i] for i in idx], self.images[idx], self.report)

    @staticmethod
    def concat(parts: list["PreparedSet"]) -> "PreparedSet":
        parts = [p for p in parts if len(p.samples)]
        if not parts:
            raise ValueError("nothing to concatenate: every part is empty")
        return PreparedSet([s for p in parts for s in p.samples], np.concatenate([p.images for p in parts]))


def cache_key(samples: list[Sample], faces: FaceOptions, size: int, color: str) -> str:
    h = hashlib.sha256()
    h.update(json.dumps({"v": CACHE_VERSION, "faces": faces.key(), "size": size, "color": color},
                        sort_keys=True, default=str).encode())
    for s in samples:
        st = os.stat(s.path)
        h.update(f"{s.path}\0{st.st_size}\0{st.st_mtime_ns}\0{s.label}\0{s.subject}\n".encode())
    return h.hexdigest()[:20]


@contextmanager
def file_lock(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _crop_one(args) -> tuple[np.ndarray | None, bool, str | None]:
    path, faces, size, color = args
    try:
        img = load_image(path, color)
    except BadImageError as e:
        return None, False, str(e)
    face, found, _ = crop_face(img, faces, size)
    if face is None:
        return None, False, f"{path}: no face found (faces.on_no_face=skip)"
    if face.ndim == 2:
        face = face[:, :, None]
    elif color == "rgb":
        face = face[:, :, ::-1]  # BGR -> RGB once, here
    return np.ascontiguousarray(face), found, None


def _crop_all(samples: list[Sample], faces: FaceOptions, size: int, color: str, workers: int):
    jobs = [(s.path, faces, size, color) for s in samples]
    if workers <= 1 or len(jobs) < 32:
        return [_crop_one(j) for j in jobs]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(_crop_one, jobs, chunksize=max(1, len(jobs) // (workers * 8))))


def prepare(
    samples: list[Sample],
    faces: FaceOptions,
    size: int,
    color: str,
    cache_dir: str | Path,
    name: str = "data",
    workers: int | None = None,
) -> PreparedSet:
    """Crop every sample's face once (cached). Bad images are skipped and listed in `report["skipped"]`."""
    if not samples:
        raise ValueError(f"{name}: no samples to prepare")
    workers = workers if workers is not None else min(2, os.cpu_count() or 1)
    key = cache_key(samples, faces, size, color)
    entry = Path(cache_dir) / f"{name}-{key}"
    with file_lock(Path(cache_dir) / f".{name}-{key}.lock"):
        if not (entry / "manifest.json").is_file():
            _build(entry, samples, faces, size, color, workers, name)
    return _load(entry)


def _build(entry: Path, samples, faces, size, color, workers, name) -> None:
    start = time.perf_counter()
    results = _crop_all(samples, faces, size, color, workers)
    kept = [(s, r[0], r[1]) for s, r in zip(samples, results) if r[0] is not None]
    skipped = [{"file": s.path, "reason": r[2]} for s, r in zip(samples, results) if r[0] is None]
    no_face = [s.path for s, r in zip(samples, results) if r[0] is not None and not r[1]]
    if not kept:
        raise BadImageError(f"{name}: none of the {len(samples)} images could be prepared; first problem: "
                            f"{skipped[0]['reason'] if skipped else 'unknown'}")
    images = np.stack([k[1] for k in kept])
    report = {
        "name": name, "prepared": len(kept), "skipped": skipped, "no_face": len(no_face),
        "no_face_files": no_face, "black": [s.path for s, im, _ in kept if int(im.max()) == 0],
        "seconds": round(time.perf_counter() - start, 3), "faces": faces.key(), "size": size, "color": color,
    }
    tmp = entry.with_name(entry.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    np.save(tmp / "images.npy", images)
    (tmp / "manifest.json").write_text(json.dumps({"samples": [s.to_dict() for s, _, _ in kept], "report": report}))
    shutil.rmtree(entry, ignore_errors=True)
    os.replace(tmp, entry)
    for msg in (f"skipped {len(skipped)}" if skipped else "", f"no face found in {len(no_face)}" if no_face else ""):
        if msg:
            log.warning("%s: %s image(s); see %s", name, msg, entry / "manifest.json")


def _load(entry: Path) -> PreparedSet:
    manifest = json.loads((entry / "manifest.json").read_text())
    samples = [Sample(**d) for d in manifest["samples"]]
    images = np.load(entry / "images.npy", mmap_mode="r")
    return PreparedSet(samples, images, manifest["report"])
