"""Every surveillance method over a whole :class:`Panel` at once: SPC, funnels with FDR, CUSUM and rank intervals.

Nothing here loops over series: each method is one call into ``forewarn.stats`` per indicator kind or polarity,
and the results come back as two Polars frames (one row per series; one row per signal).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import polars as pl
from numpy.typing import NDArray

from forewarn.domain import Polarity, improvement_direction
from forewarn.stats.arrays import FloatArray, IntArray
from forewarn.stats.estimate_funnel import estimate_funnel
from forewarn.stats.funnel import DataType, FunnelOptions, Overdispersion, funnel_statistics
from forewarn.stats.spc import AssuranceType, PointType, SpcOptions, XmrChart, xmr_chart
from forewarn.stats.trend import linear_trend
from forewarn.surveillance.change import detect_changes
from forewarn.surveillance.kinds import ESTIMATE_KINDS
from forewarn.surveillance.options import ScanOptions
from forewarn.surveillance.panel import Panel
from forewarn.surveillance.ranking import latest_rank_intervals
from forewarn.surveillance.spc_chance import expected_spc_concerns
from forewarn.surveillance.storewide import (
    IndicatorPart,
    funnel_fdr,
    funnel_signal_frame,
    indicator_parts,
    ordered_signals,
    scan_summary,
)
from forewarn.surveillance.windows import (
    indicator_periods,
    latest_period_units,
    rows_of,
    series_attribute,
    window_estimates,
    window_sums,
)

SPC_BLOCK_SERIES = 200_000
POINT_TYPE_NAMES = {int(p): p.label for p in PointType}
POINT_DIRECTION = {
    int(PointType.COMMON_CAUSE): "neutral",
    int(PointType.SPECIAL_CAUSE_IMPROVEMENT): "improvement",
    int(PointType.SPECIAL_CAUSE_CONCERN): "concern",
    int(PointType.SPECIAL_CAUSE_NEUTRAL_HIGH): "neutral",
    int(PointType.SPECIAL_CAUSE_NEUTRAL_LOW): "neutral",
}
ASSURANCE_NAMES = {int(a): a.label for a in AssuranceType}
VARIATION_LOOKUP = np.array([POINT_TYPE_NAMES.get(i) for i in range(max(POINT_TYPE_NAMES) + 1)], dtype=object)
ASSURANCE_LOOKUP = np.array([ASSURANCE_NAMES.get(i) for i in range(max(ASSURANCE_NAMES) + 1)], dtype=object)
DIRECTION_NAMES = pl.Series([POINT_DIRECTION.get(i, "neutral") for i in range(max(POINT_DIRECTION) + 1)])
FUNNEL_KINDS = ("proportion", "ratio_oe", "rate")
# Proportions are binomial (PR); ratios O/E and rates, as ratios to the indicator's pooled rate, are Poisson (SR).
FUNNEL_DATA_TYPES: tuple[tuple[DataType, tuple[str, ...]], ...] = (
    ("PR", ("proportion",)),
    ("SR", ("ratio_oe", "rate")),
)
# Means and counts with a standard error (ESTIMATE_KINDS): estimates against precision.
ESTIMATE_DATA_TYPE = "N"
# Winsorising on the square-root scale copes with zero counts, which the SHMI log scale cannot.
FUNNEL_OVERDISPERSION: Overdispersion = "cqc"


@dataclass(frozen=True)
class SurveillanceResult:
    """Per-series status and every signal, plus the scan-wide figures (tests, flags, flags expected by chance)."""

    status: pl.DataFrame
    signals: pl.DataFrame
    summary: dict[str, object]


def _take_last(values: FloatArray, last: IntArray) -> FloatArray:
    return values[np.arange(values.shape[0]), last] if values.size else np.empty(0)


def usable_phase(panel: Panel, phase: IntArray | None, rows: IntArray) -> IntArray | None:
    """The rebase phases of ``rows``, dropping a series' rebases when any of its segments has under 2 points
    (an XmR chart needs a moving range; such a rebase is ignored rather than stopping the whole scan)."""
    if phase is None:
        return None
    sub = phase[rows]
    observed = ~np.isnan(panel.value[rows])
    width = int(sub.max()) + 1
    keys = np.arange(rows.size)[:, None] * width + sub
    counts = np.bincount(keys[observed], minlength=rows.size * width).reshape(rows.size, width)
    present = np.zeros((rows.size, width), dtype=bool)
    present[np.repeat(np.arange(rows.size), observed.sum(axis=1)), sub[observed]] = True
    too_short = np.asarray((present & (counts < 2)).any(axis=1), dtype=bool)
    return np.where(too_short[:, None], 0, sub)


def _spc(
    panel: Panel, options: ScanOptions, phase: IntArray | None
) -> tuple[dict[str, np.ndarray], pl.DataFrame]:
    n = panel.n_series
    out: dict[str, np.ndarray] = {
        "spc_variation": np.full(n, None, dtype=object),
        "spc_assurance": np.full(n, None, dtype=object),
        "spc_mean": np.full(n, np.nan),
        "spc_lpl": np.full(n, np.nan),
        "spc_upl": np.full(n, np.nan),
        # Point-type characters per series x period (0 where the series has no SPC chart): one byte a point.
        "spc_points": np.zeros(panel.value.shape, dtype=np.uint8),
        "spc_segments": np.full(n, None, dtype=object),
    }
    polarity = series_attribute(panel, "polarity")
    targets = np.asarray(
        panel.indicators["target"].fill_null(np.nan).to_numpy()[panel.indicator_index], dtype=float
    )
    signal_frames: list[pl.DataFrame] = []
    last = panel.last_index
    for pol in Polarity:
        improvement = improvement_direction(pol)
        charted = np.flatnonzero((polarity == pol.value) & (panel.n_points >= options.spc_min_points))
        # Blocks of series bound the memory of the chart arrays; each block is one vectorised call.
        for rows in np.array_split(charted, max(1, -(-charted.size // SPC_BLOCK_SERIES))):
            if rows.size:
                _spc_block(panel, options, phase, improvement, targets, rows, last, out, signal_frames)
    return out, pl.concat(signal_frames) if signal_frames else _empty_signals()


def _segment_figures(chart: XmrChart, r: IntArray, t: IntArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """The segment's mean, lower and upper limit at points (r, t) of the chart, NaN where the point is missing:
    the chart's ``mean``, ``lpl`` and ``upl`` panels at those points, without making the panels (each point's
    segment looked up once for the three)."""
    segment = chart.segment_index[r, t]
    charted = segment >= 0
    np.maximum(segment, 0, out=segment)
    summary = chart.summary
    return (
        np.where(charted, summary.mean[segment], np.nan),
        np.where(charted, summary.lpl[segment], np.nan),
        np.where(charted, summary.upl[segment], np.nan),
    )


def _spc_block(
    panel: Panel,
    options: ScanOptions,
    phase: IntArray | None,
    improvement: str,
    targets: FloatArray,
    rows: IntArray,
    last: IntArray,
    out: dict[str, np.ndarray],
    signal_frames: list[pl.DataFrame],
) -> None:
    values, period = rows_of(panel.value, rows), rows_of(panel.period, rows)
    chart = xmr_chart(
        values,
        SpcOptions(
            improvement=improvement,  # type: ignore[arg-type]
            shift_length=options.spc_shift_length,
            trend_length=options.spc_trend_length,
            target=targets[rows],
        ),
        phase=usable_phase(panel, phase, rows),
    )
    out["spc_variation"][rows] = VARIATION_LOOKUP[chart.variation]
    out["spc_assurance"][rows] = ASSURANCE_LOOKUP[chart.assurance]
    at = last[rows]
    idx = np.arange(rows.size)
    out["spc_mean"][rows], out["spc_lpl"][rows], out["spc_upl"][rows] = _segment_figures(chart, idx, at)
    out["spc_points"][rows] = point_code_matrix(chart.point_type, values, period)
    for row, segments in segment_limits(chart, period).items():
        out["spc_segments"][rows[row]] = json.dumps(segments)
    r, t = np.nonzero(chart.special_cause_flag)
    if r.size:
        rule_names = pl.Series(list(chart.special_cause_labels), dtype=pl.String)
        mean, lpl, upl = _segment_figures(chart, r, t)
        signal_frames.append(
            pl.DataFrame(
                {
                    "series": rows[r],
                    "method": pl.repeat("spc", r.size, eager=True),
                    "rule": rule_names.gather(chart.special_cause_type[r, t].astype(np.int64)),
                    "direction": DIRECTION_NAMES.gather(chart.point_type[r, t].astype(np.int64)),
                    "t": t,
                    "value": values[r, t],
                    "mean": mean,
                    "lpl": lpl,
                    "upl": upl,
                }
            )
        )


def point_code_matrix(
    point_type: NDArray[np.int8], values: FloatArray, period: NDArray[np.datetime64]
) -> NDArray[np.uint8]:
    """Each point's character: the digit of its :class:`PointType` code, "." for an observation without a
    value, a space for a period the organisation has no observation for."""
    codes = (point_type.astype(np.uint8) + np.uint8(ord("0"))).astype(np.uint8)
    codes[np.isnan(values)] = ord(".")
    codes[np.isnat(period)] = ord(" ")
    return codes


def point_code_text(codes: NDArray[np.uint8]) -> pl.Series:
    """Each series' point types as text, one character per observation in period order (null for a series
    without a chart, whose row is all zeros). Absent periods are dropped, so the text lines up with the
    organisation's own rows."""
    width = codes.shape[1]
    if width == 0 or codes.shape[0] == 0:
        return pl.Series("spc_points", [None] * codes.shape[0], dtype=pl.String)
    charted: NDArray[np.bool_] = np.asarray(codes.any(axis=1), dtype=bool)
    as_bytes = np.ascontiguousarray(np.where(charted[:, None], codes, ord(" "))).view(f"S{width}").ravel()
    # Bytes to text in Polars: numpy's fixed-width unicode would take four bytes a character.
    text = pl.Series("spc_points", as_bytes).cast(pl.String).str.replace_all(" ", "", literal=True)
    return pl.select(pl.when(pl.Series(charted)).then(text).otherwise(None)).to_series().alias("spc_points")


