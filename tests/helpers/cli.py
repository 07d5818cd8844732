"""Running a command-line tool's `main` as `python -m` runs it: through `fer.errors.cli_main`."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from fer.errors import cli_main


def run_cli(main: Callable[[list[str]], int | None], argv: list[str]) -> int:
    """The exit status of `main(argv)` under `cli_main` (a user error: `error: ...` on stderr and status 2)."""
    with pytest.raises(SystemExit) as exit_info:
        cli_main(lambda: main(argv))
    return int(exit_info.value.code or 0)
