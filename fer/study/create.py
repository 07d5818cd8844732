"""Making a study (`python -m fer.study create`) and inviting raters (`python -m fer.study invite`).

`create` picks `per_class` generated and `per_class` real faces of every class the generated set holds:
- generated: a GAN samples folder (`<dir>/<class>/*.png` with the `manifest.json` that `generate.py task=gan`
  writes; only the files the manifest lists), that manifest itself, or any folder of images per class;
- real: a catalogue entry by name (conf/sources/*.yaml; `--set KEY=VALUE` are Hydra overrides of the composed
  config, e.g. `--set sources=synthetic` or `--set paths.kdef=/data/KDEF`), or a folder of images per class.
  Where the generated set's manifest names the subjects that trained the GAN, real faces come only from other
  subjects, spread over as many subjects as there are.
Every face, real or generated, goes through the framework's face pipeline (fer/faces/pipeline.py) at the generated
images' size and colour (real faces: the catalogue entry's face options; generated ones: whole images), and is
written as PNG under a random blind id, so neither size, framing, format nor file name tells them apart. Nothing is
written until every face is cropped; the study folder appears whole (it is built beside it and renamed).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

from fer.classes import CLASSES
from fer.data.catalogue import Source, entry, merge_faces
from fer.data.gan_manifest import MANIFEST as GAN_MANIFEST
from fer.data.gan_manifest import read_gan_seen_subjects, read_manifest
from fer.faces.detection import FaceOptions
from fer.faces.images import BadImageError, decode
from fer.faces.pipeline import FacePipeline
from fer.runs.resolvers import register_resolvers
from fer.study.db import DB_FILE, IMAGES, KINDS, MANIFEST, Study, StudyError, init_db, now
from fer.utils.io import atomic_path

CONF = Path(__file__).resolve().parents[2] / "conf"


# ------------------------------------------------------------------------------------------ inputs
def compose(overrides: list[str]):
    """The framework's config (conf/generate.yaml: paths, sources, faces) with Hydra overrides."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    if not CONF.is_dir():
        raise StudyError(f"no config folder at {CONF}: --real <catalogue name> needs the framework's conf/ tree")
    register_resolvers()  # ${fer_cwd:} and the others, as generate.py registers them
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(version_base="1.3", config_dir=str(CONF)):
            return hydra_compose(config_name="generate.yaml", overrides=list(overrides))
    except (HydraException, OmegaConfBaseException) as e:
        cause: BaseException | None = e
        while cause is not None and not str(cause).strip():  # Hydra wraps the message-bearing error
            cause = cause.__cause__
        why = str(cause).strip().splitlines()[0] if cause is not None else type(e).__name__
        raise StudyError(f"the framework's config with --set {' '.join(overrides) or '(none)'}: {why}") from None


def generated_source(path: str | Path) -> tuple[Source, dict | None]:
    """The generated images as a folder source, and the GAN manifest's classes (None for a plain folder)."""
    path = Path(path).expanduser()
    if path.is_file() and path.suffix == ".json":
        path = path.parent
    if not path.is_dir():
        raise StudyError(
            f"--generated {path}: no such folder; give a GAN samples folder, its manifest.json or a "
            "folder of images per class"
        )
    classes = None
    if (path / GAN_MANIFEST).is_file():
        try:
            classes = read_manifest(path)["classes"]
            if not isinstance(classes, dict) or not all(isinstance(e.get("files"), list) for e in classes.values()):
                raise ValueError("classes.<class>.files must be lists")
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise StudyError(
                f"--generated {path / GAN_MANIFEST}: not a GAN samples manifest ({e}); regenerate it with "
                "`python generate.py task=gan` or remove it to use the folder as plain images per class"
            ) from None
    how = "give --generated a GAN samples folder (python generate.py task=gan) or a folder of images per class"
    source = Source.from_config(
        "generated", {"reader": "folder", "root": str(path), "options": {"origin": "gan"}, "produced_by": how}
    )
    return source, classes


def read_generated(path: str | Path) -> tuple[list, set[str] | None, dict]:
    """(samples, subjects that trained the GAN or None, {size, color} of the generated images)."""
    source, classes = generated_source(path)
    samples = source.read()
    settings: dict = {}
    if classes is not None:
        listed = {(source.root / f).resolve() for e in classes.values() for f in e["files"]}
        samples = [s for s in samples if Path(s.path).resolve() in listed]
        if not samples:
            raise StudyError(f"--generated {source.root}: none of the files its manifest lists is there; regenerate")
        sizes = {int(e["image_size"]) for e in classes.values() if e.get("image_size")}
        colors = {str(e["color"]) for e in classes.values() if e.get("color")}
        if len(sizes) == 1:
            settings["size"] = sizes.pop()
        if len(colors) == 1:
            settings["color"] = colors.pop()
    try:
        first = decode(samples[0].path)
    except BadImageError as e:
        raise StudyError(f"--generated: {e}") from None
    settings.setdefault("size", int(first.shape[0]))
    settings.setdefault("color", "gray" if first.ndim == 2 else "rgb")
    seen = None
    if classes is not None:
        try:
            seen = read_gan_seen_subjects(source.root)
        except ValueError as e:
            raise StudyError(f"--generated: {e}") from None
    return samples, seen, settings