def segment_limits(chart: XmrChart, period: NDArray[np.datetime64]) -> dict[int, list[dict[str, object]]]:
    """Mean and limits of every baseline segment, for the series (rows of ``chart``) a rebase split in two or
    more; each segment starts at the period of its first charted point."""
    summary = chart.summary
    split = np.unique(summary.series[summary.segment > 0])
    out: dict[int, list[dict[str, object]]] = {}
    for row in split.tolist():  # only rebased series: a handful, not a hot path
        segments = np.flatnonzero(summary.series == row)
        index = chart.segment_index[row]
        out[row] = [
            {
                "from": str(period[row][np.flatnonzero(index == k)[0]].astype("datetime64[D]")),
                "mean": float(summary.mean[k]),
                "lpl": float(summary.lpl[k]),
                "upl": float(summary.upl[k]),
            }
            for k in segments.tolist()
        ]
    return out


def _empty_signals() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "series": pl.Int64,
            "method": pl.String,
            "rule": pl.String,
            "direction": pl.String,
            "t": pl.Int64,
            "value": pl.Float64,
        }
    )


def funnel_options(data_type: DataType, limit: float, trim: float = 0.1) -> FunnelOptions:
    """The options of the scan's funnels of one data type (``limit`` and ``trim`` from :class:`ScanOptions`):
    over-dispersion by winsorised z-scores and DerSimonian-Laird tau^2 (Spiegelhalter 2005b, as the CQC)."""
    return FunnelOptions(data_type=data_type, overdispersion=FUNNEL_OVERDISPERSION, limit=limit, trim=trim)


