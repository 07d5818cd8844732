"""Command-line overrides whose key does not exist: the nearest existing key, never an append.

Hydra answers `trainer.max_epoch=2` with "To append to your config use +trainer.max_epoch=2", which then fails
inside the Trainer (or, worse, is silently ignored by a component that takes `**kwargs`). The entry points
compose the configuration once before Hydra does; an unknown key becomes one line, `error: trainer.max_epoch=2:
no such key; did you mean trainer.max_epochs?`, and exit status 2. Everything else is left to Hydra.
"""

from __future__ import annotations

import difflib
import re
import sys
from pathlib import Path

from omegaconf import DictConfig

from fer.errors import USER_ERROR_EXIT, ConfigError, show_tracebacks, user_error_message
from fer.runs.resolvers import register_resolvers

_UNKNOWN = re.compile(r"Could not override '([^']+)'")
MAX_REPORTED = 5


def unknown_keys(config_dir: str | Path, config_name: str, args: list[str]) -> list[str]:
    """One line per override of `args` (command-line arguments) whose key is not in the composed configuration,
    each with the nearest existing key. Swept values count as their first choice. Anything else that does not
    compose is left to Hydra, which reports it."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import ConfigCompositionException

    if any(a.startswith("-") and a not in ("-m", "--multirun") for a in args):
        return []  # --cfg, --config-name, --help, ...: Hydra's own handling
    register_resolvers()  # the configuration's own (conf/hydra/default.yaml uses them)
    bad, cfg = [], None
    try:
        overrides = _first_choices([a for a in args if not a.startswith("-")])
        GlobalHydra.instance().clear()
        with initialize_config_dir(version_base="1.3", config_dir=str(Path(config_dir).absolute())):
            for _ in range(MAX_REPORTED):
                try:
                    cfg = compose(config_name, list(overrides.values()), return_hydra_config=True)
                    break
                except ConfigCompositionException as e:
                    key = _UNKNOWN.search(str(e))
                    line = next((k for k, v in overrides.items() if key and v.split("=", 1)[0] == key[1]), None)
                    if line is None:
                        break  # another composition error: Hydra reports it
                    bad.append(line)
                    del overrides[line]
    except Exception:  # never in the way of a command line Hydra would run, or report better
        return []
    finally:
        GlobalHydra.instance().clear()
    keys = list(_keys(cfg)) if cfg is not None else []
    out = []
    for line in bad:
        close = difflib.get_close_matches(line.split("=", 1)[0], keys, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]}?" if close else "see `--cfg job` for the keys there are"
        out.append(f"{line}: no such key in the configuration; {hint}")
    return out


def _first_choices(args: list[str]) -> dict[str, str]:
    """Each override as given -> the same with a sweep replaced by its first value (what one job composes)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    out = {}
    for o in OverridesParser.create().parse_overrides(args):
        first = next(iter(o.sweep_string_iterator()), None) if o.is_sweep_override() else None
        out[o.input_line] = f"{o.get_key_element()}={first}" if first is not None else o.input_line
    return out


def check_overrides(config_dir: str | Path, config_name: str, args: list[str] | None = None) -> None:
    """Exit with one `error:` line per unknown override key (status 2) before Hydra starts."""
    args = sys.argv[1:] if args is None else args
    problems = unknown_keys(config_dir, config_name, args)
    if not problems:
        return
    error = ConfigError(problems[0] if len(problems) == 1 else "unknown keys:\n  " + "\n  ".join(problems))
    if show_tracebacks():
        raise error
    print(user_error_message(error), file=sys.stderr, flush=True)
    raise SystemExit(USER_ERROR_EXIT)


def _keys(node, prefix: str = ""):
    """Every dotted key of a config (values unresolved)."""
    try:
        items = list(node.items_ex(resolve=False)) if isinstance(node, DictConfig) else []
    except Exception:  # a node that is None (e.g. hydra.sweeper.params)
        items = []
    for k, v in items:
        key = f"{prefix}{k}"
        yield key
        if isinstance(v, DictConfig):
            yield from _keys(v, key + ".")
