"""Problems found by whole-column checks, gathered as frames (row, column, value, message) and reported at once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from forewarn.ingest.problems import Problem, ValidationReport
from forewarn.ingest.readers import ROW

PROBLEM_SCHEMA = {"row": pl.Int64, "column": pl.String, "value": pl.String, "message": pl.String}
SHOWN_VALUE_CHARS = 60
"""A value longer than this is cut short (with an ellipsis) in a problem."""


def problem_frame(
    frame: pl.DataFrame, column: str | None, value: pl.Expr | None, message: str | pl.Expr
) -> pl.DataFrame:
    shown = pl.lit(None, dtype=pl.String)
    if value is not None:
        text = value.cast(pl.String)
        shown = (
            pl.when(text.str.len_chars() > SHOWN_VALUE_CHARS)
            .then(text.str.slice(0, SHOWN_VALUE_CHARS) + pl.lit("…"))
            .otherwise(text)
        )
    return frame.select(
        pl.col(ROW).alias("row"),
        pl.lit(column, dtype=pl.String).alias("column"),
        shown.alias("value"),
        (message if isinstance(message, pl.Expr) else pl.lit(message)).alias("message"),
    )


@dataclass(frozen=True)
class Rule:
    """One check: the rows where ``condition`` holds (null counts as not) are problems of ``column``, showing
    ``value``, saying ``message``."""

    condition: pl.Expr
    column: str | None
    value: pl.Expr | None
    message: str | pl.Expr


class Checker:
    def __init__(self) -> None:
        self.frames: list[pl.DataFrame] = []

    def check(self, frame: pl.DataFrame, rules: Sequence[Rule]) -> None:
        """Apply ``rules`` to ``frame``: whether each holds anywhere is one pass over the frame for all of them
        (in parallel), and only the rules that do hold filter the frame for their rows. A clean file, the usual
        case, is then read once instead of copied once per check."""
        if not rules or frame.height == 0:
            return
        found = frame.select([rule.condition.any().alias(f"rule_{i}") for i, rule in enumerate(rules)]).row(0)
        for hit, rule in zip(found, rules, strict=True):
            if hit:
                self.add(frame.filter(rule.condition), rule.column, rule.value, rule.message)

    def add(
        self, frame: pl.DataFrame, column: str | None, value: pl.Expr | None, message: str | pl.Expr
    ) -> None:
        if frame.height:
            self.frames.append(problem_frame(frame, column, value, message))

    def report_into(self, report: ValidationReport) -> None:
        if not self.frames:
            return
        problems = pl.concat(self.frames).sort("row", "column", nulls_last=True)
        report.total_problems += problems.height
        listed = problems.head(max(0, report.max_listed - len(report.problems)))
        report.problems.extend(
            Problem(report.file, row, column, value, message)
            for row, column, value, message in listed.iter_rows()
        )


def keep(frame: pl.DataFrame, condition: pl.Expr) -> pl.DataFrame:
    """``frame.filter(condition)``, without the copy when every row is kept (the usual case of a clean file)."""
    if frame.height == 0 or bool(frame.select(condition.fill_null(False).all()).item()):
        return frame
    return frame.filter(condition)
