"""Indicators: the list, and one indicator across organisations (funnel plot, rank intervals, outliers)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection

from forewarn.access.policy import Visibility
from forewarn.accounts.reads import (
    IndicatorInfo,
    IndicatorRow,
    indicator_by_code,
    indicator_rows,
    indicators,
    latest_scan,
)
from forewarn.charts.funnel import FUNNEL_AXIS_TITLES, FunnelCurve, FunnelUnit, funnel_plot_spec
from forewarn.charts.ranks import RankInterval, rank_interval_spec
from forewarn.surveillance.funnels import IndicatorFunnel, indicator_funnel
from forewarn.surveillance.options import ScanOptions
from forewarn.web.errors import NotFoundError
from forewarn.web.pages.common import funnel_concern, scan_out
from forewarn.web.schemas import IndicatorOrganisationOut, IndicatorOut, IndicatorsOut, IndicatorSummaryOut

MAX_RANK_ROWS = 2_000
"""A rank chart draws every ranked organisation the viewer may see, up to this many (a chart 2,000 pixels tall,
its spec about 250 kB in the page). Beyond, it draws the viewer's own and an even spread across the ranks, and the
page says so; the JSON has every row."""


def summary(info: IndicatorInfo) -> IndicatorSummaryOut:
    return IndicatorSummaryOut(
        code=info.code,
        name=info.name,
        unit=info.unit,
        kind=info.kind,
        polarity=info.polarity,
        target=info.target,
        dataset=info.dataset_code,
        dataset_name=info.dataset_name,
        simulated=info.simulated,
        url=f"/indicators/{info.code}",
    )


def build_indicators(conn: Connection) -> IndicatorsOut:
    return IndicatorsOut(indicators=[summary(i) for i in indicators(conn)])


def _row_out(row: IndicatorRow, polarity: str) -> IndicatorOrganisationOut:
    s = row.state
    return IndicatorOrganisationOut(
        organisation_id=row.organisation_id,
        label=row.label,
        code=row.code,
        anonymised=row.anonymised,
        own=row.own,
        compared_value=row.funnel_ratio,
        compared_denominator=row.funnel_denominator,
        latest_value=s.last_value,
        latest_period=s.last_period,
        funnel_z=s.funnel_z,
        funnel_q=s.funnel_q,
        funnel_outlier=s.funnel_outlier,
        funnel_concern=funnel_concern(s.funnel_outlier, polarity),
        rank=s.rank,
        rank_lower=s.rank_lower,
        rank_upper=s.rank_upper,
        rank_of=s.rank_of,
        rank_distinguishable=s.rank_distinguishable,
        url=None if row.organisation_id is None else f"/organisations/{row.organisation_id}",
    )


def _order(row: IndicatorOrganisationOut) -> tuple[int, float, str]:
    # Strength of evidence first (flagged, then by q), never by value: this is not a league table.
    flagged = 0 if row.funnel_outlier else 1
    return (flagged, row.funnel_q if row.funnel_q is not None else 2.0, row.label.casefold())


def _scan_options(conn: Connection) -> tuple[float, float]:
    scan = latest_scan(conn)
    options = scan.options if scan else {}
    limit = options.get("funnel_limit", 99.8)
    alpha = options.get("fdr_alpha", 0.05)
    return float(limit) if isinstance(limit, int | float) else 99.8, float(alpha) if isinstance(
        alpha, int | float
    ) else 0.05


def compared_titles(data_type: str, kind: str) -> tuple[str, str]:
    """What a funnel's ratio and denominator are, for its axes and the table's columns: a rate is compared as
    a ratio of observed to expected events at the pooled rate (:func:`forewarn.surveillance.compute._funnels`)."""
    if data_type == "PR":
        return FUNNEL_AXIS_TITLES["PR"][0], "Denominator (N)"
    if kind == "rate":
        return "Ratio of observed to expected at the pooled rate", "Expected at the pooled rate"
    return FUNNEL_AXIS_TITLES["SR"]


def window_text(start: dt.date, end: dt.date) -> str:
    """The starts of the periods a funnel's window takes in, in words: months when both fall on the 1st."""
    if start.day == 1 and end.day == 1:
        first, last = f"{start:%B %Y}", f"{end:%B %Y}"
    else:
        first, last = f"{start.day} {start:%B %Y}", f"{end.day} {end:%B %Y}"
    return last if first == last else f"{first} to {last}"


def _funnel_curves(funnel: IndicatorFunnel) -> list[FunnelCurve]:
    """Each limit as a lower and an upper curve; limits narrower than the scan's own are dashed."""
    return [
        FunnelCurve(f"{curve.coverage:g}% {side}", curve.denominator, values, curve.coverage < funnel.limit)
        for curve in funnel.curves
        for side, values in (("lower", curve.lower), ("upper", curve.upper))
    ]