def real_source(real: str, cfg) -> Source:
    """A catalogue entry by name, or a folder of images per class."""
    path = Path(real).expanduser()
    if path.is_dir():
        how = "give --real a catalogue name or a folder of images per class"
        return Source.from_config(
            "real", {"reader": "folder", "root": str(path), "options": {"origin": "original"}, "produced_by": how}
        )
    if "/" in real or real.startswith("."):
        raise StudyError(
            f"--real {real}: no such folder; give a catalogue name ({', '.join(sorted(cfg.sources))}) "
            "or a folder of images per class"
        )
    return entry(cfg.sources, real, "--real")


# ------------------------------------------------------------------------------------------ picking
def spread(samples: list, rng: np.random.Generator) -> list:
    """Samples in an order that takes one image per subject in turn (subjects and images shuffled): the first k
    cover as many subjects as possible."""
    by_subject: dict[str, list] = defaultdict(list)
    for s in samples:
        by_subject[s.subject].append(s)
    subjects = sorted(by_subject)
    rng.shuffle(subjects)
    queues = [[by_subject[k][i] for i in rng.permutation(len(by_subject[k]))] for k in subjects]
    out = []
    while any(queues):
        for q in queues:
            if q:
                out.append(q.pop(0))
    return out


def crop_faces(candidates: list, pipeline: FacePipeline, n: int) -> tuple[list[tuple], list[str]]:
    """The first n candidates that crop to a face: [(sample, crop)], and the files skipped with the reason."""
    chosen, skipped = [], []
    for s in candidates:
        if len(chosen) == n:
            break
        try:
            face = pipeline.training_face(pipeline.load(s.path, gray_source=bool(s.meta.get("gray"))))
        except BadImageError as e:
            skipped.append(str(e))
            continue
        if face is None:
            skipped.append(f"{s.path}: no face found")
            continue
        chosen.append((s, face.crop))
    return chosen, skipped


def create_study(
    out_dir: str | Path,
    generated: str | Path,
    real: str,
    per_class: int = 10,
    seed: int = 0,
    checks: int = 0,
    overrides: list[str] | None = None,
    allow_seen_subjects: bool = False,
) -> dict:
    """Make a study folder; returns a summary (items per kind and class, where the faces came from)."""
    out = Path(out_dir).expanduser()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise StudyError(f"{out} already exists and is not empty; choose a new folder for the study")
    if per_class < 1:
        raise StudyError(f"--per-class {per_class}: needs at least 1 face per class and kind")
    if checks < 0:
        raise StudyError(f"--checks {checks}: the number of repeated items must be 0 or more")
    cfg = compose(overrides or [])
    gen_samples, seen, settings = read_generated(generated)
    size, color = settings["size"], settings["color"]
    source = real_source(real, cfg)
    real_samples = source.read()
    excluded = 0
    if seen and not allow_seen_subjects:
        kept = [s for s in real_samples if s.subject not in seen]
        excluded = len(real_samples) - len(kept)
        real_samples = kept

    rng = np.random.default_rng(seed)
    real_faces = FaceOptions.from_config(merge_faces(cfg.faces, source.faces))
    pipelines = {
        "generated": FacePipeline(FaceOptions(detector="none"), size, color),
        "real": FacePipeline(real_faces, size, color),
    }
    classes = [c for i, c in enumerate(CLASSES) if any(s.label == i for s in gen_samples)]
    picked: dict[str, list[tuple]] = {"generated": [], "real": []}
    problems, skipped = [], []
    for label, name in enumerate(CLASSES):
        if name not in classes:
            continue
        gen = [s for s in gen_samples if s.label == label]
        pools = {
            "generated": [gen[i] for i in rng.permutation(len(gen))],
            "real": spread([s for s in real_samples if s.label == label], rng),
        }
        for kind in KINDS:
            chosen, bad = crop_faces(pools[kind], pipelines[kind], per_class)
            skipped += bad
            picked[kind] += [(name, s, crop) for s, crop in chosen]
            if len(chosen) < per_class:
                why = f" ({excluded} real images left out: their subjects trained the GAN)" if kind == "real" else ""
                problems.append(f"{kind} {name}: {len(chosen)} usable of {per_class} needed{why}")
    if problems:
        hint = "lower --per-class"
        if excluded:
            hint += ", use real faces of other subjects, or pass --allow-seen-subjects"
        raise StudyError(f"not enough faces: {'; '.join(problems)}; {hint}")

    items, crops = [], {}
    for kind in KINDS:
        for name, s, crop in picked[kind]:
            blind = secrets.token_hex(8)
            crops[blind] = crop
            items.append(
                {
                    "id": blind,
                    "file": f"{IMAGES}/{blind}.png",
                    "kind": kind,
                    "label": name,
                    "subject": s.subject,
                    "source": "generated" if kind == "generated" else source.name,
                    "origin_file": str(s.path),
                }
            )
    items = [items[i] for i in rng.permutation(len(items))]  # table order says nothing of the kind
    meta = {
        "created": now(),
        "classes": classes,
        "per_class": per_class,
        "seed": seed,
        "checks": checks,
        "image_size": size,
        "color": color,
        "generated": str(Path(generated).expanduser().resolve()),
        "real": source.name if source.name != "real" else str(source.root.resolve()),
        "real_faces": real_faces.key(),
        "seen_subjects_excluded": bool(seen) and not allow_seen_subjects,
    }
    write_study(out, meta, items, crops)
    return {
        "study": str(out),
        "items": len(items),
        "classes": classes,
        "per_class": per_class,
        "image_size": size,
        "color": color,
        "real_images_excluded_as_seen_by_the_gan": excluded,
        "skipped": skipped,
    }


