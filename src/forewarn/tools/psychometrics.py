"""Psychometrics of any CSV or Excel file of item answers, one row per respondent: ``forewarn psychometrics`` and
``forewarn.psychometrics``.

The file is read and checked like every Forewarn input (every problem with its row, column and value), treated as
one scale of the given items, and passed to :func:`forewarn.surveys.results.analyse_groups`, so the same
suppression rule applies as everywhere else: groups below the minimum size are hidden and left out of the pooled
figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import polars as pl

from forewarn.ingest.problems import ImportRejected, Problem, ValidationReport
from forewarn.ingest.readers import ROW, UnreadableFile, columns_of, read_text, require_rows
from forewarn.surveys.privacy import DisclosureControl
from forewarn.surveys.result_types import GroupAnalysis
from forewarn.surveys.results import DEFAULT_RESAMPLES, ScaleLayout, analyse_groups
from forewarn.tools.inputs import column_problems

SCALE_CODE = "scale"


class OptionsDoNotFit(ValueError):
    """The options do not fit the file (a column that is not in its header, an item named twice...): the
    command exits 2, as the other analyst tools do. ``problems`` lists every one, each naming the file and,
    where there is one, the row (1, the header) and column."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    def summary(self) -> str:
        source = self.problems[0].file if self.problems else "input"
        return f"{source}: {len(self.problems)} problem(s) with the options; nothing was computed"

    def to_dict(self) -> dict[str, object]:
        return {
            "ok": False,
            "exit_code": 2,
            "total_problems": len(self.problems),
            "problems": [p.to_dict() for p in self.problems],
        }


@dataclass(frozen=True)
class FileAnalysis:
    """The psychometrics of one file: its groups, and the scale made of the chosen items."""

    file: str
    group_column: str
    items: tuple[str, ...]
    reverse_keyed: tuple[str, ...]
    scale_points: int
    respondents: int
    analysis: GroupAnalysis

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def analyse_file(
    path: Path,
    *,
    group_column: str,
    items: Sequence[str],
    scale_points: int = 5,
    reverse: Sequence[str] = (),
    floor: int,
    min_group_size: int | None = None,
    n_resamples: int = DEFAULT_RESAMPLES,
    max_listed: int = 1000,
) -> FileAnalysis:
    """Read ``path`` and report, per group, n, mean, SD, interval, rwg(j), awg and the aggregation verdict, and
    overall alpha (Feldt interval), omega, ICC(1), ICC(2) and item statistics of the scale of ``items``.

    Answers must be whole numbers from 1 to ``scale_points`` (blank for none). Raises :class:`OptionsDoNotFit`
    listing every option that does not fit the file (a missing file or column, an unknown reverse-keyed item...)
    and :class:`ImportRejected` listing every problem with the data. ``min_group_size`` defaults to ``floor``,
    the caller's ``FOREWARN_MIN_GROUP_SIZE`` setting, and may not be set below it. The file is read as text and analysed by
    the same steps as :func:`analyse_frame`.
    """
    name = path.name
    items = list(dict.fromkeys(i.strip() for i in items if i.strip()))
    usage, minimum = _option_problems(name, group_column, items, scale_points, reverse, min_group_size, floor)
    if not path.is_file():
        raise OptionsDoNotFit([*usage, Problem(name, None, None, None, f"file not found: {path}")])

    report = ValidationReport(file=name, max_listed=max_listed)
    options = {group_column: "--group-col", **dict.fromkeys(items, "--items")}
    try:
        table = read_text(path)
    except UnreadableFile as exc:
        if usage:
            raise OptionsDoNotFit(usage) from None
        report.extend(exc.problems)
        raise ImportRejected(report) from None
    header = columns_of(table)
    usage += column_problems(header, [(o, c) for c, o in options.items()], name, header="header")
    if usage:
        raise OptionsDoNotFit(usage)
    try:
        require_rows(table)
    except UnreadableFile as exc:
        report.extend(exc.problems)
        raise ImportRejected(report) from None
    return _analyse_text(
        table.frame.select(*options, ROW),
        report,
        group_column,
        items,
        scale_points,
        reverse,
        minimum,
        n_resamples,
    )


def analyse_frame(
    data: pl.DataFrame,
    *,
    group_column: str,
    items: Sequence[str],
    scale_points: int = 5,
    reverse: Sequence[str] = (),
    floor: int,
    min_group_size: int | None = None,
    n_resamples: int = DEFAULT_RESAMPLES,
    max_listed: int = 1000,
    name: str = "data",
) -> FileAnalysis:
    """:func:`analyse_file` of a Polars DataFrame already in memory, one row per respondent.

    The frame's columns are read as text, as a file's are, and checked in the same way; problems name the
    row by its position in the frame (from 0) and the options by their Python names (``group_col``, ``items``).
    """
    items = list(dict.fromkeys(i.strip() for i in items if i.strip()))
    usage, minimum = _option_problems(name, group_column, items, scale_points, reverse, min_group_size, floor)
    options = {group_column: "group_col", **dict.fromkeys(items, "items")}
    usage += column_problems(data.columns, [(o, c) for c, o in options.items()], name, header="frame")
    if usage:
        raise OptionsDoNotFit(usage)
    report = ValidationReport(file=name, max_listed=max_listed)
    if data.height == 0:
        report.add(Problem(name, None, None, None, "empty frame: the frame is there but no data rows"))
        raise ImportRejected(report)
    frame = (
        data.select(pl.col(c).cast(pl.String) for c in options)
        .with_row_index(ROW)
        .with_columns(pl.col(ROW).cast(pl.Int64))
    )
    return _analyse_text(frame, report, group_column, items, scale_points, reverse, minimum, n_resamples)


