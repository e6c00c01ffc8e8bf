"""What the analyst's tools report when an input cannot be used: every problem at once, each naming the row a
person sees in a spreadsheet, the column and the value."""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from forewarn.ingest.problems import Problem
from forewarn.ingest.readers import ROW

MAX_LISTED_PROBLEMS = 1000


class AnalystInputError(ValueError):
    """The input cannot be used. ``usage`` problems (columns or options that do not fit the file, exit 2) differ
    from data problems (cells that are wrong, exit 1); ``problems`` lists every one found (up to
    ``MAX_LISTED_PROBLEMS``; ``total`` counts them all)."""

    def __init__(self, problems: Sequence[Problem], *, usage: bool = False, total: int | None = None) -> None:
        self.problems = list(problems)
        self.usage = usage
        self.total = len(self.problems) if total is None else total
        super().__init__("\n".join(str(p) for p in self.problems))

    @property
    def exit_code(self) -> int:
        return 2 if self.usage else 1

    def summary(self) -> str:
        source = self.problems[0].file if self.problems else "input"
        listed = "" if self.total == len(self.problems) else f" (first {len(self.problems)} listed)"
        return f"{source}: {self.total} problem(s) found{listed}; nothing was computed"

    def to_dict(self) -> dict[str, object]:
        return {
            "ok": False,
            "exit_code": self.exit_code,
            "total_problems": self.total,
            "problems": [p.to_dict() for p in self.problems],
        }


def usage_error(
    source: str, message: str, column: str | None = None, value: str | None = None
) -> AnalystInputError:
    """One usage problem (an option that does not fit the file), not tied to a row."""
    return AnalystInputError([Problem(source, None, column, value, message)], usage=True)


class Checks:
    """Row-level problems found by vectorised checks, gathered so every one is reported together."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.frames: list[pl.DataFrame] = []

    def add(
        self, rows: pl.DataFrame, column: str | None, value: pl.Expr | None, message: str | pl.Expr
    ) -> None:
        if rows.height == 0:
            return
        self.frames.append(
            rows.select(
                pl.col(ROW).cast(pl.Int64).alias("row"),
                pl.lit(column, dtype=pl.String).alias("column"),
                (value.cast(pl.String) if value is not None else pl.lit(None, dtype=pl.String)).alias(
                    "value"
                ),
                (message if isinstance(message, pl.Expr) else pl.lit(message))
                .cast(pl.String)
                .alias("message"),
            )
        )

    def raise_if_any(self) -> None:
        if not self.frames:
            return
        found = pl.concat(self.frames).unique(maintain_order=True).sort("row", "column", nulls_last=True)
        listed = found.head(MAX_LISTED_PROBLEMS)
        problems = [
            Problem(self.source, row, column, value, message) for row, column, value, message in listed.rows()
        ]
        raise AnalystInputError(problems, total=found.height)
