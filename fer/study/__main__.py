"""The human rating study.

    python -m fer.study create <out dir> --generated <GAN samples folder, its manifest.json, or a folder of images
                               per class> --real <catalogue name or folder> [--per-class N] [--seed S] [--checks K]
                               [--set KEY=VALUE ...] [--allow-seen-subjects]
    python -m fer.study invite <study> --rater NAME [--items N] [--url http://127.0.0.1:8000] [--new-link]
    python -m fer.study serve <study> [--host 127.0.0.1] [--port 8000]
    python -m fer.study report <study> [--out DIR] [--checkpoint CKPT] [--keep-flagged] [--wandb]

A mistake you can fix (a folder that is not a study, a generated folder without images, an unknown catalogue
name, too few faces) prints one `error: ...` line and exits with status 2. docs/study.md has the whole story.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import sys

from fer.errors import cli_main


def parser() -> argparse.ArgumentParser:
    """The command line: create, invite, serve, report."""
    p = argparse.ArgumentParser(
        prog="python -m fer.study", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("create", help="pick, crop and blind the faces; write the study folder")
    c.add_argument("out_dir")
    c.add_argument("--generated", required=True, help="GAN samples folder (or its manifest.json), or images per class")
    c.add_argument("--real", required=True, help="catalogue name (kdef, jaffe, ...) or a folder of images per class")
    c.add_argument("--per-class", type=int, default=10, help="faces per class and kind (default 10)")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--checks", type=int, default=0, help="attention checks: faces shown twice to each rater")
    c.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="Hydra override of the framework's config for --real, e.g. --set sources=synthetic, "
        "--set paths.kdef=/data/KDEF_and_AKDEF, --set faces=none",
    )
    c.add_argument(
        "--allow-seen-subjects", action="store_true", help="also show real faces of subjects that trained the GAN"
    )
    i = sub.add_parser("invite", help="add a rater and print their personal link")
    i.add_argument("study")
    i.add_argument("--rater", required=True, help="a name for the rater (kept in the study, not shown to others)")
    i.add_argument("--items", type=int, default=None, help="faces for this rater, drawn evenly (default: all)")
    i.add_argument("--url", default="http://127.0.0.1:8000", help="the address raters reach the server at")
    i.add_argument("--new-link", action="store_true", help="replace a rater's lost link (their answers are kept)")
    s = sub.add_parser("serve", help="run the web app")
    s.add_argument("study")
    s.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    s.add_argument("--port", type=int, default=8000)
    r = sub.add_parser("report", help="figures with intervals, agreement, per-image rows (Markdown, CSV, PNG)")
    r.add_argument("study")
    r.add_argument("--out", default=None, help="output folder (default <study>/report)")
    r.add_argument("--checkpoint", default=None, help="a train.py checkpoint: how often it agrees with the raters")
    r.add_argument("--run-config", default=None, help="the checkpoint's run config, for checkpoints that lack it")
    r.add_argument("--keep-flagged", action="store_true", help="count raters who failed the attention checks")
    r.add_argument("--wandb", action="store_true", help="also log the tables and the figure to a W&B run")
    r.add_argument("--wandb-project", default="ferlab")
    return p


def all_interfaces(host: str) -> bool:
    """Whether binding `host` listens on every interface (0.0.0.0, ::, or an empty host)."""
    try:
        return ipaddress.ip_address(host).is_unspecified
    except ValueError:
        return host in ("", "*")


def serve(study_dir: str, host: str, port: int) -> int:
    """Run the web app with uvicorn until stopped; warns when bound to all interfaces."""
    import uvicorn

    from fer.study.app import create_app

    app = create_app(study_dir)
    study = app.state.study
    missing = [it["file"] for it in study.items() if not (study.folder / it["file"]).is_file()]
    if missing:
        from fer.study.db import StudyError

        raise StudyError(f"{study.folder}: {len(missing)} image(s) of the study are missing, e.g. {missing[0]}")
    if all_interfaces(host):
        print(
            f"warning: bound to all interfaces ({host}): anyone who can reach this machine and holds a link can "
            "rate; prefer --host 127.0.0.1 behind an HTTPS reverse proxy",
            file=sys.stderr,
            flush=True,
        )
    raters = len(study.raters())
    print(f"serving {study.folder} at http://{host}:{port}/ ({raters} rater(s) invited); Ctrl+C stops", flush=True)
    # No access log: a rater's first request carries their link's token in its path.
    uvicorn.run(app, host=host, port=port, access_log=False, log_level="warning", server_header=False)
    return 0


def main(argv: list[str] | None = None) -> int:
    """One subcommand; user errors are raised as `StudyError` for `cli_main` to print."""
    args = parser().parse_args(argv)
    if args.command == "create":
        from fer.study.create import create_study

        summary = create_study(
            args.out_dir,
            args.generated,
            args.real,
            per_class=args.per_class,
            seed=args.seed,
            checks=args.checks,
            overrides=args.set,
            allow_seen_subjects=args.allow_seen_subjects,
        )
        print(json.dumps(summary))
        return 0
    if args.command == "invite":
        from fer.study.create import invite

        token = invite(args.study, args.rater, args.items, args.new_link)
        print(f"{args.url.rstrip('/')}/r/{token}")
        return 0
    if args.command == "serve":
        return serve(args.study, args.host, args.port)
    from fer.study.analysis import report

    result = report(
        args.study,
        out_dir=args.out,
        checkpoint=args.checkpoint,
        run_config=args.run_config,
        keep_flagged=args.keep_flagged,
        wandb_project=args.wandb_project if args.wandb else None,
    )
    for key, path in result["files"].items():
        print(f"{key}: {path}")
    if result.get("wandb_dir"):
        print(f"wandb: {result['wandb_dir']}")
    return 0


if __name__ == "__main__":
    cli_main(main)
