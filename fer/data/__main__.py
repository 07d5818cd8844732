"""Dataset command line.

    python -m fer.data summary <kdef|ckplus|jaffe|folder> <root>
    python -m fer.data prepare <kdef|ckplus|jaffe|folder> <root> [--detector haar] [--size 224] ...
    python -m fer.data render-synthetic <kdef|ckplus|jaffe> <out dir> [--subjects N] [--seed S]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections import Counter

from fer.classes import CLASSES
from fer.data.cache import prepare
from fer.data.faces import DETECTORS, NO_FACE_POLICIES, FaceOptions
from fer.data.readers import READERS, read_dataset
from fer.data.samples import DatasetLayoutError


def summarize(samples) -> dict:
    names = list(CLASSES) + ["contempt"]
    per_class = Counter(names[s.label] for s in samples)
    return {
        "images": len(samples),
        "subjects": len({s.subject for s in samples}),
        "per_class": {c: per_class.get(c, 0) for c in names if c in CLASSES or per_class.get(c)},
        "origins": dict(Counter(s.origin for s in samples)),
    }


def _reader_options(args) -> dict:
    opts = {}
    for kv in args.option or []:
        k, _, v = kv.partition("=")
        opts[k] = json.loads(v) if v[:1] in "[{0123456789tfn\"-" and v not in ("",) else v
    return opts


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s")
    parser = argparse.ArgumentParser(prog="python -m fer.data", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("summary", "prepare"):
        p = sub.add_parser(name)
        p.add_argument("dataset", choices=sorted(READERS))
        p.add_argument("root")
        p.add_argument("-o", "--option", action="append", metavar="KEY=VALUE",
                       help='reader option, e.g. -o angles=["S","HL"] or -o peak_frames=3')
        if name == "prepare":
            p.add_argument("--detector", choices=DETECTORS, default="haar")
            p.add_argument("--margin", type=float, default=0.2)
            p.add_argument("--on-no-face", choices=NO_FACE_POLICIES, default="center")
            p.add_argument("--crop", type=float, nargs=4, default=None, metavar=("X0", "Y0", "X1", "Y1"))
            p.add_argument("--size", type=int, default=224)
            p.add_argument("--color", choices=("gray", "rgb"), default="gray")
            p.add_argument("--cache-dir", default=".cache/faces")
            p.add_argument("--workers", type=int, default=None)
    r = sub.add_parser("render-synthetic")
    r.add_argument("style", choices=("kdef", "ckplus", "jaffe"))
    r.add_argument("out_dir")
    r.add_argument("--subjects", type=int, default=None)
    r.add_argument("--seed", type=int, default=None)
    args = parser.parse_args(argv)

    try:
        if args.command == "render-synthetic":
            from fer.data.synthetic import render

            kwargs = {k: v for k, v in (("subjects", args.subjects), ("seed", args.seed)) if v is not None}
            print(json.dumps(render(args.style, args.out_dir, **kwargs)))
            return 0
        samples = read_dataset(args.dataset, args.root, **_reader_options(args))
        if args.command == "summary":
            print(json.dumps(summarize(samples)))
            return 0
        faces = FaceOptions(detector=args.detector, margin=args.margin, on_no_face=args.on_no_face,
                            crop=tuple(args.crop) if args.crop else None)
        prepared = prepare(samples, faces, args.size, args.color, args.cache_dir, name=args.dataset, workers=args.workers)
        print(json.dumps(prepared.report))
        return 0
    except (DatasetLayoutError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
