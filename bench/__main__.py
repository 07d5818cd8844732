"""Run benchmarks: `python -m bench [name ...] [--quick]`; prints one JSON line each and writes bench/results/."""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent


def main(argv=None) -> int:
    names = sorted(m.name for m in pkgutil.iter_modules([str(HERE)]) if m.name.startswith("bench_"))
    p = argparse.ArgumentParser(prog="python -m bench")
    p.add_argument("names", nargs="*", help=f"subset of {[n[6:] for n in names]}")
    p.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    args = p.parse_args(argv)
    chosen = [n for n in names if not args.names or n[6:] in args.names or n in args.names]
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    for name in chosen:
        start = time.time()
        result = importlib.import_module(f"bench.{name}").run(quick=args.quick)
        result = {"bench": name[6:], "seconds": round(time.time() - start, 1), **result}
        print(json.dumps(result), flush=True)
        (out / f"{name[6:]}.json").write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
