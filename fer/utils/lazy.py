"""Packages that name their public API in `__all__` without importing it all up front (PEP 562): `import
fer.data.catalogue` stays free of torch, and `fer.deploy`'s ONNX path free of Lightning."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[list[str], Callable[[str], Any]]:
    """`__all__` and a module `__getattr__` for `package` that import `name` from `exports[name]` (a submodule)
    on first use."""

    def __getattr__(name: str) -> Any:
        if name in exports:
            return getattr(importlib.import_module(exports[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return sorted(exports), __getattr__
