"""Rank intervals of every unit of one file: ``forewarn ranks`` and ``forewarn.ranks``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl

from forewarn.ingest.readers import ROW
from forewarn.stats.ranks import RankOptions, expected_ranks, rank_uncertainty
from forewarn.tools.cells import parse_numbers, require_text
from forewarn.tools.inputs import AnalystInput, FileInput, as_input
from forewarn.tools.output import AnalystResult, clean_floats
from forewarn.tools.problems import Checks, usage_error

# Ranks
# ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RanksRequest:
    """Columns and options of ``forewarn ranks`` (see :func:`forewarn.stats.ranks.rank_uncertainty`).

    Give ``estimate_col`` and ``se_col``, or ``numerator_col`` and ``denominator_col`` with ``data_type``:
    ``"PR"`` ranks the proportion O/N with standard error sqrt(p~(1 - p~)/N), ``"SR"`` the ratio O/E with
    sqrt(O + 1/2)/E, where p~ = (O + 1/2)/(N + 1) keeps the uncertainty of a unit with 0 or N events above 0.
    ``higher_is_better`` puts the largest value at rank 1; otherwise the smallest.
    """

    unit_col: str
    estimate_col: str | None = None
    se_col: str | None = None
    numerator_col: str | None = None
    denominator_col: str | None = None
    data_type: Literal["PR", "SR"] = "PR"
    group_col: str | None = None
    higher_is_better: bool = False
    replicates: int = 1000
    level: float = 0.95
    seed: int = 19960385
    sheet: str | None = None


def ranks_file(path: Path, request: RanksRequest) -> AnalystResult:
    """:func:`ranks_frame` of a CSV, Excel (``request.sheet``) or Parquet file."""
    return ranks_frame(FileInput(path, request.sheet), request)


def ranks_frame(data: AnalystInput | pl.DataFrame, request: RanksRequest) -> AnalystResult:
    """Rank intervals of every unit (within each group's league table) from one file.

    Returns
    -------
    AnalystResult
        ``table``: unit, [group], estimate, se, rank (of the estimate; ties share the best), median rank, the
        interval, mean and exact expected rank, table size and whether the unit differs from the middle.
        ``summary``: units, tables, how many units can be told apart from the middle.
    """
    reader = as_input(data)
    source = reader.name
    est_col, se_col = request.estimate_col, request.se_col
    num_col, den_col = request.numerator_col, request.denominator_col
    by_estimate = est_col is not None or se_col is not None
    by_counts = num_col is not None or den_col is not None
    try:
        if by_estimate == by_counts:
            raise ValueError(
                "give --estimate-col with --se-col, or --numerator-col with --denominator-col (one pair, not both)"
            )
        options = RankOptions(
            n_draws=request.replicates,
            level=request.level,
            seed=request.seed,
            descending=request.higher_is_better,
        )
    except ValueError as exc:
        raise usage_error(source, str(exc)) from None
    if by_estimate:
        if est_col is None or se_col is None:
            raise usage_error(source, "--estimate-col and --se-col go together")
        first, second = ("--estimate-col", est_col), ("--se-col", se_col)
    else:
        if num_col is None or den_col is None:
            raise usage_error(source, "--numerator-col and --denominator-col go together")
        first, second = ("--numerator-col", num_col), ("--denominator-col", den_col)
    columns = {"--unit-col": request.unit_col}
    if request.group_col is not None:
        columns["--group-col"] = request.group_col
    columns.update(dict([first, second]))
    frame = reader.read(columns)
    checks = Checks(source)
    require_text(frame, request.unit_col, "a unit", checks)
    group = request.group_col
    if group is not None:
        require_text(frame, group, "a group", checks)
    keys = [request.unit_col] if group is None else [group, request.unit_col]
    n_rows = frame.height
    if by_estimate:
        estimate_col, error_col = first[1], second[1]
        frame = parse_numbers(frame, estimate_col, "__est", checks, required=True)
        frame = parse_numbers(frame, error_col, "__se", checks, required=True)
        checks.add(
            frame.filter(pl.col("__se") < 0),
            error_col,
            pl.col(error_col),
            "a standard error must not be negative",
        )
        first_row = pl.col(ROW).min().over(keys)
        repeated = frame.filter(pl.all_horizontal(pl.col(k).is_not_null() for k in keys)).with_columns(
            first_row.alias("__first")
        )
        checks.add(
            repeated.filter(pl.col(ROW) != pl.col("__first")),
            request.unit_col,
            pl.col(request.unit_col),
            pl.format(
                "unit appears more than once (first at row {}): give one row per unit with an estimate "
                "(rows are summed by unit only with --numerator-col and --denominator-col)",
                pl.col("__first"),
            ),
        )
        checks.raise_if_any()
    else:
        num, den = first[1], second[1]
        frame = parse_numbers(frame, num, "__num", checks, required=True)
        frame = parse_numbers(frame, den, "__den", checks, required=True)
        o, n = pl.col("__num"), pl.col("__den")
        checks.add(frame.filter(o < 0), num, pl.col(num), "must not be negative")
        checks.add(frame.filter(n == 0), den, pl.col(den), "denominator is 0: the ratio is undefined")
        checks.add(frame.filter(n < 0), den, pl.col(den), "denominator must be positive")
        if request.data_type == "PR":
            checks.add(
                frame.filter(o > n),
                num,
                pl.col(num),
                pl.format(
                    "numerator exceeds the denominator ({}): a proportion needs numerator <= denominator",
                    pl.col(den),
                ),
            )
        checks.raise_if_any()
        # Several rows of a unit (months, sites...) are summed, as `forewarn funnel` sums them.
        frame = frame.group_by(keys, maintain_order=True).agg(o.sum(), n.sum())
        frame = frame.with_columns(
            (o / n).alias("__est"),
            (
                (((o + 0.5) / (n + 1.0)) * (1.0 - (o + 0.5) / (n + 1.0)) / n).sqrt()
                if request.data_type == "PR"
                else (o + 0.5).sqrt() / n
            ).alias("__se"),
        )

    estimate = frame["__est"].to_numpy().astype(np.float64)
    se = frame["__se"].to_numpy().astype(np.float64)
    labels = None if group is None else frame[group].to_numpy()
    ranks = rank_uncertainty(estimate, se, group=labels, options=options)
    expected = expected_ranks(estimate, se, group=labels, descending=request.higher_is_better)
    rank_expr = pl.col("__est").rank("min", descending=request.higher_is_better)
    observed_rank = frame.select(rank_expr.over(group) if group is not None else rank_expr).to_series()
    out: dict[str, Any] = {"unit": frame[request.unit_col]}
    if group is not None:
        out["group"] = frame[group]
    out.update(
        {
            "estimate": estimate,
            "se": se,
            "rank": observed_rank.cast(pl.Int64),
            "median_rank": ranks.median_rank,
            "lower_rank": ranks.lower_rank,
            "upper_rank": ranks.upper_rank,
            "mean_rank": ranks.mean_rank,
            "expected_rank": expected,
            "group_size": ranks.group_size,
            "differs_from_middle": ranks.differs_from_middle,
        }
    )
    table = pl.DataFrame(out)
    summary: dict[str, Any] = {
        "n_units": int(estimate.size),
        "n_rows": n_rows,
        "n_groups": 1 if labels is None else int(np.unique(labels).size),
        "replicates": request.replicates,
        "level": float(request.level),
        "seed": request.seed,
        "rank_1_is": "highest" if request.higher_is_better else "lowest",
        "n_differ_from_middle": int(ranks.differs_from_middle.sum()),
        "estimate_from": "estimate and se" if by_estimate else f"numerator/denominator ({request.data_type})",
    }
    return AnalystResult(table=clean_floats(table), summary=summary)
