"""Change detection in the scan: has each organisation got worse than its own baseline?

Every watched series is put on its indicator's variance-stabilised scale against the indicator's national value
in the same period (so national trends and seasons cancel), compared with its own first year, and allowed the
indicator's within-series over-dispersion (:mod:`forewarn.stats.incontrol`). A one-sided CUSUM of the resulting
z-scores watches the direction of concern, tuned to an odds or rate ratio of ``cusum_rate_ratio`` (or a shift of
``cusum_shift_sd`` standard deviations for estimates with standard errors), with its threshold set so that a
share ``cusum_false_alarm_share`` of in-control series alarm over the indicator's whole window
(:mod:`forewarn.stats.arl.false_alarms`). The same chain gives the alarms expected by chance over the window and in
the recent periods that count as current.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
from numpy.typing import NDArray

from forewarn.domain import Polarity, concern_sides
from forewarn.stats.arl.false_alarms import cusum_window_threshold, window_false_alarms
from forewarn.stats.arrays import FloatArray, IntArray
from forewarn.stats.cusum import panel_cusum
from forewarn.stats.incontrol import (
    InControlModel,
    ScaledPanel,
    ScaleForm,
    own_baseline_model,
    scaled_counts,
    shift_in_sd,
)
from forewarn.surveillance.kinds import ESTIMATE_KINDS
from forewarn.surveillance.options import ScanOptions
from forewarn.surveillance.panel import Panel
from forewarn.surveillance.questions import METHOD_QUESTIONS
from forewarn.surveillance.windows import indicator_periods, rows_of, series_attribute


@dataclass(frozen=True)
class ChangeResult:
    """Per-series CUSUM columns, the alarm signals, and per-indicator figures for the scan summary."""

    columns: dict[str, np.ndarray]
    signals: pl.DataFrame
    indicators: dict[str, dict[str, object]]
    tau2_within: FloatArray  # (indicators,) within-series variance per period on the funnel's scale


def _cell_ratio(panel: Panel, top: FloatArray, bottom: FloatArray, use: NDArray[np.bool_]) -> FloatArray:
    """Sum of ``top`` over sum of ``bottom`` across the organisations of each (indicator, period) cell, where
    ``use``, shaped like the panel. The division is made once per cell, then spread to the series (the same
    numbers as dividing the spread sums, without two panel-sized copies); for a panel of one indicator the
    spread is a read-only view of the one row of cells (no copy at all)."""
    width = panel.value.shape[1]
    k = panel.indicators.height
    size = k * width
    one = _one_indicator(panel)
    if one is not None:  # every series of one indicator: its cells are the columns
        cell = np.broadcast_to(np.arange(width, dtype=np.int64) + one * width, use.shape)[use]
    else:
        cell = (panel.indicator_index[:, None] * width + np.arange(width)[None, :])[use]
    top_total = np.bincount(cell, weights=top[use], minlength=size)
    bottom_total = np.bincount(cell, weights=bottom[use], minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = (top_total / bottom_total).reshape(-1, width)
    if one is not None:
        return np.broadcast_to(ratio[one], use.shape)
    return np.asarray(ratio[panel.indicator_index], dtype=np.float64)


def _one_indicator(panel: Panel) -> int | None:
    """The indicator index of every series when they are all of one indicator (a partition of the scan of a
    large store), else None."""
    index = panel.indicator_index
    if index.size and index[0] == index[-1] and bool((index == index[0]).all()):
        return int(index[0])
    return None


def _rows(values: np.ndarray, rows: NDArray[np.bool_]) -> np.ndarray:
    """``values[rows]``, or ``values`` itself when every row is taken (a partition of one kind): no copy."""
    return values if rows.all() else values[rows]


def standard_errors(panel: Panel) -> FloatArray | None:
    """The panel's standard errors, where the store holds them (None before they were imported)."""
    se = getattr(panel, "standard_error", None)
    return None if se is None else np.asarray(se, dtype=np.float64)