def expected_counts(
    is_rate: NDArray[np.bool_],
    observed: FloatArray,
    denominator: FloatArray,
    expected: FloatArray,
    funnel_id: IntArray,
    n_funnels: int,
) -> FloatArray:
    """The Poisson (SR) funnel's denominator of each unit: a rate's expected count at its funnel's pooled rate
    (indirect standardisation), else the expected count the source gives (a ratio O/E)."""
    pooled_num = np.bincount(funnel_id, weights=np.where(is_rate, observed, 0), minlength=n_funnels)
    pooled_den = np.bincount(funnel_id, weights=np.where(is_rate, denominator, 0), minlength=n_funnels)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = pooled_num / pooled_den
    return np.asarray(np.where(is_rate, denominator * rate[funnel_id], expected), dtype=np.float64)


def _estimate_funnels(
    panel: Panel,
    options: ScanOptions,
    units: IntArray,
    at: IntArray,
    out: dict[str, np.ndarray],
    extra: dict[str, np.ndarray],
    estimates: tuple[FloatArray, FloatArray] | None = None,
) -> None:
    """Funnels of means and counts published with a standard error ("N": estimate against precision 1/se^2,
    Spiegelhalter 2005a), over the same window as the count funnels."""
    kind = series_attribute(panel, "kind")
    estimate, se = (
        estimates if estimates is not None else window_estimates(panel, at, options.funnel_window_days)
    )
    rows = units[np.isin(kind[units], ESTIMATE_KINDS) & np.isfinite(estimate[units]) & (se[units] > 0)]
    if rows.size == 0:
        return
    funnel_id = panel.indicator_index[rows]
    result = estimate_funnel(
        estimate[rows],
        se[rows],
        funnel_id,
        n_funnels=panel.indicators.height,
        limit=options.funnel_limit,
        trim=options.funnel_trim,
    )
    out["funnel_period_t"][rows] = at[rows]
    out["funnel_z"][rows] = result.z
    out["funnel_p"][rows] = result.p_value
    out["funnel_data_type"][rows] = ESTIMATE_DATA_TYPE
    extra["ratio"][rows] = estimate[rows]
    extra["denominator"][rows] = 1.0 / (se[rows] * se[rows])
    extra["lower"][rows] = result.lower
    extra["upper"][rows] = result.upper
    extra["target"][rows] = result.target[funnel_id]
    extra["phi"][rows] = result.phi[funnel_id]
    extra["tau2"][rows] = result.tau2[funnel_id]


