"""The package's shape, kept by the suite: no import cycle (imports inside functions count too), package layers
that point one way, a small top level, one atomic writer, and an `import fer` that loads only the version."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FER = ROOT / "fer"
COMMANDS = {"fer.predict", "fer.export", "fer.report", "fer.data.__main__"}  # thin `python -m` commands
# Lowest first. A module imports its own package and packages of lower layers only (never one beside it).
LAYERS = [
    {"fer", "fer.errors", "fer.classes"},
    {"fer.utils"},
    {"fer.faces", "fer.synthetic"},
    {"fer.data"},
    {"fer.evaluation"},
    {"fer.models", "fer.callbacks"},
    {"fer.runs"},
    {"fer.engine", "fer.reporting"},
    {"fer.deploy"},
    {"fer.tasks", "fer.study"},
    {"commands"},
]


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(FER.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the fer modules it imports anywhere in its file (top level, functions, TYPE_CHECKING)."""
    mods = modules()

    def resolve(name: str) -> str | None:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = defaultdict(set)
    for mod, path in mods.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + [base]).strip(".")
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            for t in targets:
                if t.split(".")[0] == "fer" and (dep := resolve(t)) and dep != mod:
                    graph[mod].add(dep)
    return graph


def package_of(mod: str) -> str:
    if mod in COMMANDS:
        return "commands"
    return ".".join(mod.split(".")[:2])


def layer_of(package: str) -> int:
    for i, layer in enumerate(LAYERS):
        if package in layer:
            return i
    raise AssertionError(f"package {package} is in no layer of tests/unit/test_architecture.py: place it")


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == 1:
                return path[path.index(dep) :] + [dep]
            if dep not in state and (cycle := visit(dep)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_graph_sees_imports_inside_functions_and_finds_a_planted_cycle():
    graph = import_graph()
    # fer/deploy/predictors/torch_predictor.py imports the checkpoint loader inside a method (torch stays optional)
    assert "fer.deploy.checkpoint" in graph["fer.deploy.predictors.torch_predictor"]
    planted = {m: set(d) for m, d in graph.items()}
    planted["fer.utils.io"].add("fer.data.catalogue")  # catalogue -> ... -> utils.io -> catalogue
    assert find_cycle(planted) is not None


def test_no_import_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_layers_point_one_way():
    wrong = []
    for mod, deps in import_graph().items():
        here = package_of(mod)
        for dep in deps:
            there = package_of(dep)
            if there != here and layer_of(there) >= layer_of(here):
                wrong.append(f"{mod} imports {dep}")
    assert not wrong, "imports against the layers (a lower or sibling package importing upwards):\n" + "\n".join(wrong)


def test_top_level_is_small_and_names_are_not_reused():
    top = [p.name for p in FER.glob("*.py") if p.name != "__init__.py"]
    assert len(top) <= 8, f"fer/ holds {len(top)} modules besides __init__.py: {sorted(top)}"
    names = Counter(p.name for p in FER.rglob("*.py") if p.name not in ("__init__.py", "__main__.py"))
    assert not [n for n, c in names.items() if c >= 3], f"file names used three times or more: {names.most_common(3)}"


def test_one_atomic_writer():
    users = sorted(str(p.relative_to(ROOT)) for p in FER.rglob("*.py") if "os.replace(" in p.read_text())
    assert len(users) <= 2 and "fer/utils/io.py" in users, users


def test_import_fer_loads_only_the_version():
    code = (
        "import sys, fer; print(sorted(m for m in sys.modules if m.startswith('fer') or m in ('omegaconf', 'torch')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "['fer']"
