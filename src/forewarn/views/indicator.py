"""Indicators: the list, and one indicator across the organisations an account may see (funnel plot, rank
intervals, outliers), with the Vega-Lite specs of its charts."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from pydantic import Field
from sqlalchemy import Connection, func, select

from forewarn.access.policy import Visibility
from forewarn.charts.funnel import FUNNEL_AXIS_TITLES, FunnelCurve, FunnelUnit, funnel_plot_spec
from forewarn.charts.ranks import RankInterval, rank_interval_spec
from forewarn.domain import is_concern
from forewarn.store.models import Dataset, Indicator, Organisation
from forewarn.store.models_surveillance import SeriesStatus
from forewarn.surveillance.options import ScanOptions
from forewarn.views.funnel import IndicatorFunnel, indicator_funnel
from forewarn.views.model import Model
from forewarn.views.rows import AnyRow, fields
from forewarn.views.scan import ScanOut, funnel_limit_and_alpha, latest_scan

MAX_RANK_ROWS = 2_000
"""A rank chart draws every ranked organisation the viewer may see, up to this many (a chart 2,000 pixels tall,
its spec about 250 kB in the page). Beyond, it draws the viewer's own and an even spread across the ranks, and the
page says so; the JSON has every row."""


class IndicatorSummaryOut(Model):
    code: str
    name: str
    unit: str | None
    kind: str
    polarity: str
    target: float | None
    dataset: str | None
    dataset_name: str | None
    simulated: bool
    url: str


class IndicatorsOut(Model):
    indicators: list[IndicatorSummaryOut]


class IndicatorOrganisationOut(Model):
    organisation_id: int | None = Field(description="None for an anonymised peer")
    label: str
    code: str | None
    anonymised: bool
    own: bool
    compared_value: float | None = Field(
        description="What the funnel compared: the organisation's ratio over the funnel's window (a proportion, "
        "or observed / expected for an O/E ratio or a rate, a rate's expected count being at the pooled rate); "
        "None when the funnel did not compare it"
    )
    compared_denominator: float | None = Field(
        description="The denominator it was compared on, over the same window: N for a proportion, the expected "
        "count for an O/E ratio or a rate"
    )
    latest_value: float | None = Field(description="The indicator's own value in latest_period alone")
    latest_period: dt.date | None = Field(description="The start of the organisation's latest period")
    funnel_z: float | None
    funnel_q: float | None
    funnel_outlier: int | None
    funnel_concern: bool
    rank: float | None
    rank_lower: float | None
    rank_upper: float | None
    rank_of: int | None
    rank_distinguishable: int | None
    url: str | None


class IndicatorOut(Model):
    indicator: IndicatorSummaryOut
    description: str | None
    funnel_period: dt.date | None = Field(description="The start of the latest period in the funnel's window")
    funnel_window_start: dt.date | None = Field(
        description="The earliest period start in the funnel's window: compared values are totals over the "
        "periods starting from funnel_window_start to funnel_period"
    )
    funnel_window_days: int = Field(
        description="The scan's window: periods starting in the latest this-many days"
    )
    funnel_window: str | None = Field(description="The window in words, e.g. 'April 2023 to March 2024'")
    compared_value_title: str | None = Field(description="What compared_value is, e.g. 'Proportion'")
    compared_denominator_title: str | None = Field(
        description="What compared_denominator is, e.g. 'Expected'"
    )
    funnel_limit: float
    fdr_alpha: float
    tests: int = Field(description="Organisations compared in the funnel (all of them, not only those shown)")
    outside_limits: int | None
    expected_by_chance: float | None = Field(
        description="Organisations expected outside the limits by chance alone"
    )
    flagged_after_fdr: int | None
    organisations: list[IndicatorOrganisationOut]
    outliers: list[IndicatorOrganisationOut]
    funnel_chart_url: str | None
    rank_chart_url: str | None
    scan: ScanOut | None


@dataclass(frozen=True)
class IndicatorView:
    """The page, and the Vega-Lite specs of its charts by name (``funnel``, ``ranks``; absent when not drawn)."""

    page: IndicatorOut
    specs: dict[str, dict[str, Any]]


def _indicator_rows(conn: Connection, code: str | None = None) -> list[AnyRow]:
    query = (
        select(
            Indicator.id,
            Indicator.code,
            Indicator.name,
            Indicator.unit,
            Indicator.kind,
            Indicator.polarity,
            Indicator.target,
            Indicator.description,
            Dataset.code.label("dataset"),
            Dataset.name.label("dataset_name"),
            func.coalesce(Dataset.simulated, False).label("simulated"),
        )
        .outerjoin(Dataset, Dataset.id == Indicator.dataset_id)
        .order_by(Dataset.code, Indicator.code)
    )
    if code is not None:
        query = query.where(Indicator.code == code)
    return list(conn.execute(query).all())


def _summary(row: AnyRow) -> IndicatorSummaryOut:
    return IndicatorSummaryOut.model_validate(fields(row, url=f"/indicators/{row.code}"))


def indicators(conn: Connection) -> IndicatorsOut:
    """Every indicator in the store."""
    return IndicatorsOut(indicators=[_summary(r) for r in _indicator_rows(conn)])


@dataclass(frozen=True)
class _Compared:
    """One organisation's row of the page, with what only the server may know: its id (anonymised peers' too,
    to place them on the funnel) and the period its funnel ended."""

    internal_id: int
    out: IndicatorOrganisationOut
    funnel_period: dt.date | None


def _compared(conn: Connection, visibility: Visibility, indicator_id: int, polarity: str) -> list[_Compared]:
    """Every organisation ``visibility`` allows with a scanned series of this indicator, with what its funnel
    compared (the stored window ratio and denominator)."""
    query = (
        select(
            Organisation.id.label("internal_id"),
            Organisation.name.label("label"),
            Organisation.code,
            SeriesStatus.funnel_ratio.label("compared_value"),
            SeriesStatus.funnel_denominator.label("compared_denominator"),
            SeriesStatus.last_value.label("latest_value"),
            SeriesStatus.last_period.label("latest_period"),
            SeriesStatus.funnel_period,
            SeriesStatus.funnel_z,
            SeriesStatus.funnel_q,
            SeriesStatus.funnel_outlier,
            SeriesStatus.rank,
            SeriesStatus.rank_lower,
            SeriesStatus.rank_upper,
            SeriesStatus.rank_of,
            SeriesStatus.rank_distinguishable,
        )
        .join(Organisation, Organisation.id == SeriesStatus.organisation_id)
        .where(SeriesStatus.indicator_id == indicator_id)
    )
    restricted = visibility.restricted_to()
    if restricted is not None:
        query = query.where(SeriesStatus.organisation_id.in_(restricted))
    found = []
    for r in conn.execute(query).all():
        org_id = int(r.internal_id)
        named: dict[str, object]
        if visibility.is_anonymised(org_id):
            named = {"organisation_id": None, "label": visibility.peers[org_id], "code": None, "url": None}
        else:
            named = {"organisation_id": org_id, "url": f"/organisations/{org_id}"}
        out = IndicatorOrganisationOut.model_validate(
            fields(
                r,
                anonymised=visibility.is_anonymised(org_id),
                own=org_id == visibility.own,
                funnel_concern=is_concern(r.funnel_outlier, polarity),
                **named,
            )
        )
        found.append(_Compared(org_id, out, r.funnel_period))
    return found


def _order(row: IndicatorOrganisationOut) -> tuple[int, float, str]:
    # Strength of evidence first (flagged, then by q), never by value: this is not a league table.
    flagged = 0 if row.funnel_outlier else 1
    return (flagged, row.funnel_q if row.funnel_q is not None else 2.0, row.label.casefold())


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


def _rank_spec(out_rows: list[IndicatorOrganisationOut], title: str) -> dict[str, Any] | None:
    ranked = [
        r for r in out_rows if r.rank is not None and r.rank_lower is not None and r.rank_upper is not None
    ]
    if not ranked:
        return None
    chosen = rank_chart_rows(ranked, MAX_RANK_ROWS)
    of = max((r.rank_of or 0) for r in ranked) or len(ranked)
    return rank_interval_spec(
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
        title=title,
        visible=len(ranked),
    )


def indicator(conn: Connection, visibility: Visibility, code: str) -> IndicatorView | None:
    """One indicator across the organisations ``visibility`` allows; None when there is no such indicator."""
    found = _indicator_rows(conn, code)
    if not found:
        return None
    info = found[0]
    polarity, kind = str(info.polarity), str(info.kind)
    limit, alpha = funnel_limit_and_alpha(conn)
    rows = _compared(conn, visibility, info.id, polarity)
    out_rows = sorted((r.out for r in rows), key=_order)
    specs: dict[str, dict[str, Any]] = {}
    funnel_period = next((r.funnel_period for r in rows if r.funnel_period), None)
    outside: int | None = None
    window_start: dt.date | None = None
    titles: tuple[str, str] | None = None
    # The funnel as the scan computed it; only the organisations this account may see are drawn, under the
    # labels (or pseudonyms) of their rows, and the limit curves span their denominators alone. The counts,
    # target and limits' width depend on every organisation.
    shown = {row.internal_id: row.out for row in rows}
    funnel = indicator_funnel(conn, info.id, organisation_ids=shown.keys())
    window_days = ScanOptions().funnel_window_days
    tests, flagged = 0, 0
    if funnel is not None:
        tests, flagged = funnel.compared, funnel.flagged
        outside = funnel.outside_limits
        funnel_period = funnel.period or funnel_period
        window_start, window_days = funnel.window_start, funnel.window_days
        titles = compared_titles(funnel.data_type, kind)
        units = [
            FunnelUnit(
                label=shown[point.organisation_id].label,
                denominator=point.denominator,
                value=point.ratio,
                outlier=point.outlier,
                concern=is_concern(point.outlier, polarity),
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
                kind=kind,
            )
    ranks = _rank_spec(out_rows, info.name)
    if ranks is not None:
        specs["ranks"] = ranks
    page = IndicatorOut(
        indicator=_summary(info),
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
        scan=latest_scan(conn),
    )
    return IndicatorView(page=page, specs=specs)