def _funnels(
    panel: Panel,
    options: ScanOptions,
    window: tuple[FloatArray, FloatArray, FloatArray] | None = None,
    estimates: tuple[FloatArray, FloatArray] | None = None,
) -> dict[str, np.ndarray]:
    """Each series' funnel at its indicator's latest period: z, p, ratio, limits, target, phi and tau^2 (no FDR)."""
    n = panel.n_series
    out: dict[str, np.ndarray] = {
        "funnel_period_t": np.full(n, -1, dtype=np.int64),
        "funnel_z": np.full(n, np.nan),
        "funnel_p": np.full(n, np.nan),
        "funnel_q": np.full(n, np.nan),
        "funnel_outlier": np.full(n, None, dtype=object),
        "funnel_data_type": np.full(n, None, dtype=object),
    }
    kind = series_attribute(panel, "kind")
    units, at = latest_period_units(panel)
    num, den, exp = window if window is not None else window_sums(panel, at, options.funnel_window_days)
    # What each funnel plotted: the ratio against its denominator (N, or the expected count), the unit's limits
    # and the funnel's target, phi and tau^2 (the tau^2 its limits add), stored so pages draw the same funnel.
    extra: dict[str, np.ndarray] = {
        k: np.full(n, np.nan) for k in ("ratio", "denominator", "lower", "upper", "target", "phi", "tau2")
    }
    for data_type, kinds in FUNNEL_DATA_TYPES:
        rows = units[np.isin(kind[units], kinds)]
        if data_type == "PR":
            rows = rows[np.isfinite(num[rows]) & (den[rows] > 0) & (num[rows] <= den[rows])]
        if rows.size == 0:
            continue
        funnel_id = panel.indicator_index[rows]
        observed = num[rows]
        if data_type == "PR":
            denominator = den[rows]
        else:
            denominator = expected_counts(
                kind[rows] == "rate", observed, den[rows], exp[rows], funnel_id, panel.indicators.height
            )
            keep = np.isfinite(observed) & np.isfinite(denominator) & (denominator > 0)
            rows, funnel_id, observed, denominator = (
                rows[keep],
                funnel_id[keep],
                observed[keep],
                denominator[keep],
            )
            if rows.size == 0:
                continue
        result = funnel_statistics(
            observed,
            denominator,
            funnel_id,
            n_funnels=panel.indicators.height,
            options=funnel_options(data_type, options.funnel_limit, options.funnel_trim),
        )
        out["funnel_period_t"][rows] = at[rows]
        out["funnel_z"][rows] = result.z_adjusted
        out["funnel_p"][rows] = result.p_value
        out["funnel_data_type"][rows] = data_type
        extra["ratio"][rows] = result.ratio
        extra["denominator"][rows] = denominator
        extra["lower"][rows] = result.lower
        extra["upper"][rows] = result.upper
        extra["target"][rows] = result.target[funnel_id]
        extra["phi"][rows] = result.phi[funnel_id]
        extra["tau2"][rows] = result.tau2_applied[funnel_id]
    _estimate_funnels(panel, options, units, at, out, extra, estimates)
    out.update({f"funnel_{name}": values for name, values in extra.items()})
    # funnel_q and funnel_outlier stay empty here: the false-discovery rate is store-wide (storewide.funnel_fdr).
    return out


