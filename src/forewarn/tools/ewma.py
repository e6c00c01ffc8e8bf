"""EWMA charts of every series of one file: ``forewarn ewma`` and ``forewarn.ewma``."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from forewarn.ingest.problems import Problem
from forewarn.stats.arrays import FloatArray, IntArray
from forewarn.stats.ewma import EwmaOptions, ewma_chart
from forewarn.tools.cells import (
    PERIOD,
    SERIES,
    at_rows,
    check_duplicate_periods,
    masked_series,
    panel_positions,
    parse_numbers,
    parse_periods,
    scatter,
    with_series,
)
from forewarn.tools.inputs import AnalystInput, FileInput, as_input
from forewarn.tools.output import AnalystResult, clean_floats
from forewarn.tools.problems import AnalystInputError, Checks, usage_error

XMR_D2 = 1.128
"""d2 for moving ranges of two points: sigma = mean moving range / 1.128 (Montgomery 2019, section 6.4)."""


@dataclass(frozen=True)
class EwmaRequest:
    """Columns and options of ``forewarn ewma`` (see :func:`forewarn.stats.ewma.ewma_chart`).

    Each series is smoothed as ``Z_t = lam x_t + (1 - lam) Z_(t-1)`` against exact time-varying limits
    ``centre -+ L sd sqrt(v_t)``. ``centre`` and ``sd`` are the in-control mean and the standard deviation of
    one value; by default each series' own, from its first ``baseline_periods`` values (the mean, and the mean
    moving range / 1.128 as an XmR chart estimates sigma). ``limit_width`` (L) None chooses L so that the
    chart, with these very limits, has an in-control ARL of ``target_arl`` periods
    (:func:`forewarn.stats.arl.ewma_crit`).
    """

    period_col: str
    value_col: str
    series_col: str | None = None
    lam: float = 0.2
    limit_width: float | None = None
    target_arl: float = 370.0
    centre: float | None = None
    sd: float | None = None
    baseline_periods: int = 12
    reset: bool = False
    sheet: str | None = None


def ewma_file(path: Path, request: EwmaRequest) -> AnalystResult:
    """:func:`ewma_frame` of a CSV, Excel (``request.sheet``) or Parquet file."""
    return ewma_frame(FileInput(path, request.sheet), request)


def ewma_frame(data: AnalystInput | pl.DataFrame, request: EwmaRequest) -> AnalystResult:
    """EWMA charts of every series at once.

    Returns
    -------
    AnalystResult
        ``table``: one row per period (series, period, value, centre, ewma, lower, upper, alarm, direction
        "high", "low" or empty). ``series_table``: per series the centre and sd used, baseline points, alarms,
        first and last alarm. ``summary``: lambda, L and how it was chosen, series and alarms.
    """
    reader = as_input(data)
    source = reader.name
    try:
        options = EwmaOptions(
            lam=request.lam,
            L=request.limit_width,
            target_arl=None if request.limit_width is not None else request.target_arl,
            reset=request.reset,
        )
        if request.baseline_periods < 2:
            raise ValueError(f"--baseline-periods must be at least 2; got {request.baseline_periods}")
        if request.sd is not None and not (math.isfinite(request.sd) and request.sd > 0):
            raise ValueError(f"--sd must be a positive number; got {request.sd}")
        if request.centre is not None and not math.isfinite(request.centre):
            raise ValueError(f"--centre must be a finite number; got {request.centre}")
    except ValueError as exc:
        raise usage_error(source, str(exc)) from None
    columns = {"--period-col": request.period_col, "--value-col": request.value_col}
    if request.series_col is not None:
        columns = {"--series-col": request.series_col, **columns}
    frame = reader.read(columns)
    checks = Checks(source)
    frame = with_series(frame, request.series_col, checks)
    frame, _ = parse_periods(frame, request.period_col, checks)
    frame = parse_numbers(frame, request.value_col, "__value", checks, required=False)
    check_duplicate_periods(frame, request.period_col, request.series_col, checks)
    checks.raise_if_any()

    frame, series_names, width = panel_positions(frame)
    frame = frame.sort("__s", "__t")
    n_series = len(series_names)
    values = scatter(frame, "__value", n_series, width)
    centre, sd, points = _ewma_baseline(values, request)
    watched = np.isfinite(centre) & np.isfinite(sd) & (sd > 0)
    if not watched.any():
        need = "2 values" if request.sd is not None or request.centre is not None else "2 values that vary"
        raise AnalystInputError(
            [
                Problem(
                    source,
                    None,
                    request.value_col,
                    None,
                    f"no series has {need} in its first {request.baseline_periods} periods to set its "
                    "centre and spread from",
                )
            ]
        )
    chart = ewma_chart(
        np.where(watched[:, None], values, np.nan),
        options,
        centre=np.where(watched, centre, 0.0),
        sd=np.where(watched, sd, 1.0),
    )
    observed = frame["__value"].is_not_null().to_numpy()
    rows_watched = watched[frame["__s"].to_numpy()]
    direction = np.where(chart.alarm_upper, "high", np.where(chart.alarm_lower, "low", ""))
    table = pl.DataFrame(
        {
            "series": frame[SERIES],
            "period": frame[PERIOD],
            "value": frame["__value"],
            "centre": masked_series(centre[frame["__s"].to_numpy()], rows_watched),
            "ewma": masked_series(at_rows(chart.statistic, frame), observed & rows_watched),
            "lower": masked_series(at_rows(chart.lower_limit, frame), observed & rows_watched),
            "upper": masked_series(at_rows(chart.upper_limit, frame), observed & rows_watched),
            "alarm": masked_series(at_rows(chart.alarm, frame), observed & rows_watched),
            "direction": masked_series(at_rows(direction, frame), observed & rows_watched),
        }
    )
    series_table = (
        table.with_columns(pl.col("series").cast(pl.String))
        .group_by("series", maintain_order=True)
        .agg(
            pl.col("alarm").is_not_null().sum().cast(pl.Int64).alias("periods"),
            pl.col("alarm").sum().cast(pl.Int64).alias("n_alarms"),
            pl.col("period").filter(pl.col("alarm")).first().alias("first_alarm"),
            pl.col("period").filter(pl.col("alarm")).last().alias("last_alarm"),
        )
        .with_columns(
            pl.Series("centre", np.where(watched, centre, np.nan)),
            pl.Series("sd", np.where(watched, sd, np.nan)),
            pl.Series("baseline_points", points),
        )
    )
    summary: dict[str, Any] = {
        "lam": float(chart.lam),
        "L": float(chart.L),
        "target_arl": None if request.limit_width is not None else float(request.target_arl),
        "centre": request.centre if request.centre is not None else "each series' baseline mean",
        "sd": request.sd if request.sd is not None else "each series' baseline mean moving range / 1.128",
        "baseline_periods": request.baseline_periods,
        "reset": request.reset,
        "n_series": n_series,
        "n_series_watched": int(watched.sum()),
        "n_rows": frame.height,
        "n_series_alarmed": int((chart.n_alarms > 0).sum()),
        "n_alarms": int(chart.n_alarms.sum()),
    }
    warnings: list[str] = []
    unwatched = n_series - int(watched.sum())
    if unwatched:
        warnings.append(
            f"{unwatched} series have too few baseline values to set a centre and spread: not charted"
        )
    missing = int(frame["__value"].null_count())
    if missing:
        warnings.append(f"{missing} row(s) have no value: the EWMA carries over those periods")
    return AnalystResult(
        table=clean_floats(table),
        summary=summary,
        series_table=clean_floats(series_table),
        warnings=tuple(warnings),
    )


def _ewma_baseline(values: FloatArray, request: EwmaRequest) -> tuple[FloatArray, FloatArray, IntArray]:
    """Each series' centre and sd (given, or from its first ``baseline_periods`` values) and the number of
    baseline values; NaN where a series has too few."""
    n_series = values.shape[0]
    observed = np.isfinite(values)
    order = np.cumsum(observed, axis=1)
    in_baseline = observed & (order <= request.baseline_periods)
    points = in_baseline.sum(axis=1).astype(np.int64)
    baseline = np.where(in_baseline, values, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        if request.centre is not None:
            centre = np.full(n_series, float(request.centre))
        else:
            centre = np.where(points >= 2, np.nansum(baseline, axis=1) / np.maximum(points, 1), np.nan)
        if request.sd is not None:
            sd = np.full(n_series, float(request.sd))
        else:
            # Moving ranges between consecutive baseline values (gaps bridged, as the SPC charts bridge them).
            # the baseline values first, in time order
            key = np.where(in_baseline, order, np.iinfo(np.int64).max)
            front = np.argsort(key, axis=1, kind="stable")
            picked = np.take_along_axis(baseline, front, axis=1)
            ranges = np.abs(np.diff(picked, axis=1))
            n_ranges = np.isfinite(ranges).sum(axis=1)
            sd = np.where(n_ranges >= 1, np.nansum(ranges, axis=1) / np.maximum(n_ranges, 1) / XMR_D2, np.nan)
    return centre.astype(np.float64), sd.astype(np.float64), points


# ----------------------------------------------------------------------------------------------------------
