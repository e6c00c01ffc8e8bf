"""SPC charts of every series of one file: ``forewarn spc`` and ``forewarn.spc``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl
from numpy.typing import NDArray

from forewarn.domain import Improvement
from forewarn.ingest.readers import ROW
from forewarn.stats.arrays import FloatArray, IntArray
from forewarn.stats.runs import run_chart
from forewarn.stats.spc import AssuranceType, PointType, SpcOptions, xmr_chart
from forewarn.tools.cells import (
    KEY,
    PERIOD,
    PERIOD_FORMS,
    SERIES,
    at_rows,
    check_duplicate_periods,
    masked_series,
    panel_positions,
    parse_numbers,
    parse_periods,
    period_key,
    scatter,
    with_series,
)
from forewarn.tools.inputs import AnalystInput, FileInput, as_input
from forewarn.tools.output import AnalystResult, clean_floats
from forewarn.tools.problems import Checks, usage_error

SpcRules = Literal["mdc", "anhoej"]

SHORT_GROUP_MESSAGE = (
    "Some groups have 'n < 12' observations. These have trial limits, which will be revised with each "
    "additional observation until 'n = fix_after_n_points' has been reached."
)
"""NHSRplotthedots' short-group warning, word for word (its threshold is 13 points, whatever the text says)."""


@dataclass(frozen=True)
class SpcRequest:
    """Columns and options of ``forewarn spc``.

    ``rebase`` holds dates (a new chart segment starts at the first period on or after each) or
    ``SERIES=DATE`` for one series. ``fix_after`` fixes the limits (XmR, at least 12 points) or the median
    (run chart, qicharts2 ``freeze``) from the first points of each segment.
    """

    period_col: str
    value_col: str
    series_col: str | None = None
    improvement: Improvement = "increase"
    target: float | None = None
    fix_after: int | None = None
    rebase: tuple[str, ...] = ()
    rules: SpcRules = "mdc"
    shift_length: int = 7
    trend_length: int = 7
    screen_outliers: bool = True
    sheet: str | None = None


def spc_file(path: Path, request: SpcRequest) -> AnalystResult:
    """:func:`spc_frame` of a CSV, Excel (``request.sheet``) or Parquet file."""
    return spc_frame(FileInput(path, request.sheet), request)


def spc_frame(data: AnalystInput | pl.DataFrame, request: SpcRequest) -> AnalystResult:
    """SPC charts of every series in one file, all in one vectorised call.

    ``rules="mdc"``: XmR charts with the Making Data Count rules (NHSRplotthedots ``ptd_spc``); one row per
    point with its segment, centre line (mean), limits, rule flags, special-cause label and point type, and one
    row per series segment (mean, limits, counts, variation and assurance). ``rules="anhoej"``: run charts
    (qicharts2 ``qic(chart = "run")``); centre line = median and, per segment, the longest run, crossings and
    signal.
    """
    reader = as_input(data)
    source = reader.name
    columns = {"--period-col": request.period_col, "--value-col": request.value_col}
    if request.series_col is not None:
        columns = {"--series-col": request.series_col, **columns}
    options: SpcOptions | None = None
    try:
        if request.rules == "mdc":
            options = SpcOptions(
                improvement=request.improvement,
                fix_after_n_points=request.fix_after,
                shift_length=request.shift_length,
                trend_length=request.trend_length,
                screen_outliers=request.screen_outliers,
                target=request.target,
            )
        elif request.fix_after is not None and request.fix_after < 1:
            raise ValueError(f"--fix-after must be a positive number of points; got {request.fix_after}")
    except ValueError as exc:
        raise usage_error(source, str(exc)) from None
    frame = reader.read(columns)
    checks = Checks(source)
    frame = with_series(frame, request.series_col, checks)
    frame, kind = parse_periods(frame, request.period_col, checks)
    frame = parse_numbers(frame, request.value_col, "__value", checks, required=False)
    check_duplicate_periods(frame, request.period_col, request.series_col, checks)
    checks.raise_if_any()

    frame = _with_phase(frame, request.rebase, kind, source, request.series_col)
    min_points = 2 if request.rules == "mdc" else 1
    _check_segment_lengths(frame, request, min_points, checks)
    checks.raise_if_any()

    frame, series_names, width = panel_positions(frame)
    frame = frame.sort("__s", "__t")
    values = scatter(frame, "__value", len(series_names), width)
    phase = scatter(frame, "__phase", len(series_names), width)
    phase_panel = None if not request.rebase else np.nan_to_num(phase, nan=0.0).astype(np.int64)
    missing = int(frame["__value"].null_count())
    warnings: list[str] = []
    if missing:
        warnings.append(
            f"{missing} row(s) have no value: they are left out of the charts (the moving range bridges them)"
        )
    if options is not None:  # the XmR chart ("mdc"); the run chart has no SpcOptions
        result = _xmr_result(frame, values, phase_panel, options, series_names)
    else:
        result = _run_result(frame, values, phase_panel, request.fix_after, series_names)
    result.summary.update(
        {
            "rules": request.rules,
            "improvement": request.improvement,
            "target": request.target,
            "fix_after": request.fix_after,
            "rebase": list(request.rebase),
            "n_series": len(series_names),
            "n_rows": frame.height,
            "n_missing_values": missing,
        }
    )
    return replace(result, warnings=tuple(warnings) + result.warnings)


