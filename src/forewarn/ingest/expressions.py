"""Arithmetic over columns in mapping files (``attendances - breaches``), compiled to Polars expressions.

Only numbers, column names, ``col("a name with spaces")``, + - * / and parentheses are allowed: a mapping file is
data, so it must never be able to run code.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

import polars as pl


class ExpressionError(ValueError):
    """An expression in a mapping file that Forewarn cannot use."""


_OPERATORS: dict[type[ast.operator], str] = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}


def _parse(text: str) -> ast.expr:
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"cannot read expression {text!r}: {exc.msg}") from exc
    return tree.body


def _column_name(node: ast.expr, text: str) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "col"
        and len(node.args) == 1
        and not node.keywords
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    ):
        return node.args[0].value
    return None


def _walk(node: ast.expr, text: str) -> Iterator[str]:
    name = _column_name(node, text)
    if name is not None:
        yield name
    elif isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        yield from _walk(node.left, text)
        yield from _walk(node.right, text)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub | ast.UAdd):
        yield from _walk(node.operand, text)
    elif (
        isinstance(node, ast.Constant)
        and isinstance(node.value, int | float)
        and not isinstance(node.value, bool)
    ):
        return
    else:
        raise ExpressionError(
            f"expression {text!r} may only use numbers, column names, col('name'), + - * / and parentheses"
        )


def expression_columns(text: str) -> list[str]:
    """The columns an expression reads, in order of first use."""
    seen: dict[str, None] = {}
    for name in _walk(_parse(text), text):
        seen.setdefault(name, None)
    return list(seen)


def _compile(node: ast.expr, text: str) -> pl.Expr:
    name = _column_name(node, text)
    if name is not None:
        return pl.col(name)
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        return pl.lit(float(node.value))
    if isinstance(node, ast.UnaryOp):
        inner = _compile(node.operand, text)
        return -inner if isinstance(node.op, ast.USub) else inner
    if isinstance(node, ast.BinOp):
        left, right = _compile(node.left, text), _compile(node.right, text)
        op = _OPERATORS[type(node.op)]
        if op == "+":
            return left + right
        if op == "-":
            return left - right
        if op == "*":
            return left * right
        return left / right
    raise ExpressionError(f"unsupported expression {text!r}")  # pragma: no cover - _walk rejects it first


def compile_expression(text: str) -> pl.Expr:
    """A Polars expression computing ``text`` over numeric columns.

    >>> import polars as pl
    >>> pl.DataFrame({"a": [10.0], "b": [4.0]}).select(compile_expression("1 - b / a")).item()
    0.6
    """
    expression_columns(text)  # validates
    return _compile(_parse(text), text)
