"""The face cache: cropped, resized faces stored once as a memory-mappable uint8 array plus a manifest.

A cache entry is keyed by everything that changes its content (the source files' list, sizes and mtimes,
the face options including model files, size and colour), so a changed setting never reuses stale crops.
Concurrent jobs take a file lock on the entry: the first builds it, the others wait and then load it. The
entry is written under a temporary name and renamed into place; a failed or interrupted build leaves no
partial entry (temporary folders of killed builds are removed by the next build).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fer.data.samples import Sample
from fer.faces.detection import FaceOptions, get_detector
from fer.faces.images import BadImageError
from fer.faces.pipeline import FacePipeline, check_image_size
from fer.utils.io import (
    FolderError,
    atomic_path,
    disk_full_error,
    is_disk_full,
    leftovers,
    make_folder,
    require_free_space,
    reserve,
)
from fer.utils.procs import file_lock, worker_pool

log = logging.getLogger(__name__)
CACHE_VERSION = 3  # 3: images too small to hold a face are skipped, no longer cropped
MIN_FACE_PIXELS = 16  # an image whose shorter side is below this holds no usable face (FER2013's are 48 x 48)
POOL_MIN_IMAGES = 32  # below this a process pool costs more than it saves


@dataclass
class PreparedSet:
    """Samples with their face crops: `images[i]` (H, W, C uint8, possibly memory-mapped) is `samples[i]`."""

    samples: list[Sample]
    images: np.ndarray
    report: dict = field(default_factory=dict)

    @property
    def labels(self) -> np.ndarray:
        """The samples' labels, int64."""
        return np.asarray([s.label for s in self.samples], dtype=np.int64)

    def subset(self, idx) -> PreparedSet:
        """The samples at indices `idx` with their crops, in that order (the report is shared)."""
        idx = np.asarray(idx, dtype=np.int64)
        return PreparedSet([self.samples[i] for i in idx], self.images[idx], self.report)

    @staticmethod
    def concat(parts: list[PreparedSet]) -> PreparedSet:
        """The non-empty parts one after another (crops copied into memory, no report); all empty is an error."""
        parts = [p for p in parts if len(p.samples)]
        if not parts:
            raise ValueError("nothing to concatenate: every part is empty")
        return PreparedSet([s for p in parts for s in p.samples], np.concatenate([p.images for p in parts]))


def _gray_source(s: Sample) -> bool:
    return bool(s.meta.get("gray"))  # CK+, JAFFE, FER2013: grey by nature (a few CK+ frames are RGB)


def cache_key(samples: list[Sample], faces: FaceOptions, size: int, color: str) -> str:
    """A 20-hex-digit key of everything that changes the crops: the face options, size, colour and each sample's
    path, size, mtime, label and subject."""
    h = hashlib.sha256()
    h.update(
        json.dumps(
            {"v": CACHE_VERSION, "faces": faces.key(), "size": size, "color": color}, sort_keys=True, default=str
        ).encode()
    )
    for s in samples:
        st = os.stat(s.path)
        h.update(f"{s.path}\0{st.st_size}\0{st.st_mtime_ns}\0{s.label}\0{s.subject}\0{_gray_source(s)}\n".encode())
    return h.hexdigest()[:20]


# ------------------------------------------------------------------------------------------ cropping


def _init_worker(faces: FaceOptions) -> None:
    # Never cv2.setNumThreads here: in a forked child it can wait forever on the parent's OpenCV thread pool.
    get_detector(faces)  # the detector is built once per worker process, not once per image


def _crop_one(args) -> tuple[np.ndarray | None, bool | None, str | None, bool]:
    """(face or None, face found (None: unreadable image), reason when no face is returned, source all black)."""
    path, gray_source, pipeline = args
    try:
        img = pipeline.load(path, gray_source)
    except BadImageError as e:
        return None, None, str(e), False
    black = int(img.max()) == 0
    if min(img.shape[:2]) < MIN_FACE_PIXELS:  # a centre crop of it would be a face-sized blur of a few pixels
        h, w = img.shape[:2]
        return None, None, f"{path}: {w}x{h} pixels: too small to hold a face (at least {MIN_FACE_PIXELS})", black
    try:
        face = pipeline.training_face(img)  # the one face pipeline, as prediction uses it (fer.faces.pipeline)
    except BadImageError as e:
        return None, None, f"{path}: {e}", black
    if face is None:
        return (
            None,
            False,
            f"{path}: no face found (faces.on_no_face=skip; use center to keep it as a centre crop)",
            black,
        )
    return face.crop, face.found, None, black