def _with_phase(
    frame: pl.DataFrame, rebase: Sequence[str], kind: str, source: str, series_col: str | None
) -> pl.DataFrame:
    """``__phase``: how many rebase dates (for all series, or for the row's series) are on or before the row."""
    if not rebase:
        return frame.with_columns(pl.lit(0.0).alias("__phase"))
    global_keys: list[float] = []
    per_series: list[tuple[str, float]] = []
    for item in rebase:
        series, _, label = item.rpartition("=")
        key = period_key(label, kind)
        if key is None:
            raise usage_error(
                source,
                f"--rebase {item!r}: not a period in the form of the file's periods ({PERIOD_FORMS[kind]})",
            )
        if series:
            if series_col is None:
                raise usage_error(source, f"--rebase {item!r} names a series, but no --series-col was given")
            per_series.append((series, key))
        else:
            global_keys.append(key)
    keys = frame[KEY].to_numpy()
    phase = np.searchsorted(np.sort(np.asarray(global_keys, dtype=np.float64)), keys, side="right").astype(
        np.float64
    )
    frame = frame.with_columns(pl.Series("__phase", phase))
    if per_series:
        marks = pl.DataFrame(
            {SERIES: [s for s, _ in per_series], KEY: [k for _, k in per_series]},
            schema={SERIES: pl.String, KEY: pl.Float64},
        )
        known = set(frame[SERIES].unique().to_list())
        unknown = [s for s, _ in per_series if s not in known]
        if unknown:
            raise usage_error(
                source, f"--rebase names a series that is not in the file: {unknown[0]!r}", series_col
            )
        # Each row meets its own series' few rebase marks; the marks on or before it add to its phase.
        own = (
            frame.select(ROW, SERIES, KEY)
            .join(marks.rename({KEY: "__mark"}), on=SERIES, how="inner")
            .group_by(ROW)
            .agg((pl.col("__mark") <= pl.col(KEY)).sum().cast(pl.Float64).alias("__own"))
        )
        frame = (
            frame.join(own, on=ROW, how="left", maintain_order="left")
            .with_columns((pl.col("__phase") + pl.col("__own").fill_null(0.0)).alias("__phase"))
            .drop("__own")
        )
    return frame


def _check_segment_lengths(frame: pl.DataFrame, request: SpcRequest, min_points: int, checks: Checks) -> None:
    segments = frame.group_by(SERIES, "__phase").agg(
        pl.col("__value").count().alias("__n"),
        pl.col(ROW).min(),
        pl.col(request.period_col).sort_by(KEY).first().alias("__from"),
    )
    short = segments.filter(pl.col("__n") < min_points)
    what = "series 'all'" if request.series_col is None else None
    label = pl.lit(what) if what else pl.format("series '{}'", pl.col(SERIES))
    rebased = (
        pl.when(pl.col("__phase") > 0)
        .then(pl.format(" from {} (after a rebase)", pl.col("__from")))
        .otherwise(pl.lit(""))
    )
    message = pl.concat_str(
        label,
        rebased,
        pl.format(
            " has {} point(s) with a value: too short for a chart, which needs at least {}",
            pl.col("__n"),
            pl.lit(min_points),
        ),
    )
    checks.add(short, request.value_col, None, message)


