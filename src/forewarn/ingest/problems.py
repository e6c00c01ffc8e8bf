"""Validation problems: each names the file, row, column, value and what is wrong."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input. ``row`` is the line or sheet row a person sees (header = row 1)."""

    file: str
    row: int | None
    column: str | None
    value: str | None
    message: str

    def __str__(self) -> str:
        where = [self.file]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column '{self.column}'")
        shown = "" if self.value is None else f" (value {self.value!r})"
        return f"{', '.join(where)}: {self.message}{shown}"

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class ValidationReport:
    """Every problem found in one input, all at once. Nothing is written unless it is empty."""

    file: str
    problems: list[Problem] = field(default_factory=list)
    rows_read: int = 0
    max_listed: int = 1000
    total_problems: int = 0

    def add(self, problem: Problem) -> None:
        self.total_problems += 1
        if len(self.problems) < self.max_listed:
            self.problems.append(problem)

    def extend(self, problems: Iterable[Problem]) -> None:
        for problem in problems:
            self.add(problem)

    @property
    def ok(self) -> bool:
        return self.total_problems == 0

    def summary(self) -> str:
        if self.ok:
            return f"{self.file}: {self.rows_read} rows, no problems"
        listed = len(self.problems)
        more = "" if listed == self.total_problems else f" (first {listed} listed)"
        return f"{self.file}: {self.total_problems} problem(s) found{more}; nothing was written"

    def to_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "ok": self.ok,
            "rows_read": self.rows_read,
            "total_problems": self.total_problems,
            "problems": [p.to_dict() for p in self.problems],
        }


class ImportRejected(Exception):
    """Raised when an input has problems; carries the full report."""

    def __init__(self, report: ValidationReport) -> None:
        super().__init__(report.summary())
        self.report = report
