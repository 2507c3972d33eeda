"""The layout's promises: no import cycle (lazy imports included), between modules or between
packages, the worker never imports the driver, and every package ships in the wheel."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

from tests.conftest import REPO

PACKAGES = ("sweep", "trainables")


def _modules() -> dict[str, Path]:
    found = {}
    for top in PACKAGES:
        for path in (REPO / top).rglob("*.py"):
            parts = path.relative_to(REPO).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports anywhere in its body (a lazy import still couples)."""
    mods = _modules()
    graph: dict[str, set[str]] = {name: set() for name in mods}
    for name, path in mods.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            else:
                continue
            graph[name].update(t for t in targets if t in mods and t != name)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every group of modules that import each other, directly or around a loop (Tarjan's SCC)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for succ in graph[node]:
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in graph:
        if node not in index:
            visit(node)
    return found


def package_of(module: str) -> str:
    """The stage a module belongs to: ``sweep.report.verdict`` -> ``sweep.report``; a module at the top
    of ``sweep`` or ``trainables`` (``sweep.runner``, ``trainables.trainable``) is a node of its own."""
    return ".".join(module.split(".")[:2])


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Package -> the other packages its modules import: the drawing DESIGN.md asks to be circle-free."""
    packages: dict[str, set[str]] = {}
    for module, targets in graph.items():
        packages.setdefault(package_of(module), set())
        packages[package_of(module)].update(package_of(t) for t in targets if package_of(t) != package_of(module))
    return packages


def test_cycle_finder_sees_a_planted_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_in_the_packages() -> None:
    assert cycles(import_graph()) == []


def test_package_cycle_finder_sees_a_cycle_that_no_two_modules_form() -> None:
    """Modules in a line (a.x -> b.y -> a.z) draw a circle between packages a and b."""
    planted = {"sweep.a.x": {"sweep.b.y"}, "sweep.b.y": {"sweep.a.z"}, "sweep.a.z": set(), "sweep.c": {"sweep.a.x"}}
    assert cycles(planted) == []
    assert cycles(package_graph(planted)) == [["sweep.a", "sweep.b"]]


def test_no_import_cycle_between_packages() -> None:
    graph = import_graph()
    assert cycles(package_graph(graph)) == []
    planted = {**graph, "sweep.common.labels": graph["sweep.common.labels"] | {"sweep.report.ranking"}}
    assert any({"sweep.common", "sweep.report"} <= set(group) for group in cycles(package_graph(planted))), \
        "a leaf that imports a stage is caught"


def test_the_shared_helpers_and_the_statistics_are_leaves() -> None:
    """``sweep/common`` and ``sweep/stats`` import no other stage of the driver, so every stage may use them."""
    packages = package_graph(import_graph())
    for leaf in ("sweep.common", "sweep.stats"):
        assert {p for p in packages[leaf] if p.startswith("sweep")} == set(), leaf


def test_the_data_types_import_nothing_else_of_the_data_package() -> None:
    graph = import_graph()
    assert not {m for m in graph["trainables.data.types"] if m.startswith("trainables.data")}
    assert {"trainables.data.builtin", "trainables.data.user"} <= graph["trainables.data.load"]


def test_the_worker_package_never_imports_the_driver() -> None:
    reaches = {(m, t) for m, ts in import_graph().items() if m.startswith("trainables") for t in ts
               if t.startswith("sweep")}
    assert reaches == set()


def test_every_package_ships_in_the_wheel() -> None:
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {name for name, path in _modules().items() if path.name == "__init__.py"}
    assert on_disk - listed == set()
