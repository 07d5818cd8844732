"""The framework's user-facing error type.

A `UserError` is a mistake the user can fix (a configuration value, a dataset layout, a missing file, a bad
checkpoint). The entry points print its message alone and exit non-zero, without a Python traceback
(set `HYDRA_FULL_ERROR=1` or `FER_DEBUG=1` to see one). Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """A mistake the user can fix; the message names the key or file, the value, and the remedy."""


class ConfigError(UserError, ValueError):
    """A configuration value is missing, malformed or out of range."""
