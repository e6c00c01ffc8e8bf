"""The computing packages import our own modules at the top only, so no cycle can hide in a function
(``compute`` and ``ranking`` both read ``windows``, neither reads the other). Cycles themselves are found over the
whole package by ``tests/test_import_cycles.py``."""

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


def test_no_import_of_our_own_modules_inside_a_function() -> None:
    hidden = []
    for package in PACKAGES:
        for path in (SRC / "forewarn" / package).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for function in ast.walk(tree):
                if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef) and _imports(function):
                    hidden.append(f"{_module(path)}.{function.name}")
    assert hidden == []