def _trends(panel: Panel, options: ScanOptions) -> dict[str, np.ndarray]:
    """Slope per year with its standard error and p-value for series too short for an SPC chart (annual
    indicators), so they are read for a trend rather than called "common cause"."""
    n = panel.n_series
    out = {name: np.full(n, np.nan) for name in ("trend_slope", "trend_se", "trend_p")}
    rows = np.flatnonzero(panel.n_points < options.spc_min_points)
    if rows.size == 0:
        return out
    days = (panel.period[rows] - np.datetime64("1970-01-01", "D")).astype("timedelta64[D]").astype(np.float64)
    years = np.where(np.isnat(panel.period[rows]), np.nan, days / 365.25)
    trend = linear_trend(panel.value[rows], years)
    out["trend_slope"][rows] = trend.slope
    out["trend_se"][rows] = trend.standard_error
    out["trend_p"][rows] = trend.p_value
    return out


def _spc_chance(
    panel: Panel, options: ScanOptions, signals: pl.DataFrame, status: pl.DataFrame
) -> dict[str, dict[str, float]]:
    """Special causes of concern seen, beside those a stable process would give by chance, per indicator code."""
    polarity = series_attribute(panel, "polarity")
    charted = (panel.n_points >= options.spc_min_points) & (polarity != Polarity.NEUTRAL.value)
    codes = panel.indicators["code"].to_list()
    has_concern = np.zeros(panel.n_series, dtype=bool)
    has_concern[
        signals.filter((pl.col("method") == "spc") & (pl.col("direction") == "concern"))["series"].to_numpy()
    ] = True
    # Compared in Polars: the column as 50,000 Python strings compared one by one cost ten times more.
    current = (status["spc_variation"] == PointType.SPECIAL_CAUSE_CONCERN.label).fill_null(False).to_numpy()
    lengths: dict[str, tuple[int, int]] = {}
    seen: dict[str, tuple[int, int]] = {}
    for index in np.unique(panel.indicator_index[charted]):  # indicators: tens
        rows = np.flatnonzero(charted & (panel.indicator_index == index))
        periods = indicator_periods(panel, int(index))
        lengths[str(codes[index])] = (int(rows.size), periods)
        seen[str(codes[index])] = (
            int(has_concern[rows].sum()),
            int(current[rows].sum()),
        )
    figures = expected_spc_concerns(lengths, options)
    for code, (any_concern, now) in seen.items():
        figures[code].update({"any_concern": float(any_concern), "current_concern": float(now)})
    return figures