def crop_all(samples: list[Sample], faces: FaceOptions, size: int, color: str, workers: int) -> Iterator[tuple]:
    """`_crop_one` results in sample order: a process pool (one detector per worker) or a plain loop."""
    pipeline = FacePipeline(faces, size, color)
    jobs = [(s.path, _gray_source(s), pipeline) for s in samples]
    if workers <= 1 or len(jobs) < POOL_MIN_IMAGES:
        get_detector(faces)
        yield from map(_crop_one, jobs)
        return
    # The workers only decode images and run OpenCV; they never touch the parent's torch state. They die with
    # this process (a killed build leaves nothing running), and never hold the entry's lock.
    with worker_pool(workers, _init_worker, (faces,)) as pool:
        yield from pool.map(_crop_one, jobs, chunksize=max(1, min(16, len(jobs) // (workers * 4))))


# ------------------------------------------------------------------------------------------ entries


def prepare(
    samples: list[Sample],
    faces: FaceOptions,
    size: int,
    color: str,
    cache_dir: str | Path,
    name: str = "data",
    workers: int | None = None,
) -> PreparedSet:
    """Crop every sample's face once (cached). Bad images are skipped and listed in `report["skipped"]`;
    images without a detected face are counted and listed (`no_face`, `no_face_files`)."""
    if not samples:
        raise ValueError(f"{name}: no samples to prepare")
    if color not in ("gray", "rgb"):
        raise ValueError(f"color={color!r}; expected gray or rgb")
    check_image_size(size, "size")  # 0 would reach OpenCV's resize as an empty image
    get_detector(faces)  # a missing detector model fails here, before any work, with where to get it
    workers = workers if workers is not None else min(2, os.cpu_count() or 1)
    key = cache_key(samples, faces, size, color)
    cache_dir = Path(cache_dir)
    try:
        make_folder(cache_dir, "paths.cache_dir")
        writable = os.access(cache_dir, os.W_OK)
    except FolderError:
        writable = False
    if not writable:  # e.g. a read-only file system: say what moves the cache
        raise FolderError(
            f"the face cache folder {cache_dir} cannot be made or written (a read-only file system?); point "
            "paths.cache_dir (or the FER_CACHE_DIR variable; fer.data prepare: --cache-dir) to a writable folder"
        )
    entry = cache_dir / f"{name}-{key}"
    built = False
    with file_lock(cache_dir / f".{name}-{key}.lock"):
        if not (entry / "manifest.json").is_file():
            _build(entry, samples, faces, size, color, workers, name)
            built = True
    prepared = _load(entry)
    prepared.report["from_cache"] = not built
    return prepared


def _build(entry: Path, samples, faces: FaceOptions, size: int, color: str, workers: int, name: str) -> None:
    start = time.perf_counter()
    for stale in leftovers(entry):  # a killed build's leftovers (we hold the lock)
        shutil.rmtree(stale, ignore_errors=True)
    if entry.exists():  # an entry without manifest cannot come from us; never trust it
        shutil.rmtree(entry)
    with atomic_path(entry, what=f"the face cache ({name})") as tmp:
        tmp.mkdir(parents=True)
        channels = 1 if color == "gray" else 3
        arr = _new_array(tmp / "images.npy", (len(samples), size, size, channels), name)
        kept, skipped, no_face, black = [], [], [], []
        for s, (face, found, reason, is_black) in zip(
            samples, crop_all(samples, faces, size, color, workers), strict=False
        ):
            if is_black:
                black.append(s.path)
            if found is False and faces.detector != "none":
                no_face.append(s.path)
            if face is None:
                skipped.append({"file": s.path, "reason": reason})
                continue
            arr[len(kept)] = face
            kept.append(s)
        if not kept:
            raise BadImageError(
                f"{name}: none of the {len(samples)} images could be prepared; first problem: "
                f"{skipped[0]['reason'] if skipped else 'unknown'}"
            )
        arr.flush()
        if len(kept) < len(samples):  # drop the unused tail rows
            small = _new_array(tmp / "images.part.npy", (len(kept), size, size, channels), name)
            small[:] = arr[: len(kept)]
            small.flush()
            del small
            os.replace(tmp / "images.part.npy", tmp / "images.npy")
        del arr
        report = {
            "name": name,
            "images": len(samples),
            "prepared": len(kept),
            "skipped": skipped,
            "no_face": len(no_face),
            "no_face_files": no_face,
            "black": black,
            "reader_skipped": list(getattr(samples, "skipped", [])),
            "seconds": round(time.perf_counter() - start, 3),
            "workers": workers,
            "faces": faces.key(),
            "size": size,
            "color": color,
            "built_at": time.time(),
            "built_by": f"{socket.gethostname()}:{os.getpid()}",
        }
        manifest = {"version": CACHE_VERSION, "samples": [s.to_dict() for s in kept], "report": report}
        try:
            (tmp / "manifest.json").write_text(json.dumps(manifest, default=str))
        except OSError as e:
            if is_disk_full(e):
                raise disk_full_error(entry.parent, None, f"the face cache's manifest ({name})") from None
            raise
    for what, files in (("were skipped", skipped), ("had no detected face", no_face), ("are all black", black)):
        if files:
            log.warning("%s: %d image(s) %s; the list is in %s", name, len(files), what, entry / "manifest.json")


def _new_array(path: Path, shape: tuple, name: str) -> np.ndarray:
    """A new uint8 .npy memory map, its space checked and reserved first: a memory-mapped write on a full
    disk is a SIGBUS, which kills the process without a message."""
    what = f"the face cache of {name} ({' x '.join(map(str, shape))} uint8)"
    require_free_space(path.parent, int(np.prod(shape)), what)
    arr = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=shape)
    try:
        reserve(path, what)
    except BaseException:
        del arr
        raise
    return arr


def _load(entry: Path) -> PreparedSet:
    manifest = json.loads((entry / "manifest.json").read_text())
    samples = [Sample(**d) for d in manifest["samples"]]
    images = np.load(entry / "images.npy", mmap_mode="r")
    return PreparedSet(samples, images, manifest["report"])