def rank_chart_rows(ranked: list[IndicatorOrganisationOut], limit: int) -> list[IndicatorOrganisationOut]:
    """The organisations a rank chart draws: all of them up to ``limit``; beyond, the viewer's own and an even
    spread across the ranks (every k-th in rank order), so the chart keeps the shape of the whole, not the head
    of the evidence order."""
    if len(ranked) <= limit:
        return ranked
    own = [r for r in ranked if r.own]
    others = sorted((r for r in ranked if not r.own), key=lambda r: (r.rank or 0.0, r.label.casefold()))
    room = max(limit - len(own), 0)
    if room == 0:
        return own[:limit]
    step = len(others) / room
    spread = [others[int(i * step)] for i in range(room)]
    return own + spread


def build_indicator(
    conn: Connection, visibility: Visibility, code: str
) -> tuple[IndicatorOut, dict[str, dict[str, Any]]]:
    info = indicator_by_code(conn, code)
    if info is None:
        raise NotFoundError("There is no indicator at this address.")
    limit, alpha = _scan_options(conn)
    rows = indicator_rows(conn, visibility, info)
    out_rows = sorted((_row_out(r, info.polarity) for r in rows), key=_order)
    specs: dict[str, dict[str, Any]] = {}
    funnel_period = next((r.state.funnel_period for r in rows if r.state.funnel_period), None)
    outside: int | None = None
    window_start: dt.date | None = None
    titles: tuple[str, str] | None = None
    # The funnel as the scan computed it; only the organisations this account may see are drawn, under the
    # labels (or pseudonyms) of their rows, and the limit curves span their denominators alone. The counts,
    # target and limits' width depend on every organisation.
    shown = {row.internal_id: row for row in rows}
    funnel = indicator_funnel(conn, info.id, organisation_ids=shown.keys())
    window_days = ScanOptions().funnel_window_days
    tests, flagged = 0, 0
    if funnel is not None:
        tests, flagged = funnel.compared, funnel.flagged
        outside = funnel.outside_limits
        funnel_period = funnel.period or funnel_period
        window_start, window_days = funnel.window_start, funnel.window_days
        titles = compared_titles(funnel.data_type, info.kind)
        units = [
            FunnelUnit(
                label=shown[point.organisation_id].label,
                denominator=point.denominator,
                value=point.ratio,
                outlier=point.outlier,
                concern=funnel_concern(point.outlier, info.polarity),
                highlight=shown[point.organisation_id].own,
                z=point.z,
                q=point.q,
            )
            for point in funnel.points
        ]
        if units:  # a funnel with no organisation this account may see would show only its limits
            specs["funnel"] = funnel_plot_spec(
                units,
                _funnel_curves(funnel),
                target=funnel.target,
                title=info.name,
                value_title=titles[0],
                denominator_title=titles[1],
                kind=info.kind,
            )
    ranked = [
        r for r in out_rows if r.rank is not None and r.rank_lower is not None and r.rank_upper is not None
    ]
    if ranked:
        chosen = rank_chart_rows(ranked, MAX_RANK_ROWS)
        of = max((r.rank_of or 0) for r in ranked) or len(ranked)
        specs["ranks"] = rank_interval_spec(
            [
                RankInterval(
                    label=r.label,
                    rank=float(r.rank or 0),
                    lower=float(r.rank_lower or 0),
                    upper=float(r.rank_upper or 0),
                    distinguishable=r.rank_distinguishable or 0,
                    highlight=r.own,
                )
                for r in chosen
            ],
            of=of,
            title=info.name,
            visible=len(ranked),
        )
    page = IndicatorOut(
        indicator=summary(info),
        description=info.description,
        funnel_period=funnel_period,
        funnel_window_start=window_start,
        funnel_window_days=window_days,
        funnel_window=None
        if window_start is None or funnel_period is None
        else window_text(window_start, funnel_period),
        compared_value_title=None if titles is None else titles[0],
        compared_denominator_title=None if titles is None else titles[1],
        funnel_limit=limit,
        fdr_alpha=alpha,
        tests=tests,
        outside_limits=outside,
        expected_by_chance=tests * (1 - limit / 100) if tests else None,
        flagged_after_fdr=flagged if tests else None,
        organisations=out_rows,
        outliers=[r for r in out_rows if r.funnel_outlier],
        funnel_chart_url=f"/indicators/{info.code}/funnel.svg" if "funnel" in specs else None,
        rank_chart_url=f"/indicators/{info.code}/ranks.svg" if "ranks" in specs else None,
        scan=scan_out(latest_scan(conn)),
    )
    return page, specs
