"""The framework's user-facing error types.

A `UserError` is a mistake the user can fix (a configuration value, a dataset layout, a missing file, a bad
checkpoint). The entry points print its message alone and exit non-zero, without a Python traceback
(set `HYDRA_FULL_ERROR=1` or `FER_DEBUG=1` to see one). Anything else is a bug and keeps its traceback.
`cli_main` does this for the plain command-line tools; Hydra jobs get it from fer/engine/lifecycle.py.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import NoReturn


class UserError(Exception):
    """A mistake the user can fix; the message names the key or file, the value, and the remedy."""


class ConfigError(UserError, ValueError):
    """A configuration value is missing, malformed or out of range."""


class DatasetLayoutError(UserError, FileNotFoundError):
    """A dataset root does not look like the layout the reader expects; the message says what was expected."""


USER_ERROR_EXIT = 2
DEBUG_ENV = ("HYDRA_FULL_ERROR", "FER_DEBUG")


def show_tracebacks() -> bool:
    """Whether user errors show their traceback too (HYDRA_FULL_ERROR=1 or FER_DEBUG=1)."""
    return any(os.environ.get(name, "") not in ("", "0") for name in DEBUG_ENV)


def user_error_message(e: UserError) -> str:
    """The one line a command prints for a user error."""
    return f"error: {e}"


def cli_main(main: Callable[[], int | None]) -> NoReturn:
    """Run a command-line tool's `main()` and exit with its status; a `UserError` is `error: <message>` on stderr
    and status 2, without a traceback (unless HYDRA_FULL_ERROR=1 or FER_DEBUG=1)."""
    try:
        code = main()
    except UserError as e:
        if show_tracebacks():
            raise
        print(user_error_message(e), file=sys.stderr, flush=True)
        sys.exit(USER_ERROR_EXIT)
    sys.exit(code or 0)
