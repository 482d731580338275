"""The package's shape, checked from its source: no import cycles, every import pointing down the data
flow, modules of one concept each. Read with the standard library's `ast`, so module-level and
function-level imports (and those under TYPE_CHECKING) all count."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

from conftest import REPO

PACKAGE = REPO / "astraios"
# Lowest first: a module may import its own layer and the layers below it, never one above. This is
# the data flow (config -> model -> method -> train -> generate -> sandbox -> tasks -> grid ->
# analysis), with the foundation under it and the command line on top.
LAYERS = [
    # `astraios` itself: its version only; the scores and their uncertainty, which eval and report share
    ("astraios", "astraios.core", "astraios.metrics", "astraios.outcomes", "astraios.intervals"),
    ("astraios.models",),
    ("astraios.methods",),
    ("astraios.config", "astraios.data"),  # a run config holds every method's config; data reads the config
    ("astraios.train",),
    ("astraios.generate",),
    ("astraios.sandbox",),
    ("astraios.security",),
    ("astraios.tasks",),
    ("astraios.evaluation",),
    ("astraios.perturb",),
    ("astraios.grid",),
    ("astraios.analysis",),
    ("astraios.gpu_check",),
    ("astraios.cli",),
    ("astraios.__main__",),
]
MAX_LINES = 450
# The in-jail script may import nothing from the package, so it stays one file (its docstring says why).
LONGER_BY_DESIGN = {"astraios.sandbox.jail"}


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        if "labelled" in path.parts:  # the security checkers' labelled example programs, not package code
            continue
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def import_graph(found: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the astraios modules it imports. `from pkg import sub` is an edge to pkg.sub when that is
    a module, else to pkg (the name comes from the package's __init__)."""

    def known(name: str) -> str:
        while name and name not in found:
            name = name.rpartition(".")[0]
        return name

    edges: dict[str, set[str]] = defaultdict(set)
    for name, path in found.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = ".".join(package[: len(package) - node.level + 1] + [node.module or ""]).strip(".") \
                    if node.level else node.module or ""
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in found else base for alias in node.names]
            else:
                continue
            for target in map(known, targets):
                if target.startswith("astraios") and target != name:
                    edges[name].add(target)
    return edges


def strongly_connected(edges: dict[str, set[str]], nodes) -> list[list[str]]:
    """Tarjan's algorithm: the components with more than one module (or a module importing itself)."""
    index, low, stack, on_stack, components = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in edges.get(node, ()):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(nodes):
        if node not in index:
            visit(node)
    return components


def layer(module: str) -> int:
    best, best_length = None, -1
    for position, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_length:
                best, best_length = position, len(prefix)
    assert best is not None, f"{module} is in no layer of tests/test_architecture.py: add it to LAYERS"
    return best


def test_the_import_graph_has_no_cycle():
    found = modules()
    assert strongly_connected(import_graph(found), found) == []


def test_the_cycle_finder_finds_a_cycle_and_the_graph_sees_function_level_imports():
    assert strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, "abcd") == [["a", "b", "c"]]
    edges = import_graph(modules())
    assert "astraios.grid.cell" in edges["astraios.grid.run"]  # imported at module level
    assert "astraios.grid.executors.ray" in edges["astraios.grid.run"]  # imported inside make_executor


def test_every_import_points_down_the_layers():
    upward = [f"{source} (layer {layer(source)}) imports {target} (layer {layer(target)})"
              for source, targets in import_graph(modules()).items() for target in targets
              if layer(target) > layer(source)]
    assert upward == []


@pytest.mark.parametrize("lower", ["astraios.train", "astraios.generate", "astraios.sandbox", "astraios.tasks"])
def test_the_lower_layers_import_nothing_of_the_grid_the_cli_or_the_analysis(lower):
    above = ("astraios.grid", "astraios.cli", "astraios.analysis")
    edges = import_graph(modules())
    reached = sorted({target for source, targets in edges.items() if source.startswith(lower) for target in targets
                      if target.startswith(above)})
    assert reached == []


def test_no_module_is_two_concepts_long():
    long = {name: n for name, path in modules().items()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES and name not in LONGER_BY_DESIGN}
    assert long == {}
    for name in LONGER_BY_DESIGN:
        assert "stays one self-contained file" in modules()[name].read_text(encoding="utf-8")