def _counts_at_pooled_rate(panel: Panel) -> tuple[FloatArray, FloatArray]:
    """Each point's numerator where it is a usable count (NaN elsewhere), and its expected count at its cell's
    pooled rate (denominator x the cell's sum of numerators over its sum of denominators)."""
    num, den = panel.numerator, panel.denominator
    counts_ok = np.isfinite(num)
    counts_ok &= np.isfinite(den)
    counts_ok &= den > 0
    counts_ok &= num >= 0
    expected = den * _cell_ratio(panel, num, den, counts_ok)
    return np.where(counts_ok, num, np.nan), expected


def scaled_panel(panel: Panel) -> tuple[ScaledPanel, NDArray[np.object_]]:
    """Every series on its scale against its indicator's national value in the same period, and its form.

    Proportions: arcsine of numerator / denominator against the pooled proportion of the cell. Rates: square
    root of O / E with E = denominator x the cell's pooled rate. Ratios O/E: against their own expected counts.
    Means and counts with a standard error: the value against the cell's precision-weighted mean. Others:
    NaN (not watched).
    """
    kind = series_attribute(panel, "kind")
    shape = panel.value.shape
    form = np.full(panel.n_series, None, dtype=object)
    num, den = panel.numerator, panel.denominator
    parts: list[tuple[NDArray[np.bool_], ScaleForm, ScaledPanel]] = []
    proportion = kind == "proportion"
    rate = kind == "rate"
    if proportion.any() or rate.any():
        counted, expected = _counts_at_pooled_rate(panel)
        if proportion.any():
            parts.append(
                (
                    proportion,
                    "bernoulli",
                    scaled_counts(
                        _rows(counted, proportion),
                        _rows(expected, proportion),
                        form="bernoulli",
                        denominators=_rows(den, proportion),
                    ),
                )
            )
        if rate.any():
            parts.append(
                (rate, "poisson", scaled_counts(_rows(counted, rate), _rows(expected, rate), form="poisson"))
            )
        del counted, expected
    ratio = kind == "ratio_oe"
    if ratio.any():
        parts.append(
            (ratio, "poisson", scaled_counts(_rows(num, ratio), _rows(panel.expected, ratio), form="poisson"))
        )
    se = standard_errors(panel)
    estimate = np.isin(kind, ESTIMATE_KINDS)
    if se is not None and estimate.any():
        ok = np.isfinite(panel.value) & np.isfinite(se) & (se > 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            w = np.where(ok, 1.0 / (se * se), 0.0)
        weighted = _cell_ratio(panel, np.where(ok, panel.value, 0.0) * w, w, ok)
        parts.append(
            (
                estimate,
                "normal",
                scaled_counts(
                    _rows(np.where(ok, panel.value, np.nan), estimate),
                    _rows(weighted, estimate),
                    form="normal",
                    standard_error=_rows(np.where(ok, se, np.nan), estimate),
                ),
            )
        )
    if len(parts) == 1 and parts[0][0].all():  # a partition of one kind: its part is the whole panel
        rows, part_form, scaled = parts[0]
        form[:] = part_form
        return scaled, form
    y = np.full(shape, np.nan)
    variance = np.full(shape, np.nan)
    reference = np.full(shape, np.nan)
    for rows, part_form, scaled in parts:
        y[rows], variance[rows], reference[rows] = scaled.y, scaled.variance, scaled.reference
        form[rows] = part_form
    return ScaledPanel(y=y, variance=variance, reference=reference), form


_NAT_DAYS = np.iinfo(np.int64).min  # NaT as an int64


def _current_periods(panel: Panel, options: ScanOptions) -> IntArray:
    """Per indicator, how many of its latest periods count as current (those within ``alarm_current_days`` of
    its latest period; at least one)."""
    k = panel.indicators.height
    out = np.ones(k, dtype=np.int64)
    if panel.n_series == 0:
        return out
    last = panel.last_index
    n_series = panel.n_series
    latest_t = np.zeros(k, dtype=np.int64)
    np.maximum.at(latest_t, panel.indicator_index, last)
    for index in range(k):  # one small step per indicator (tens), not per series
        rows = np.flatnonzero(panel.indicator_index == index)
        if rows.size == 0:
            continue
        periods = panel.period if rows.size == n_series else panel.period[rows]
        end = periods[np.arange(rows.size), np.minimum(last[rows], periods.shape[1] - 1)].max()
        # A column holds one period of the indicator (its own axis) or NaT: its latest value is its period, so
        # the indicator's periods come from a pass over the columns, not a sort of every point.
        # As days: NaT is the least int64, below every period, so a column's maximum is its period, or NaT when
        # no series has a point there (the same as the maximum with NaT replaced by the earliest day).
        latest_day = periods.view(np.int64).max(axis=0)
        starts = latest_day[latest_day != _NAT_DAYS].view(periods.dtype)
        recent = starts > end - np.timedelta64(options.alarm_current_days, "D")
        out[index] = max(1, int(recent.sum()))
    return out


def detect_changes(panel: Panel, options: ScanOptions) -> ChangeResult:
    """One-sided CUSUMs of every watched series against its own baseline, in the direction of concern."""
    n = panel.n_series
    columns: dict[str, np.ndarray] = {
        "cusum_value": np.full(n, np.nan),
        "cusum_alarms": np.full(n, None, dtype=object),
        "cusum_last_alarm_t": np.full(n, -1, dtype=np.int64),
        "cusum_current": np.full(n, None, dtype=object),
    }
    empty = pl.DataFrame(
        schema={
            "series": pl.Int64,
            "method": pl.String,
            "rule": pl.String,
            "direction": pl.String,
            "t": pl.Int64,
            "value": pl.Float64,
        }
    )
    if n == 0:
        return ChangeResult(columns, empty, {}, np.zeros(panel.indicators.height))
    polarity = series_attribute(panel, "polarity")
    scaled, form = scaled_panel(panel)
    # Concern is a fall where higher is better: turn those series over so the CUSUM always watches upwards.
    # The side is an indicator's (tens of names), repeated for its series, not 50,000 names made text again.
    side = concern_sides(panel.indicators["polarity"].to_numpy())[panel.indicator_index]
    sign = np.where(side < 0, -1.0, 1.0)
    watched = np.not_equal(form, np.array(None, dtype=object)) & (polarity != Polarity.NEUTRAL.value)
    k_groups = panel.indicators.height
    model = own_baseline_model(
        scaled,
        panel.indicator_index,
        n_groups=k_groups,
        baseline_periods=options.cusum_baseline_periods,
        min_baseline_points=min(options.cusum_min_baseline_points, options.cusum_baseline_periods),
        trim=options.funnel_trim,
    )
    # In place: the model's z is this function's own, and past this point it is read only for where it is
    # finite (the shift's typical sd), which the sign does not change.
    z = model.z
    z *= sign[:, None]
    watched &= np.isfinite(z).any(axis=1)
    shift = np.full(n, np.nan)
    part_forms: tuple[ScaleForm, ...] = ("bernoulli", "poisson", "normal")
    for part_form in part_forms:
        rows = np.flatnonzero(form == part_form)
        if rows.size == n:  # every series of this form: the panel itself, no copies
            part, sub_model = scaled, model
        elif rows.size:
            part = ScaledPanel(scaled.y[rows], scaled.variance[rows], scaled.reference[rows])
            sub_model = _rows_of(model, rows)
        if rows.size:
            shift[rows] = shift_in_sd(
                part,
                sub_model,
                form=part_form,
                rate_ratio=options.cusum_rate_ratio,
                shift_sd=options.cusum_shift_sd,
            )
    current = _current_periods(panel, options)
    k_series = np.full(n, np.nan)
    h_series = np.full(n, np.nan)
    figures: dict[str, dict[str, object]] = {}
    codes = panel.indicators["code"].to_list()
    indices = np.unique(panel.indicator_index[watched])
    k_of = np.array(
        [float(np.nanmedian(shift[watched & (panel.indicator_index == i)])) / 2.0 for i in indices]
    )
    usable = np.isfinite(k_of) & (k_of > 0)
    indices, k_of = indices[usable], k_of[usable]
    # The window each indicator's charts run over: its periods (columns with any observation).
    periods_of = np.array([indicator_periods(panel, int(i)) for i in indices], dtype=np.int64)
    h_of = np.empty(indices.size)
    for periods in np.unique(periods_of):  # one bisection per window length, every indicator of it at once
        same = periods_of == periods
        h_of[same] = cusum_window_threshold(k_of[same], int(periods), options.cusum_false_alarm_share)
    watched &= np.isin(panel.indicator_index, indices)
    position = np.full(k_groups, -1)
    position[indices] = np.arange(indices.size)
    at = position[panel.indicator_index]
    k_series[watched] = k_of[at[watched]]
    h_series[watched] = h_of[at[watched]]
    rows = np.flatnonzero(watched)
    frames: list[pl.DataFrame] = []
    alarm_current = np.zeros(n, dtype=bool)
    if rows.size:
        result = panel_cusum(rows_of(z, rows), k_series[rows], h_series[rows])
        last = panel.last_index[rows]
        columns["cusum_value"][rows] = result.statistic[np.arange(rows.size), last]
        columns["cusum_alarms"][rows] = result.n_alarms.astype(int)
        alarm_any = result.alarm.any(axis=1)
        last_alarm = result.alarm.shape[1] - 1 - np.argmax(result.alarm[:, ::-1], axis=1)
        columns["cusum_last_alarm_t"][rows] = np.where(alarm_any, last_alarm, -1)
        latest_t = np.zeros(k_groups, dtype=np.int64)
        np.maximum.at(latest_t, panel.indicator_index, panel.last_index)
        first_current = latest_t[panel.indicator_index[rows]] - current[panel.indicator_index[rows]] + 1
        is_current = alarm_any & (last_alarm >= first_current)
        alarm_current[rows] = is_current
        columns["cusum_current"][rows] = is_current.astype(int)
        r, t = np.nonzero(result.alarm)
        series = rows[r]
        frames.append(
            pl.DataFrame(
                {
                    "series": series,
                    "method": pl.repeat("cusum", r.size, eager=True),
                    "rule": pl.repeat("alarm", r.size, eager=True),
                    "direction": pl.repeat("concern", r.size, eager=True),
                    "t": t,
                    "value": result.statistic[r, t],
                    "h": h_series[series],
                    "k": k_series[series],
                    "z": z[series, t],
                },
                schema_overrides={"series": pl.Int64, "t": pl.Int64, "value": pl.Float64},
            )
        )
    for j, index in enumerate(indices.tolist()):
        members = watched & (panel.indicator_index == index)
        chance = window_false_alarms(k_of[j], h_of[j], int(periods_of[j]))
        watched_n = int(members.sum())
        figures[str(codes[index])] = {
            "question": METHOD_QUESTIONS["cusum"],
            "k": float(k_of[j]),
            "h": float(h_of[j]),
            "tau2_within": float(model.tau2[index]),
            "phi_within": float(model.phi[index]),
            "autocorrelation": float(model.rho[index]),
            "periods": int(periods_of[j]),
            "current_periods": int(current[index]),
            "series": watched_n,
            "false_alarm_share": float(chance.any_alarm[0]),
            "alarming_series_expected": float(chance.any_alarm[0] * watched_n),
            "alarming_series": int(np.count_nonzero(columns["cusum_alarms"][members].astype(float) > 0)),
            "current_expected": float(chance.expected_alarms(int(current[index]))[0] * watched_n),
            "current": int(alarm_current[members].sum()),
        }
    signals = pl.concat(frames) if frames else empty
    return ChangeResult(columns, signals, figures, model.tau2)


def _rows_of(model: InControlModel, rows: IntArray) -> InControlModel:
    return InControlModel(
        z=model.z[rows],
        baseline=model.baseline[rows],
        baseline_variance=model.baseline_variance[rows],
        baseline_points=model.baseline_points[rows],
        tau2=model.tau2,
        phi=model.phi,
        standard_deviation=model.standard_deviation[rows],
        rho=model.rho,
    )