def _xmr_result(
    frame: pl.DataFrame,
    values: FloatArray,
    phase: IntArray | None,
    options: SpcOptions,
    series_names: list[str],
) -> AnalystResult:
    chart = xmr_chart(values, options, phase=phase)
    observed = frame["__value"].is_not_null().to_numpy()
    point_labels = np.array([p.label for p in PointType], dtype=object)
    cause_labels = np.array(chart.special_cause_labels, dtype=object)

    def at(values_: NDArray[Any]) -> NDArray[Any]:
        return at_rows(values_, frame)

    def masked(values_: NDArray[Any]) -> pl.Series:
        return masked_series(at(values_), observed)

    segment = at(chart.segment_index)
    summary_rows = chart.summary
    short = summary_rows.short_group_warning
    table = pl.DataFrame(
        {
            "series": frame[SERIES],
            "period": frame[PERIOD],
            "value": frame["__value"],
            "segment": masked(chart.segment),
            "short_group_warning": masked(chart.short_group_warning),
            "mean": masked(chart.mean),
            "lpl": masked(chart.lpl),
            "upl": masked(chart.upl),
            "outside_limits": masked(chart.outside_limits),
            "relative_to_mean": masked(chart.relative_to_mean.astype(np.int64)),
            "close_to_limits": masked(chart.close_to_limits),
            "shift": masked(chart.shift),
            "trend": masked(chart.trend),
            "two_in_three": masked(chart.two_in_three),
            "special_cause_type": masked(cause_labels[chart.special_cause_type]),
            "special_cause_flag": masked(chart.special_cause_flag),
            "point_type": masked(point_labels[chart.point_type]),
            "target": pl.Series(
                [options.target if isinstance(options.target, float) else None] * frame.height,
                dtype=pl.Float64,
            ),
        }
    )
    first_period = (
        pl.DataFrame({"__seg": segment, "__period": table["period"], KEY: frame[KEY]})
        .filter(pl.col("__seg") >= 0)
        # rows are in series-then-time order, so each segment's rows are in time order
        .group_by("__seg", maintain_order=True)
        .agg(pl.col("__period").first(), pl.col("__period").last().alias("__last"))
        .sort("__seg")
    )
    assurance_names = np.array([a.label for a in AssuranceType], dtype=object)
    series_table = pl.DataFrame(
        {
            "series": np.asarray(series_names, dtype=object)[summary_rows.series],
            "segment": summary_rows.segment,
            "from_period": first_period["__period"],
            "to_period": first_period["__last"],
            "mean": summary_rows.mean,
            "lpl": summary_rows.lpl,
            "upl": summary_rows.upl,
            "n": summary_rows.n,
            "common_cause": summary_rows.common_cause,
            "special_cause_improvement": summary_rows.special_cause_improvement,
            "special_cause_concern": summary_rows.special_cause_concern,
            "variation_type": point_labels[summary_rows.variation],
            "assurance_type": pl.Series(assurance_names[summary_rows.assurance], dtype=pl.String),
            "short_group_warning": short,
        }
    )
    last = series_table.filter(pl.Series(summary_rows.is_last))
    warnings: tuple[str, ...] = ()
    if short.any():
        listed = series_table.filter(pl.col("short_group_warning"))
        groups = "; ".join(
            f"{s} segment {g} ({n} points)"
            for s, g, n in listed.select("series", "segment", "n").head(10).rows()
        )
        more = "" if listed.height <= 10 else f"; and {listed.height - 10} more"
        warnings = (f"{SHORT_GROUP_MESSAGE} [{groups}{more}]",)
    summary: dict[str, Any] = {
        "variation": _counts(last["variation_type"]),
        "assurance": _counts(last["assurance_type"].fill_null("not_assessed")),
        "n_segments": series_table.height,
        "n_short_segments": int(short.sum()),
    }
    return AnalystResult(
        table=clean_floats(table),
        summary=summary,
        series_table=clean_floats(series_table),
        warnings=warnings,
    )


def _run_result(
    frame: pl.DataFrame,
    values: FloatArray,
    phase: IntArray | None,
    freeze: int | None,
    series_names: list[str],
) -> AnalystResult:
    chart = run_chart(values, phase=phase, freeze=freeze)
    observed = frame["__value"].is_not_null().to_numpy()
    segment_index = at_rows(chart.segment_index, frame)
    centre = at_rows(chart.centre_line, frame)
    segment = chart.segment[np.maximum(segment_index, 0)]
    table = pl.DataFrame(
        {
            "series": frame[SERIES],
            "period": frame[PERIOD],
            "value": frame["__value"],
            "segment": masked_series(segment, observed),
            "centre": masked_series(centre, observed),
        }
    )
    runs = chart.runs
    series_table = pl.DataFrame(
        {
            "series": [series_names[i] for i in chart.series],
            "segment": chart.segment,
            "centre": chart.centre,
            "n_obs": runs.n_obs,
            "n_useful": runs.n_useful,
            "longest_run": runs.longest_run,
            "longest_run_max": runs.longest_run_max,
            "n_crossings": runs.n_crossings,
            "n_crossings_min": runs.n_crossings_min,
            "runs_signal": runs.runs_signal,
        }
    )
    summary: dict[str, Any] = {
        "n_segments": series_table.height,
        "n_signals": int(runs.runs_signal.sum()),
    }
    return AnalystResult(table=clean_floats(table), summary=summary, series_table=clean_floats(series_table))


def _counts(labels: pl.Series) -> dict[str, int]:
    counted = labels.value_counts(sort=True)
    return {str(k): int(v) for k, v in counted.rows()}