def compute_partition(
    panel: Panel,
    options: ScanOptions | None = None,
    phase: IntArray | None = None,
    *,
    rank_intervals: bool = True,
) -> SurveillanceResult:
    """Every method over the series of ``panel`` but the store-wide false-discovery rate: SPC, funnels (z, p and
    limits; ``funnel_q`` and ``funnel_outlier`` empty), CUSUM, rank intervals and trends.

    ``rank_intervals=False`` leaves the league tables' columns (``rank``, ``rank_*``) out, for callers that read
    no rank (the risk model's as-of scans); every other column is the same.

    Each indicator's results depend on its own series alone (its funnel, CUSUM thresholds, league table and random
    stream are its own), so a panel of one indicator gives that indicator's rows of a panel of many. ``summary``
    holds the per-indicator parts (:func:`forewarn.surveillance.storewide.indicator_parts`); the store-wide
    steps (:mod:`forewarn.surveillance.storewide`) come after.
    """
    options = options or ScanOptions()
    spc, spc_signals = _spc(panel, options, phase)
    _, latest = latest_period_units(panel)
    window = window_sums(panel, latest, options.funnel_window_days)
    estimates = window_estimates(panel, latest, options.funnel_window_days)  # for the funnels and the ranks
    funnel = _funnels(panel, options, window, estimates)
    changes = detect_changes(panel, options)
    cusum, cusum_signals = changes.columns, changes.signals
    ranks = (
        latest_rank_intervals(panel, options, window, changes.tau2_within, estimates)
        if rank_intervals
        else {}
    )
    trends = _trends(panel, options)
    last = panel.last_index
    columns: dict[str, pl.Series] = {
        "series": pl.Series(np.arange(panel.n_series, dtype=np.int64)),
        "organisation_id": pl.Series(panel.organisation_id),
        "indicator_id": pl.Series(panel.indicator_id),
        "fingerprint": pl.Series(panel.fingerprint),
        "n_points": pl.Series(panel.n_points),
        "last_t": pl.Series(last),
        "last_value": pl.Series(_take_last(panel.value, last)),
    }
    columns["spc_points"] = point_code_text(spc.pop("spc_points"))
    for name, values in {**spc, **funnel, **cusum, **ranks, **trends}.items():
        if values.dtype == object:
            integer_columns = (
                "funnel_outlier",
                "cusum_alarms",
                "cusum_current",
                "rank_of",
                "rank_distinguishable",
            )
            dtype = pl.Int64 if name in integer_columns else pl.String
            columns[name] = pl.Series(name, values.tolist(), dtype=dtype)
        else:
            columns[name] = pl.Series(name, values)
    status = pl.DataFrame(columns).with_columns(pl.col(pl.Float64).fill_nan(None))
    signals = pl.concat([spc_signals, cusum_signals], how="diagonal_relaxed")
    spc_figures = _spc_chance(panel, options, spc_signals, status)
    parts = indicator_parts(
        panel.indicators["code"].to_list(),
        np.bincount(panel.indicator_index, minlength=panel.indicators.height),
        np.bincount(
            panel.indicator_index[spc_signals["series"].to_numpy()], minlength=panel.indicators.height
        ),
        np.bincount(
            panel.indicator_index[cusum_signals["series"].to_numpy()], minlength=panel.indicators.height
        ),
        spc_figures,
        changes.indicators,
    )
    return SurveillanceResult(status=status, signals=signals, summary={"indicators": parts})


def compute_surveillance(
    panel: Panel, options: ScanOptions | None = None, phase: IntArray | None = None
) -> SurveillanceResult:
    """Run SPC, funnels (with FDR), CUSUM and rank intervals over every series of ``panel``: the per-indicator
    work (:func:`compute_partition`), then the false-discovery rate across every series and the summary."""
    options = options or ScanOptions()
    partition = compute_partition(panel, options, phase)
    status = partition.status
    fdr = funnel_fdr(status, options)
    status = status.with_columns(fdr.q, fdr.outlier)
    flagged = status.filter(pl.col("funnel_outlier").is_not_null() & (pl.col("funnel_outlier") != 0))
    polarity = series_attribute(panel, "polarity")
    funnel_signals = funnel_signal_frame(
        flagged, polarity[flagged["series"].to_numpy()], key=["series"], period="funnel_period_t"
    ).rename({"funnel_period_t": "t"})
    methods = partition.signals["method"]
    signals = ordered_signals(
        pl.concat(
            [
                partition.signals.filter(methods == "spc"),
                funnel_signals,
                partition.signals.filter(methods == "cusum"),
            ],
            how="diagonal_relaxed",
        )
    )
    parts: dict[str, IndicatorPart] = partition.summary["indicators"]  # type: ignore[assignment]
    summary = scan_summary(list(parts.values()), fdr.summary, funnel_signals.height)
    return SurveillanceResult(status=status, signals=signals, summary=summary)


__all__ = ["SurveillanceResult", "compute_partition", "compute_surveillance"]
