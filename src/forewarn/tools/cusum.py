"""Risk-adjusted CUSUM of every series of one file: ``forewarn cusum`` and ``forewarn.cusum``."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl
from numpy.typing import NDArray

from forewarn.ingest.problems import Problem
from forewarn.stats.arl.false_alarms import cusum_window_threshold, window_false_alarms
from forewarn.stats.cusum import (
    CusumThreshold,
    RiskAdjustedCusumOptions,
    llr_cusum_threshold,
    panel_cusum,
    risk_adjusted_cusum,
)
from forewarn.stats.incontrol import ScaleForm, own_baseline_model, scaled_counts, shift_in_sd
from forewarn.surveillance.questions import METHOD_QUESTIONS
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
from forewarn.tools.output import AnalystResult, clean_floats, finite_or_none
from forewarn.tools.problems import AnalystInputError, Checks, usage_error


@dataclass(frozen=True)
class CusumRequest:
    """Columns and options of ``forewarn cusum`` (see :func:`forewarn.stats.cusum.risk_adjusted_cusum`).

    ``baseline="own"`` (the default) asks "has each series got worse than its own first ``baseline_periods``
    periods?": the counts go on the funnel's variance-stabilised scale against the expected counts, each series
    is compared with its own baseline, the period-to-period over-dispersion of the file's series is allowed for
    (tau_w^2, unless ``overdispersion`` is False), and a one-sided CUSUM of the z-scores tuned to ``rate_ratio``
    runs with h set so that a share ``false_alarm_share`` of in-control series alarm over the file's window
    (:mod:`forewarn.stats.incontrol`, :mod:`forewarn.stats.arl.false_alarms`). This is what the scan runs.

    ``baseline="given"`` is the classical risk-adjusted CUSUM (Steiner et al. 2000) against the expected counts
    as given, for expected counts from a case-mix model the user vouches for. With ``threshold`` None, h is
    chosen for ``target_arl`` by :func:`forewarn.stats.cusum.llr_cusum_threshold`; a target the chart cannot
    approach (counts so large that every h alarms on a single period's excess) is refused.
    """

    period_col: str
    observed_col: str
    expected_col: str
    series_col: str | None = None
    denominator_col: str | None = None
    rate_ratio: float = 2.0
    target_arl: float = 60.0
    form: Literal["poisson", "bernoulli"] = "poisson"
    threshold: float | None = None
    threshold_method: Literal["markov", "simulation"] = "markov"
    head_start: float = 0.0
    reset: Literal["zero", "head_start"] = "zero"
    seed: int = 20000441
    sheet: str | None = None
    baseline: Literal["own", "given"] = "own"
    baseline_periods: int = 12
    overdispersion: bool = True
    false_alarm_share: float = 0.05


def cusum_file(path: Path, request: CusumRequest) -> AnalystResult:
    """:func:`cusum_frame` of a CSV, Excel (``request.sheet``) or Parquet file."""
    return cusum_frame(FileInput(path, request.sheet), request)


def cusum_frame(data: AnalystInput | pl.DataFrame, request: CusumRequest) -> AnalystResult:
    """Risk-adjusted CUSUM of observed against expected counts for every series of one file.

    Returns
    -------
    AnalystResult
        ``table``: one row per period (series, period, observed, expected, [denominator], increment W,
        statistic S, alarm). ``series_table``: per series, periods, totals, O/E, alarms, first alarm and the
        last S. ``summary``: the threshold h, its in-control ARL and how it was found.
    """
    reader = as_input(data)
    source = reader.name
    try:
        options = RiskAdjustedCusumOptions(
            rate_ratio=request.rate_ratio,
            form=request.form,
            head_start=request.head_start,
            reset=request.reset,
        )
        if request.form == "bernoulli" and request.denominator_col is None:
            raise ValueError("--form bernoulli needs --denominator-col (cases per period)")
        if request.threshold is not None and not (math.isfinite(request.threshold) and request.threshold > 0):
            raise ValueError(f"--threshold must be a positive number; got {request.threshold}")
        if request.baseline == "own" and request.threshold is not None:
            raise ValueError(
                "--threshold applies to --baseline given; --baseline own sets h from --false-alarms"
            )
        if not 0 < request.false_alarm_share < 1:
            raise ValueError(f"--false-alarms must be between 0 and 1; got {request.false_alarm_share}")
        if request.baseline_periods < 2:
            raise ValueError(f"--baseline-periods must be at least 2; got {request.baseline_periods}")
    except ValueError as exc:
        raise usage_error(source, str(exc)) from None
    columns = {
        "--period-col": request.period_col,
        "--observed-col": request.observed_col,
        "--expected-col": request.expected_col,
    }
    if request.series_col is not None:
        columns = {"--series-col": request.series_col, **columns}
    if request.denominator_col is not None:
        columns["--denominator-col"] = request.denominator_col
    frame = reader.read(columns)
    checks = Checks(source)
    frame = with_series(frame, request.series_col, checks)
    frame, _ = parse_periods(frame, request.period_col, checks)
    frame = parse_numbers(frame, request.observed_col, "__obs", checks, required=False)
    frame = parse_numbers(frame, request.expected_col, "__exp", checks, required=False)
    o, e = pl.col("__obs"), pl.col("__exp")
    checks.add(
        frame.filter(o < 0), request.observed_col, pl.col(request.observed_col), "must not be negative"
    )
    checks.add(
        frame.filter(e < 0), request.expected_col, pl.col(request.expected_col), "must not be negative"
    )
    if request.denominator_col is not None:
        den = request.denominator_col
        frame = parse_numbers(frame, den, "__den", checks, required=False)
        n = pl.col("__den")
        checks.add(
            frame.filter(n == 0),
            den,
            pl.col(den),
            "denominator is 0: leave the row out (or the cell empty) for a period without cases",
        )
        checks.add(frame.filter(n < 0), den, pl.col(den), "denominator must be positive")
        if request.form == "bernoulli":
            checks.add(
                frame.filter((o > n) & (n > 0)),
                request.observed_col,
                pl.col(request.observed_col),
                pl.format(
                    "observed exceeds the denominator ({}): deaths cannot outnumber cases", pl.col(den)
                ),
            )
            checks.add(
                frame.filter((e > n) & (n > 0)),
                request.expected_col,
                pl.col(request.expected_col),
                pl.format("expected exceeds the denominator ({})", pl.col(den)),
            )
    check_duplicate_periods(frame, request.period_col, request.series_col, checks)
    checks.raise_if_any()

    frame, series_names, width = panel_positions(frame)
    frame = frame.sort("__s", "__t")
    n_series = len(series_names)
    observed = scatter(frame, "__obs", n_series, width)
    expected = scatter(frame, "__exp", n_series, width)
    # A period with either count missing adds nothing: S carries over.
    gap = np.isnan(observed) | np.isnan(expected)
    observed[gap] = np.nan
    expected[gap] = np.nan
    denominators = None
    if request.denominator_col is not None:
        denominators = scatter(frame, "__den", n_series, width)
    if not np.isfinite(expected).any():
        raise AnalystInputError(
            [Problem(source, None, request.expected_col, None, "no period has both counts")]
        )
    if request.baseline == "own":
        return _own_baseline_cusum(
            source, request, frame, observed, expected, denominators, gap, n_series, width
        )
    try:
        if request.threshold is None:
            found = llr_cusum_threshold(
                request.target_arl,
                expected,
                rate_ratio=request.rate_ratio,
                form=request.form,
                denominators=denominators if request.form == "bernoulli" else None,
                method=request.threshold_method,
                seed=request.seed,
            )
        else:
            found = CusumThreshold(
                h=float(request.threshold),
                arl=math.nan,
                arl_standard_error=math.nan,
                method="given",
                expected=math.nan,
            )
        _refuse_degenerate_threshold(found, request)
        result = risk_adjusted_cusum(
            observed,
            expected,
            found.h,
            denominators=denominators if request.form == "bernoulli" else None,
            options=options,
        )
    except ValueError as exc:
        raise usage_error(source, str(exc)) from None
    log_ratio = math.log(request.rate_ratio)
    if request.form == "poisson" or denominators is None:
        increment = observed * log_ratio - (request.rate_ratio - 1.0) * expected
    else:
        risk = np.divide(expected, denominators, out=np.zeros_like(expected), where=denominators > 0)
        increment = observed * log_ratio - denominators * np.log1p((request.rate_ratio - 1.0) * risk)
    has_value = ~at_rows(gap, frame)
    columns_out: dict[str, Any] = {
        "series": frame[SERIES],
        "period": frame[PERIOD],
        "observed": frame["__obs"],
        "expected": frame["__exp"],
    }
    if request.denominator_col is not None:
        columns_out["denominator"] = frame["__den"]
    columns_out["increment"] = at_rows(increment, frame)
    columns_out["statistic"] = at_rows(result.statistic, frame)
    columns_out["alarm"] = masked_series(at_rows(result.alarm, frame), has_value)
    table = pl.DataFrame(columns_out)
    per_series = (
        table.with_columns(pl.col("series").cast(pl.String))
        .group_by("series", maintain_order=True)
        .agg(
            pl.col("alarm").is_not_null().sum().alias("periods"),
            pl.col("observed").filter(pl.col("alarm").is_not_null()).sum().alias("observed"),
            pl.col("expected").filter(pl.col("alarm").is_not_null()).sum().alias("expected"),
            pl.col("alarm").sum().cast(pl.Int64).alias("n_alarms"),
            pl.col("period").filter(pl.col("alarm")).first().alias("first_alarm"),
            pl.col("statistic").drop_nulls().drop_nans().last().alias("last_statistic"),
        )
        .with_columns((pl.col("observed") / pl.col("expected")).alias("observed_over_expected"))
    )
    series_table = per_series.with_columns(pl.lit(found.h).alias("threshold"))
    summary: dict[str, Any] = {
        "form": request.form,
        "rate_ratio": float(request.rate_ratio),
        "target_arl": None if request.threshold is not None else float(request.target_arl),
        "threshold": float(found.h),
        "threshold_method": found.method,
        "arl_at_threshold": finite_or_none(found.arl),
        "arl_standard_error": finite_or_none(found.arl_standard_error),
        "typical_expected": finite_or_none(found.expected),
        "n_series": n_series,
        "n_rows": frame.height,
        "n_series_alarmed": int((result.n_alarms > 0).sum()),
        "n_alarms": int(result.n_alarms.sum()),
    }
    warnings: tuple[str, ...] = ()
    missing = int(gap.sum() - (n_series * width - frame.height))
    if missing:
        warnings = (
            f"{missing} row(s) lack the observed or expected count: the CUSUM carries over those periods",
        )
    return AnalystResult(
        table=clean_floats(table),
        summary=summary,
        series_table=clean_floats(series_table),
        warnings=warnings,
    )


def _refuse_degenerate_threshold(found: CusumThreshold, request: CusumRequest) -> None:
    """A target ARL the chart cannot approach: even the smallest lattice h runs far longer in control, so
    any single period with ``O ln R > (R - 1) E`` alarms. Refuse it rather than print a collapsed h."""
    if request.threshold is None and not (math.isfinite(found.arl) and found.arl <= 10 * request.target_arl):
        arl = f"{found.arl:.3g}" if math.isfinite(found.arl) else "too long to compute"
        raise ValueError(
            f"no threshold gives an in-control ARL near {request.target_arl:g}: with about {found.expected:.4g} "
            f"expected events a period even the smallest h ({found.h:.3g}) gives an ARL of {arl}, so "
            "the chart would alarm on any single period's excess and over-dispersed data alarm all the time. "
            "Use --baseline own (against each series' own baseline, over-dispersion allowed for), or a rate "
            "ratio closer to 1"
        )


def _own_baseline_cusum(
    source: str,
    request: CusumRequest,
    frame: pl.DataFrame,
    observed: NDArray[np.float64],
    expected: NDArray[np.float64],
    denominators: NDArray[np.float64] | None,
    gap: NDArray[np.bool_],
    n_series: int,
    width: int,
) -> AnalystResult:
    """The scan's change detection on a file: z-scores against each series' own baseline, CUSUM upwards."""
    form: ScaleForm = "bernoulli" if request.form == "bernoulli" else "poisson"
    try:
        scaled = scaled_counts(observed, expected, form=form, denominators=denominators)
        model = own_baseline_model(
            scaled,
            np.zeros(n_series, dtype=np.int64),
            n_groups=1,
            baseline_periods=request.baseline_periods,
            min_baseline_points=min(4, request.baseline_periods),
            overdispersion=request.overdispersion,
        )
    except ValueError as exc:
        raise usage_error(source, str(exc)) from None
    # A ratio below 1 watches for falls: turn the z-scores over so the chart always accumulates upwards.
    upward = request.rate_ratio > 1
    z = model.z if upward else -model.z
    ratio = request.rate_ratio if upward else 1.0 / request.rate_ratio
    shift = shift_in_sd(scaled, model, form=form, rate_ratio=ratio, shift_sd=1.0)
    if not np.isfinite(shift).any():
        raise AnalystInputError(
            [
                Problem(
                    source,
                    None,
                    request.observed_col,
                    None,
                    f"no series has {min(4, request.baseline_periods)} baseline periods with counts to compare with",
                )
            ]
        )
    k = float(np.nanmedian(shift)) / 2.0
    periods = int(width)
    h = float(cusum_window_threshold(k, periods, request.false_alarm_share)[0])
    chance = window_false_alarms(k, h, periods)
    watched: NDArray[np.bool_] = np.asarray(np.isfinite(z).any(axis=1), dtype=bool)
    result = panel_cusum(np.where(watched[:, None], z, np.nan), k, h)
    has_value = ~at_rows(gap, frame)
    columns_out: dict[str, Any] = {
        "series": frame[SERIES],
        "period": frame[PERIOD],
        "observed": frame["__obs"],
        "expected": frame["__exp"],
    }
    if denominators is not None:
        columns_out["denominator"] = frame["__den"]
    columns_out["z"] = at_rows(z, frame)
    columns_out["statistic"] = at_rows(np.where(np.isfinite(z), result.statistic, np.nan), frame)
    columns_out["alarm"] = masked_series(
        at_rows(result.alarm, frame), has_value & np.isfinite(at_rows(z, frame))
    )
    table = pl.DataFrame(columns_out)
    series_table = (
        table.with_columns(pl.col("series").cast(pl.String))
        .group_by("series", maintain_order=True)
        .agg(
            pl.col("alarm").is_not_null().sum().alias("periods"),
            pl.col("alarm").sum().cast(pl.Int64).alias("n_alarms"),
            pl.col("period").filter(pl.col("alarm")).first().alias("first_alarm"),
            pl.col("period").filter(pl.col("alarm")).last().alias("last_alarm"),
            pl.col("statistic").drop_nulls().drop_nans().last().alias("last_statistic"),
        )
        .with_columns(
            pl.Series("baseline", model.baseline),
            pl.Series("baseline_points", model.baseline_points),
            pl.lit(k).alias("k"),
            pl.lit(h).alias("threshold"),
        )
    )
    alarmed = int((result.n_alarms > 0).sum())
    summary: dict[str, Any] = {
        "form": request.form,
        "baseline": "own",
        "question": METHOD_QUESTIONS["cusum"],
        "rate_ratio": float(request.rate_ratio),
        "baseline_periods": request.baseline_periods,
        "overdispersion": request.overdispersion,
        "tau2_within": float(model.tau2[0]),
        "phi_within": float(model.phi[0]),
        "autocorrelation": float(model.rho[0]),
        "k": k,
        "threshold": h,
        "threshold_method": "false-alarm share over the window (Markov chain)",
        "false_alarm_share": float(request.false_alarm_share),
        "false_alarm_share_achieved": float(chance.any_alarm[0]),
        "periods": periods,
        "n_series": n_series,
        "n_series_watched": int(watched.sum()),
        "n_rows": frame.height,
        "n_series_alarmed": alarmed,
        "n_series_alarmed_expected_by_chance": float(chance.any_alarm[0] * watched.sum()),
        "n_alarms": int(result.n_alarms.sum()),
        "n_alarms_expected_by_chance": float(chance.expected_alarms()[0] * watched.sum()),
    }
    warnings: list[str] = []
    unwatched = n_series - int(watched.sum())
    if unwatched:
        warnings.append(
            f"{unwatched} series have too few baseline periods with counts to be watched (no z-scores)"
        )
    return AnalystResult(
        table=clean_floats(table),
        summary=summary,
        series_table=clean_floats(series_table),
        warnings=tuple(warnings),
    )
