"""The scan's modules import each other in one direction only: no cycle, and no import inside a function to
hide one (``compute`` and ``ranking`` both read ``windows``, neither reads the other)."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGES = ("surveillance", "stats", "risk", "simulate", "charts")


def _module(path: Path) -> str:
    return ".".join(path.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__")


def _imports(tree: ast.AST) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and (node.module or "").startswith("forewarn")
        ):
            assert node.module is not None
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("forewarn"))
    return found


def _graph() -> dict[str, set[str]]:
    trees = {
        _module(path): ast.parse(path.read_text(encoding="utf-8"))
        for package in PACKAGES
        for path in (SRC / "forewarn" / package).rglob("*.py")
        if "migrations" not in path.parts
    }
    return {name: {m for m in _imports(tree) if m in trees and m != name} for name, tree in trees.items()}


def test_no_import_cycle() -> None:
    graph = _graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 on the path, 2 done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for start in sorted(graph):
        if start not in state:
            visit(start, [start])
    assert cycles == []


def test_no_import_of_our_own_modules_inside_a_function() -> None:
    hidden = []
    for package in PACKAGES:
        for path in (SRC / "forewarn" / package).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for function in ast.walk(tree):
                if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef) and _imports(function):
                    hidden.append(f"{_module(path)}.{function.name}")
    assert hidden == []
