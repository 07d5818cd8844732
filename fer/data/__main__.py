"""Dataset command line.

    python -m fer.data summary <kdef|ckplus|jaffe|folder|fer2013|rafdb|affectnet> <root> [-o KEY=VALUE ...]
    python -m fer.data prepare <kdef|ckplus|jaffe|folder|fer2013|rafdb|affectnet> <root> [--detector haar] ...
    python -m fer.data render-synthetic <kdef|ckplus|jaffe> <out dir> [--subjects N] [--seed S]

`summary` prints one JSON object (images, subjects, per_class, splits where the dataset has an official
split, skipped files with reasons, ...) after the reader's default selection rules; `prepare` builds the face
cache and prints its report (prepared, skipped with reasons, no-face count and files, all-black files,
seconds). Reader options are checked: an unknown one is refused with the accepted names. A wrong root exits
with status 2 and a message saying what was expected.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections import Counter
from pathlib import Path

from fer.classes import CLASSES
from fer.data.catalogue import read_dataset
from fer.data.readers import READERS
from fer.errors import ConfigError
from fer.faces.detection import DETECTORS, NO_FACE_POLICIES, FaceOptions
from fer.faces.images import BadImageError, decode


def summarize(samples) -> dict:
    """The `summary` JSON of a reader's samples: images, subjects, per_class, origins, skipped (and usage and
    splits where the dataset has them)."""
    names = list(CLASSES) + ["contempt"]
    per_class = Counter(names[s.label] for s in samples)
    out = {
        "images": len(samples),
        "subjects": len({s.subject for s in samples}),
        "per_class": {c: per_class.get(c, 0) for c in names if c in CLASSES or per_class.get(c)},
        "origins": dict(Counter(s.origin for s in samples)),
        "skipped": list(getattr(samples, "skipped", [])),
    }
    usage = Counter(s.meta.get("usage") for s in samples if s.meta.get("usage"))
    if usage:
        out["usage"] = dict(usage)
    splits = Counter(s.meta.get("split") for s in samples if s.meta.get("split"))
    if splits:  # the dataset's official split (protocol=official)
        out["splits"] = dict(splits)
    return out


def check_images(samples) -> dict:
    """Decode every image: unreadable files (with the reason) and all-black placeholders."""
    unreadable, black = [], []
    for s in samples:
        try:
            if int(decode(s.path).max()) == 0:
                black.append(s.path)
        except BadImageError as e:
            unreadable.append({"file": s.path, "reason": str(e)})
    return {"unreadable": unreadable, "black": black}


def _reader_options(args) -> dict:
    opts = {}
    for kv in args.option or []:
        k, sep, v = kv.partition("=")
        if not sep:
            raise ValueError(f"reader option {kv!r}: expected KEY=VALUE")
        try:
            opts[k] = json.loads(v)
        except json.JSONDecodeError:
            opts[k] = v  # a plain string
    return opts


CATALOGUE = Path(__file__).resolve().parents[2] / "conf" / "sources" / "real.yaml"


def catalogue_faces(dataset: str) -> dict:
    """The face options the catalogue (conf/sources/real.yaml) gives the dataset of this name, as training uses
    them; {} when it gives none."""
    from omegaconf import OmegaConf

    if not CATALOGUE.is_file():
        return {}
    faces = OmegaConf.select(OmegaConf.load(CATALOGUE), f"{dataset}.faces", default=None)
    return OmegaConf.to_container(faces, resolve=False) if faces is not None else {}


def main(argv: list[str] | None = None) -> int:
    """`python -m fer.data`: run one subcommand on `argv` (default: the command line); returns the exit status."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    parser = argparse.ArgumentParser(
        prog="python -m fer.data", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("summary", "prepare"):
        p = sub.add_parser(name)
        p.add_argument("dataset", choices=sorted(READERS))
        p.add_argument("root")
        p.add_argument(
            "-o",
            "--option",
            action="append",
            metavar="KEY=VALUE",
            help='reader option (JSON value), e.g. -o angles=["S","HL"], -o peak_frames=3, '
            '-o usage=Training, -o label_pattern="(?P<label>AN|HA)"',
        )
        p.add_argument("--cache-dir", default=".cache/faces", help="face cache (FER2013 CSVs decode under it too)")
        if name == "summary":
            p.add_argument(
                "--check-images", action="store_true", help="decode every image: unreadable and all-black files"
            )
        if name == "prepare":
            p.add_argument(
                "--detector", choices=DETECTORS, default=None, help="default: the catalogue entry's (training's)"
            )
            p.add_argument("--model", help="opencv_dnn: res10_300x300_ssd_iter_140000.caffemodel; yunet: the .onnx")
            p.add_argument("--config", help="opencv_dnn: deploy.prototxt")
            p.add_argument("--score-threshold", type=float, default=0.5)
            p.add_argument("--margin", type=float, default=0.2)
            p.add_argument("--no-square", action="store_true", help="keep the face box's aspect (squashed on resize)")
            p.add_argument("--on-no-face", choices=NO_FACE_POLICIES, default=None, help="default: the catalogue's")
            p.add_argument(
                "--crop", type=float, nargs=4, default=None, metavar=("X0", "Y0", "X1", "Y1"), help="a fixed box"
            )
            p.add_argument("--size", type=int, default=224)
            p.add_argument("--color", choices=("gray", "rgb"), default="gray")
            p.add_argument("--workers", type=int, default=None, help="processes (default: up to 2)")
            p.add_argument(
                "--name",
                default=None,
                help="cache entry name (default: the dataset); use the source's "
                "name (e.g. pfa) with the training run's --size/--color so training reuses this entry",
            )
    r = sub.add_parser("render-synthetic")
    r.add_argument("style", choices=("kdef", "ckplus", "jaffe"))
    r.add_argument("out_dir")
    r.add_argument("--subjects", type=int, default=None)
    r.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)

    try:
        if args.command == "render-synthetic":
            from fer.synthetic import render

            kwargs = {k: v for k, v in (("subjects", args.subjects), ("seed", args.seed)) if v is not None}
            print(json.dumps(render(args.style, args.out_dir, **kwargs), default=str))
            return 0
        options = _reader_options(args)
        if args.dataset == "fer2013":
            options.setdefault("decode_dir", str(Path(args.cache_dir) / "fer2013_png"))
        samples = read_dataset(args.dataset, args.root, **options)
        if args.command == "summary":
            out = summarize(samples)
            if args.check_images:
                out.update(check_images(samples))
            print(json.dumps(out))
            return 0
        from fer.data.cache import prepare  # keeps `summary` light

        if args.workers is not None and args.workers < 1:
            raise ConfigError(f"--workers={args.workers}: expected a positive number of processes (or leave it out)")
        # The catalogue entry's face options by default (FER2013: none, its images are face crops), so the cache
        # filled here is the one training reads; the options given on the command line win.
        own = catalogue_faces(args.dataset)
        faces = FaceOptions(
            detector=args.detector or own.get("detector", "haar"),
            margin=args.margin,
            square=not args.no_square,
            on_no_face=args.on_no_face or own.get("on_no_face", "center"),
            crop=tuple(args.crop or own.get("crop") or ()) or None,
            model=args.model,
            config=args.config,
            score_threshold=args.score_threshold,
        )
        prepared = prepare(
            samples, faces, args.size, args.color, args.cache_dir, name=args.name or args.dataset, workers=args.workers
        )
        print(json.dumps(prepared.report, default=str))
        return 0
    except (OSError, ValueError) as e:  # DatasetLayoutError, BadImageError, FaceModelError, bad options
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    from fer.errors import cli_main

    cli_main(main)
