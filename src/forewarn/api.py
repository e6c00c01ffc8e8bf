"""The analyst's Python API: ``forewarn.funnel``, ``spc``, ``cusum``, ``ewma``, ``ranks`` and ``psychometrics``.

Each function takes a pandas or Polars DataFrame and the names of its columns, with the options and defaults of
the command-line tool of the same name (``forewarn funnel --help``...), and returns a result with ``.table`` (a
DataFrame of the input's kind), ``.summary`` (a dict), ``.series`` (the per-series table, where the tool has one),
``.warnings`` and ``.chart()`` (an Altair chart, which shows in a notebook, saves to SVG or HTML, and is the same
chart the web pages draw).

There is one implementation: the command line reads a file and these functions take a frame, and both run the
tools of :mod:`forewarn.tools` (one module per tool). A pandas frame is converted
to Polars at the boundary and the tables back to pandas, so the numbers are the same whichever you use.

Bad input raises :class:`forewarn.tools.problems.AnalystInputError` (a ``ValueError``) listing every
problem at once, each with the row's position in the frame (from 0), the column and the value.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import polars as pl

from forewarn.domain import Improvement
from forewarn.tools.cusum import CusumRequest, cusum_frame
from forewarn.tools.ewma import EwmaRequest, ewma_frame
from forewarn.tools.funnel import FunnelRequest, funnel_frame
from forewarn.tools.inputs import FrameInput
from forewarn.tools.ranks import RanksRequest, ranks_frame
from forewarn.tools.results import (
    FunnelResult,
    Kind,
    PsychometricsResult,
    RanksResult,
    Result,
    SeriesResult,
    as_kind,
    notebook_result,
)
from forewarn.tools.spc import SpcRequest, spc_frame

if TYPE_CHECKING:
    pass

__all__ = [
    "FunnelResult",
    "PsychometricsResult",
    "RanksResult",
    "Result",
    "SeriesResult",
    "cusum",
    "ewma",
    "funnel",
    "psychometrics",
    "ranks",
    "spc",
]


def _to_polars(data: Any) -> tuple[pl.DataFrame, Kind]:
    """The frame as Polars, and which kind it came as (pandas is imported only when given)."""
    if isinstance(data, pl.DataFrame):
        return data, "polars"
    if isinstance(data, pl.LazyFrame):
        return data.collect(), "polars"
    if type(data).__module__.split(".")[0] == "pandas":
        import pandas as pd  # type: ignore[import-untyped]

        if isinstance(data, pd.DataFrame):
            frame = data.rename(columns=str) if not all(isinstance(c, str) for c in data.columns) else data
            return pl.from_pandas(frame), "pandas"
    raise TypeError(f"expected a pandas or Polars DataFrame; got {type(data).__name__}")


def _frame_input(data: Any) -> tuple[FrameInput, Kind]:
    frame, kind = _to_polars(data)
    # NaN in a float column is a missing value, as in pandas (and as an empty cell in a file).
    floats = [c for c, t in frame.schema.items() if t in (pl.Float32, pl.Float64)]
    if floats:
        frame = frame.with_columns(pl.col(floats).fill_nan(None))
    return FrameInput(frame), kind


# ----------------------------------------------------------------------------------------------------------
# funnel
# ----------------------------------------------------------------------------------------------------------


def funnel(
    data: Any,
    *,
    unit_col: str,
    numerator_col: str,
    denominator_col: str,
    data_type: Literal["SR", "PR", "RC"],
    od: Literal["cqc", "shmi", "none"] = "cqc",
    trim: float = 0.1,
    limit: float = 99.8,
    target: float | None = None,
    scale: Literal["log", "sqrt"] | None = None,
    unadjusted: Literal["exact", "approximate"] | None = None,
    compat: Literal["funnelplotr"] | None = None,
) -> FunnelResult:
    """Funnel plot: each unit's ratio against limits that narrow as its denominator grows.

    Rows are summed by unit first, as FunnelPlotR does; the options are those of ``forewarn funnel``
    (docs/analyst-md).

    Parameters
    ----------
    data : pandas.DataFrame or polars.DataFrame
        One row per unit (or several, summed).
    unit_col, numerator_col, denominator_col : str
        The unit, the observed count O and E (SR), N (PR) or the second count (RC).
    data_type : {"SR", "PR", "RC"}
        Standardised ratio O/E, proportion O/N, or ratio of two counts O/D.
    od : {"cqc", "shmi", "none"}
        Over-dispersion: winsorised (CQC) or truncated (SHMI) z-scores, or none.
    trim : float
        Fraction winsorised or truncated at each end.
    limit : {95, 99.8}
        The limits that flag outliers.
    target : float, optional
        The centre line; default 1 for SR and the pooled value for PR and RC.
    scale : {"log", "sqrt"}, optional
        SR only; default the scale of ``od``.
    unadjusted : {"exact", "approximate"}, optional
        Limits without over-dispersion.
    compat : {"funnelplotr"}, optional
        Reproduce FunnelPlotR 0.6.0, quirks included.

    Returns
    -------
    FunnelResult
        ``table``: one row per unit (value, z, p and q values, limits, outlier, direction). ``summary``:
        ``target``, ``phi``, ``tau2``, ``n_outliers`` and ``expected_by_chance``, among others.

    References
    ----------
    Spiegelhalter DJ (2005). Funnel plots for comparing institutional performance. Stat Med 24:1185-1202.

    Examples
    --------
    >>> import pandas as pd, forewarn as fw
    >>> deaths = pd.DataFrame({"trust": ["A", "B", "C", "D"], "died": [10, 25, 14, 40],
    ...                        "expected": [12.0, 20.0, 15.0, 30.0]})
    >>> result = fw.funnel(deaths, unit_col="trust", numerator_col="died", denominator_col="expected",
    ...                    data_type="SR", od="none")
    >>> result.table[["unit", "value", "outlier"]]
      unit     value  outlier
    0    A  0.833333    False
    1    B  1.250000    False
    2    C  0.933333    False
    3    D  1.333333    False
    """
    reader, kind = _frame_input(data)
    request = FunnelRequest(
        unit_col=unit_col,
        numerator_col=numerator_col,
        denominator_col=denominator_col,
        data_type=data_type,
        overdispersion=od,
        trim=trim,
        limit=float(limit),
        target=target,
        sr_scale=scale,
        unadjusted=unadjusted,
        compat=compat,
    )
    out = funnel_frame(reader, request)
    result: FunnelResult = notebook_result(FunnelResult, out, kind, request=request)
    return result


# ----------------------------------------------------------------------------------------------------------
# spc, cusum, ewma
# ----------------------------------------------------------------------------------------------------------


def spc(
    data: Any,
    *,
    period_col: str,
    value_col: str,
    series_col: str | None = None,
    improvement: Improvement = "increase",
    target: float | None = None,
    fix_after: int | None = None,
    rebase: Sequence[str] = (),
    rules: Literal["mdc", "anhoej"] = "mdc",
    shift: int = 7,
    trend: int = 7,
    screen: bool = True,
) -> SeriesResult:
    """SPC charts of every series at once: XmR with the Making Data Count rules, or run charts (Anhoej rules).

    The options are those of ``forewarn spc`` (docs/analyst-md): the numbers are NHSRplotthedots 0.2.2
    ``ptd_spc()``'s (``rules="mdc"``) or qicharts2 0.8.1 ``qic(chart = "run")``'s (``rules="anhoej"``).

    Returns
    -------
    SeriesResult
        ``table``: one row per point (mean, limits, which rules fired, point type); ``series``: one row per series
        segment (variation and assurance); ``summary``: ``variation`` and ``assurance`` counted over the series.

    Examples
    --------
    >>> import pandas as pd, forewarn as fw
    >>> monthly = pd.DataFrame({"month": [f"2020-{m:02d}" for m in range(1, 13)],
    ...                         "waits": [5, 6, 5, 7, 6, 5, 6, 7, 5, 6, 14, 6]})
    >>> result = fw.spc(monthly, period_col="month", value_col="waits", improvement="decrease")
    >>> result.table.loc[10, ["period", "point_type"]].tolist()
    ['2020-11', 'special_cause_concern']
    >>> result.summary["variation"]
    {'common_cause': 1}
    """
    reader, kind = _frame_input(data)
    request = SpcRequest(
        period_col=period_col,
        value_col=value_col,
        series_col=series_col,
        improvement=improvement,
        target=target,
        fix_after=fix_after,
        rebase=tuple(rebase),
        rules=rules,
        shift_length=shift,
        trend_length=trend,
        screen_outliers=screen,
    )
    result: SeriesResult = notebook_result(
        SeriesResult, spc_frame(reader, request), kind, tool="spc", improvement=improvement
    )
    return result


def cusum(
    data: Any,
    *,
    period_col: str,
    observed_col: str,
    expected_col: str,
    series_col: str | None = None,
    denominator_col: str | None = None,
    rate_ratio: float = 2.0,
    target_arl: float = 60.0,
    form: Literal["poisson", "bernoulli"] = "poisson",
    threshold: float | None = None,
    threshold_method: Literal["markov", "simulation"] = "markov",
    head_start: float = 0.0,
    reset: Literal["zero", "head_start"] = "zero",
    seed: int = 20000441,
    baseline: Literal["own", "given"] = "own",
    baseline_periods: int = 12,
    overdispersion: bool = True,
    false_alarms: float = 0.05,
) -> SeriesResult:
    """CUSUM of observed against expected counts, as ``forewarn cusum``: by default (``baseline="own"``) each
    series against its own first ``baseline_periods`` periods, over-dispersion allowed for, with h set for a
    share ``false_alarms`` of unchanged series alarming over the window; ``baseline="given"`` is the classical
    risk-adjusted CUSUM (Steiner et al. 2000) with h for ``target_arl``.

    Returns
    -------
    SeriesResult
        ``table``: one row per period (statistic, alarm); ``series``: per series alarms and the last statistic;
        ``summary``: the threshold h, k, and alarms with how many are expected by chance.
    """
    reader, kind = _frame_input(data)
    request = CusumRequest(
        period_col=period_col,
        observed_col=observed_col,
        expected_col=expected_col,
        series_col=series_col,
        denominator_col=denominator_col,
        rate_ratio=rate_ratio,
        target_arl=target_arl,
        form=form,
        threshold=threshold,
        threshold_method=threshold_method,
        head_start=head_start,
        reset=reset,
        seed=seed,
        baseline=baseline,
        baseline_periods=baseline_periods,
        overdispersion=overdispersion,
        false_alarm_share=false_alarms,
    )
    result: SeriesResult = notebook_result(SeriesResult, cusum_frame(reader, request), kind, tool="cusum")
    return result


def ewma(
    data: Any,
    *,
    period_col: str,
    value_col: str,
    series_col: str | None = None,
    lam: float = 0.2,
    L: float | None = None,
    target_arl: float = 370.0,
    centre: float | None = None,
    sd: float | None = None,
    baseline_periods: int = 12,
    reset: bool = False,
) -> SeriesResult:
    """EWMA charts of every series, with exact time-varying limits, as ``forewarn ewma``.

    ``centre`` and ``sd`` default to each series' own from its first ``baseline_periods`` values (the mean, and
    the mean moving range / 1.128); ``L`` None chooses the limit width for an in-control ARL of ``target_arl``
    periods (:func:`forewarn.stats.arl.ewma_crit`, checked against R ``spc`` 0.6.7).

    References
    ----------
    Lucas JM, Saccucci MS (1990). Exponentially weighted moving average control schemes. Technometrics 32:1-12.
    """
    reader, kind = _frame_input(data)
    request = EwmaRequest(
        period_col=period_col,
        value_col=value_col,
        series_col=series_col,
        lam=lam,
        limit_width=L,
        target_arl=target_arl,
        centre=centre,
        sd=sd,
        baseline_periods=baseline_periods,
        reset=reset,
    )
    result: SeriesResult = notebook_result(SeriesResult, ewma_frame(reader, request), kind, tool="ewma")
    return result


# ----------------------------------------------------------------------------------------------------------
# ranks
# ----------------------------------------------------------------------------------------------------------


def ranks(
    data: Any,
    *,
    unit_col: str,
    estimate_col: str | None = None,
    se_col: str | None = None,
    numerator_col: str | None = None,
    denominator_col: str | None = None,
    data_type: Literal["PR", "SR"] = "PR",
    group_col: str | None = None,
    higher_is_better: bool = False,
    replicates: int = 1000,
    level: float = 0.95,
    seed: int = 19960385,
) -> RanksResult:
    """How sure is a league table (Goldstein & Spiegelhalter 1996): each unit's median rank and rank interval,
    as ``forewarn ranks``. Give ``estimate_col`` and ``se_col``, or ``numerator_col`` and ``denominator_col``
    (summed by unit) with ``data_type``. Rank 1 is the lowest value unless ``higher_is_better``."""
    reader, kind = _frame_input(data)
    request = RanksRequest(
        unit_col=unit_col,
        estimate_col=estimate_col,
        se_col=se_col,
        numerator_col=numerator_col,
        denominator_col=denominator_col,
        data_type=data_type,
        group_col=group_col,
        higher_is_better=higher_is_better,
        replicates=replicates,
        level=level,
        seed=seed,
    )
    result: RanksResult = notebook_result(RanksResult, ranks_frame(reader, request), kind)
    return result


# ----------------------------------------------------------------------------------------------------------
# psychometrics
# ----------------------------------------------------------------------------------------------------------


def psychometrics(
    data: Any,
    *,
    group_col: str,
    items: Sequence[str] | str,
    scale_points: int = 5,
    reverse: Sequence[str] | str = (),
    resamples: int | None = None,
    min_group_size: int | None = None,
) -> PsychometricsResult:
    """Psychometrics of one scale, as ``forewarn psychometrics``: per group n, mean, SD, interval, rwg(j), awg
    and the aggregation verdict; overall alpha (Feldt interval), omega, ICC(1), ICC(2) and item statistics.

    Groups below the minimum size (``FOREWARN_MIN_GROUP_SIZE``) are suppressed and left out of the pooled
    figures. ``items`` and ``reverse`` are lists or comma-separated names.

    Returns
    -------
    PsychometricsResult
        ``table``: one row per group (suppressed ones keep only ``n``, as ``"<m"``); ``summary``: ``alpha``,
        ``alpha_ci_lower``, ``alpha_ci_upper``, ``omega``, ``icc1``, ``icc2``, ``respondents``, groups shown and
        suppressed, and ``items`` (one dict per item).

    References
    ----------
    Bliese PD (2000). Within-group agreement, non-independence, and reliability. In Klein & Kozlowski (eds),
    Multilevel theory, research, and methods in organizations, 349-381. Figures checked against R ``psych``
    2.2.9 and ``multilevel`` 2.7-1.
    """
    from forewarn.settings import get_settings
    from forewarn.surveys.results import DEFAULT_RESAMPLES, cell_rows
    from forewarn.tools.psychometrics import analyse_frame

    frame, kind = _to_polars(data)
    floats = [c for c, t in frame.schema.items() if t in (pl.Float32, pl.Float64)]
    if floats:
        frame = frame.with_columns(pl.col(floats).fill_nan(None))
    out = analyse_frame(
        frame,
        group_column=group_col,
        items=_names(items),
        scale_points=scale_points,
        reverse=_names(reverse),
        # The analyst's API is an entry point like the command line: the process's setting is the floor.
        floor=get_settings().min_group_size,
        min_group_size=min_group_size,
        n_resamples=DEFAULT_RESAMPLES if resamples is None else resamples,
    )
    table = pl.DataFrame(cell_rows(out.analysis), infer_schema_length=None)
    dimension = out.analysis.dimensions[0]
    summary: dict[str, Any] = {
        "scale_points": out.scale_points,
        "respondents": out.respondents,
        "items": [item.__dict__ for item in dimension.items],
        "reverse_keyed": list(out.reverse_keyed),
        "min_group_size": out.analysis.min_group_size,
        "groups_shown": dimension.groups_shown,
        "groups_suppressed": dimension.groups_suppressed,
        "alpha": dimension.alpha,
        "alpha_ci_lower": dimension.alpha_ci_lower,
        "alpha_ci_upper": dimension.alpha_ci_upper,
        "omega": dimension.omega,
        "icc1": dimension.icc1,
        "icc2": dimension.icc2,
    }
    return PsychometricsResult(table=as_kind(table, kind), summary=summary, _table=table)


def _names(value: Sequence[str] | str) -> list[str]:
    """Column names given as a list or comma-separated."""
    return [s.strip() for s in value.split(",")] if isinstance(value, str) else list(value)
