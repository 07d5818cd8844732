"""The public surface other code calls says what it takes and returns: every public function, class and method of
fer.data, fer.models, fer.deploy and fer.evaluation has a docstring. A method without one passes only when it
overrides a base-class method that has one (Lightning hooks, `nn.Module.forward`, a documented method of our own
base class), since `help()` and IDEs show the inherited docstring there."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("fer/data", "fer/models", "fer/deploy", "fer/evaluation")


def undocumented(source: str) -> list[tuple[str, str | None]]:
    """(qualified name, owning class or None) of the public functions, classes and methods without a docstring.
    Public: not starting with `_`; property setters and deleters share their getter's docstring."""
    found = []

    def walk(body, cls: str | None) -> None:
        for node in body:
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) or node.name.startswith("_"):
                continue
            if any(isinstance(d, ast.Attribute) and d.attr in ("setter", "deleter") for d in node.decorator_list):
                continue
            if ast.get_docstring(node) is None:
                found.append((f"{cls}.{node.name}" if cls else node.name, cls))
            if isinstance(node, ast.ClassDef) and cls is None:
                walk(node.body, node.name)

    walk(ast.parse(source).body, None)
    return found


def public_modules() -> dict[str, Path]:
    """Module name -> file, for the checked packages; private modules (`_common.py`) are left out."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if path.name.startswith("_") and path.name not in ("__init__.py", "__main__.py"):
                continue
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def overrides_documented(module: str, cls: str, method: str) -> bool:
    """Whether `cls.method` overrides a base-class attribute of that name that has a docstring."""
    klass = getattr(importlib.import_module(module), cls)
    return any(getattr(base.__dict__.get(method), "__doc__", None) for base in klass.__mro__[1:])


def test_the_walk_finds_exactly_the_undocumented_public_names():
    source = '''
def documented():
    """Doc."""
def bare(): pass
def _private(): pass
class Bare:
    def method(self): pass
    def _helper(self): pass
    @property
    def value(self):
        """Doc."""
    @value.setter
    def value(self, v): pass
class Documented:
    """Doc."""
    def method(self):
        """Doc."""
'''
    assert undocumented(source) == [("bare", None), ("Bare", None), ("Bare.method", "Bare")]


def test_an_override_of_a_documented_method_is_recognised():
    assert overrides_documented("fer.models.components.online_aug", "OnlineAugment", "forward")  # nn.Module.forward
    assert not overrides_documented("fer.models.components.online_aug", "OnlineAugment", "no_such_method")


def test_public_functions_and_classes_have_docstrings():
    missing = []
    for module, path in public_modules().items():
        for name, cls in undocumented(path.read_text()):
            if cls is None or not overrides_documented(module, cls, name.rpartition(".")[2]):
                missing.append(f"{path.relative_to(ROOT)}: {name}")
    assert not missing, "public names without a docstring (say what they take and return):\n" + "\n".join(missing)