def write_study(out: Path, meta: dict, items: list[dict], crops: dict[str, np.ndarray]) -> None:
    """Write the images, the database and the manifest into a folder beside `out`, then rename it into place."""
    with atomic_path(out, what="the study") as tmp:  # replaces an empty `out` folder (checked by the caller)
        (tmp / IMAGES).mkdir(parents=True)
        for item in items:
            crop = crops[item["id"]]
            img = crop[:, :, 0] if crop.shape[-1] == 1 else cv2.cvtColor(crop, cv2.COLOR_RGB2BGR)
            if not cv2.imwrite(str(tmp / item["file"]), img):
                raise StudyError(f"could not write {tmp / item['file']}; check free space and permissions")
        init_db(tmp / DB_FILE, meta, items)
        manifest = {"study": meta, "items": items, "files_relative_to": "the folder of this manifest"}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1))


# ------------------------------------------------------------------------------------------ raters
def rater_order(items: list[dict], n_items: int | None, checks: int, rng: np.random.Generator) -> list[tuple]:
    """A rater's own random order: (item id, repeat_of) per position. `n_items` (all when None) are drawn
    evenly over kinds and classes; `checks` of the first half come back later as attention checks (at least
    three faces after their first showing)."""
    strata: dict[tuple, list[str]] = defaultdict(list)
    for it in items:
        strata[(it["kind"], it["label"])].append(it["id"])
    queues = [[ids[i] for i in rng.permutation(len(ids))] for _, ids in sorted(strata.items())]
    queues = [queues[i] for i in rng.permutation(len(queues))]
    n = len(items) if n_items is None else n_items
    chosen: list[str] = []
    while len(chosen) < n:
        for q in queues:
            if q and len(chosen) < n:
                chosen.append(q.pop(0))
    base = [chosen[i] for i in rng.permutation(len(chosen))]
    firsts = rng.choice(max(1, n // 2), size=checks, replace=False) if checks else []
    # The repeat of base[f] goes in before base[t] (t = n: at the end), t >= f + 4: three faces at least between.
    before: dict[int, list[int]] = defaultdict(list)
    for f in sorted(int(f) for f in firsts):
        before[int(rng.integers(f + 4, n + 1))].append(f)
    order: list[tuple] = []
    where: dict[int, int] = {}
    for t in range(n + 1):
        order += [(base[f], where[f]) for f in before[t]]
        if t < n:
            where[t] = len(order)
            order.append((base[t], None))
    return order


def invite(study_dir: str | Path, name: str, n_items: int | None = None, new_link: bool = False) -> str:
    """Add a rater (or replace their link with `new_link`); returns the link's token."""
    study = Study.open(study_dir)
    try:
        name = name.strip()
        if not name or len(name) > 100 or not name.isprintable():
            raise StudyError(f"--rater {name!r}: give a printable name of 1 to 100 characters")
        if new_link:
            return study.new_link(name)
        items = study.items()
        if n_items is not None and not 1 <= n_items <= len(items):
            raise StudyError(f"--items {n_items}: the study has {len(items)} faces; give 1 to {len(items)}")
        checks = int(study.meta.get("checks", 0))
        n = len(items) if n_items is None else n_items
        if checks and n < 8:
            raise StudyError(f"{checks} attention check(s) need at least 8 faces per rater (--items {n})")
        checks = min(checks, n // 2)
        seed = int(study.meta.get("seed", 0))
        salt = int(hashlib.sha256(name.encode()).hexdigest()[:15], 16)
        rng = np.random.default_rng([seed, salt])
        return study.add_rater(name, rater_order(items, n_items, checks, rng))
    finally:
        study.close()