def _option_problems(
    name: str,
    group_column: str,
    items: Sequence[str],
    scale_points: int,
    reverse: Sequence[str],
    min_group_size: int | None,
    floor: int,
) -> tuple[list[Problem], int]:
    """Every option that does not fit, whatever the file, and the minimum group size that applies."""
    usage: list[Problem] = []
    if not items:
        usage.append(Problem(name, None, None, None, "give at least one item column (--items)"))
    if not 2 <= scale_points <= 35:
        usage.append(Problem(name, None, None, str(scale_points), "--scale-points must be between 2 and 35"))
    unknown_reverse = [c for c in reverse if c not in items]
    if unknown_reverse:
        usage.append(
            Problem(
                name,
                None,
                None,
                None,
                f"--reverse names columns that are not among the items: {', '.join(unknown_reverse)}",
            )
        )
    if group_column in items:
        usage.append(
            Problem(name, None, group_column, None, "the group column (--group-col) cannot also be an item")
        )
    minimum = floor if min_group_size is None else min_group_size
    if minimum < floor:
        usage.append(
            Problem(
                name,
                None,
                None,
                str(minimum),
                f"the minimum group size is below the FOREWARN_MIN_GROUP_SIZE setting ({floor})",
            )
        )
    return usage, minimum


def _analyse_text(
    text: pl.DataFrame,
    report: ValidationReport,
    group_column: str,
    items: Sequence[str],
    scale_points: int,
    reverse: Sequence[str],
    minimum: int,
    n_resamples: int,
) -> FileAnalysis:
    """The checks and the analysis of answers read as text, with ``__row`` (one implementation for files and
    frames alike)."""
    name = report.file
    frame = text.with_columns(pl.col(c).str.strip_chars().replace("", None) for c in [group_column, *items])
    report.rows_read = frame.height
    values = frame.select(pl.col(c).cast(pl.Float64, strict=False) for c in items)
    problems = [
        frame.filter(pl.col(group_column).is_null()).select(
            pl.col(ROW).alias("row"),
            pl.lit(group_column).alias("column"),
            pl.lit(None, pl.String).alias("value"),
            pl.lit("missing group").alias("message"),
        )
    ]
    message = f"not an answer: expected a whole number from 1 to {scale_points}"
    for c in items:
        number = values[c]
        bad = frame[c].is_not_null() & (
            number.is_null() | (number != number.round()) | (number < 1) | (number > scale_points)
        )
        problems.append(
            frame.filter(bad).select(
                pl.col(ROW).alias("row"),
                pl.lit(c).alias("column"),
                pl.col(c).alias("value"),
                pl.lit(message).alias("message"),
            )
        )
    found = pl.concat(problems).sort("row", "column")
    report.extend(
        Problem(name, r["row"], r["column"], r["value"], r["message"]) for r in found.iter_rows(named=True)
    )
    if not report.ok:
        raise ImportRejected(report)

    labels, group_index = _numbered_groups(frame[group_column].to_list())
    layout = ScaleLayout(
        item_codes=tuple(items),
        item_dimension=(0,) * len(items),
        dimension_codes=(SCALE_CODE,),
        dimension_names=(f"mean of {len(items)} items",),
        reverse_keyed=tuple(c in reverse for c in items),
        response_min=1,
        response_max=scale_points,
        min_answers=1,
    )
    analysis = analyse_groups(
        values.to_numpy().astype(np.float64),
        group_index,
        labels,
        layout,
        DisclosureControl(minimum),
        n_resamples=n_resamples,
    )
    return FileAnalysis(
        file=name,
        group_column=group_column,
        items=tuple(items),
        reverse_keyed=tuple(c for c in items if c in reverse),
        scale_points=scale_points,
        respondents=frame.height,
        analysis=analysis,
    )


def _numbered_groups(values: list[str]) -> tuple[list[str], np.ndarray]:
    """Group labels in natural order (numerically when every label is a whole number) and each row's group."""
    distinct = set(values)
    numeric = all(v.lstrip("-").isdigit() for v in distinct)
    labels = sorted(distinct, key=int) if numeric else sorted(distinct)
    position = {label: i for i, label in enumerate(labels)}
    return labels, np.fromiter((position[v] for v in values), dtype=np.int64, count=len(values))
