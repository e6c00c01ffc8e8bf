"""One organisation: each indicator's latest state with its SPC points, rule flags and baseline history, its
place on the funnel, its CUSUM state and rank; the organisation's context attributes and events timeline.

The page's models are filled from the store by name: each query labels its columns with the fields they fill.
Soft measures come from the survey service (:mod:`forewarn.views.soft`) and are added by the caller.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import Field
from sqlalchemy import Connection, and_, func, select

from forewarn.access.policy import Visibility
from forewarn.charts.interventions import InterventionSpan
from forewarn.charts.spc import SpcSeries
from forewarn.domain import improvement_direction, is_concern
from forewarn.store.models import Dataset, Event, Indicator, Organisation, OrganisationAttribute
from forewarn.store.models_surveillance import SeriesStatus, SpcBaseline
from forewarn.store.signals import in_order, read_signals
from forewarn.views.model import Model
from forewarn.views.risk import WatchlistWhyOut
from forewarn.views.rows import AnyRow, fields
from forewarn.views.scan import ScanOut, latest_scan
from forewarn.views.series import SeriesChart, organisation_charts
from forewarn.views.soft import SoftMeasuresOut

STALE = "The data changed after the last scan: limits and flags show again after the next scan."
UNCHARTED = "The last scan drew no process limits: the series has too few values for an SPC chart."


class SpcOut(Model):
    """An XmR chart's points, one list per column, one entry per period (None where missing or not applicable).

    Tuples rather than lists: cached pages hold thousands of these, and CPython's collector stops walking a
    tuple of plain values after its first pass, while it walks every list on every full collection."""

    period: tuple[dt.date, ...]
    value: tuple[float | None, ...]
    mean: tuple[float | None, ...]
    lpl: tuple[float | None, ...]
    upl: tuple[float | None, ...]
    point_type: tuple[str, ...] = Field(
        description="Making Data Count point type, e.g. special_cause_concern"
    )
    rule: tuple[str | None, ...] = Field(description="The special-cause rule that labels the point")


EMPTY_SPC = SpcOut(period=(), value=(), mean=(), lpl=(), upl=(), point_type=(), rule=())


class SignalOut(Model):
    method: str
    rule: str
    direction: str
    period: dt.date | None
    value: float | None


class BaselineOut(Model):
    rebase_from: dt.date
    fix_after_n_points: int | None
    reason: str
    created_by: str
    created_at: dt.datetime


class IndicatorStateOut(Model):
    code: str
    name: str
    unit: str | None
    kind: str
    polarity: str
    target: float | None
    scanned: bool
    n_points: int | None
    last_period: dt.date | None
    last_value: float | None
    spc_variation: str | None
    spc_assurance: str | None
    spc_mean: float | None
    spc_lpl: float | None
    spc_upl: float | None
    funnel_period: dt.date | None
    funnel_z: float | None
    funnel_q: float | None
    funnel_outlier: int | None
    funnel_concern: bool
    cusum_value: float | None
    cusum_alarms: int | None = Field(description="CUSUM alarms over the whole series")
    cusum_last_alarm: dt.date | None
    cusum_current: bool | None = Field(
        description="Whether the latest CUSUM alarm is current (within the indicator's latest quarter)"
    )
    trend_slope: float | None = Field(
        description="Series too short for SPC (annual): least-squares change per year"
    )
    trend_p: float | None = Field(description="Two-sided p-value of the trend (t-test, n - 2 df)")
    rank: float | None
    rank_lower: float | None
    rank_upper: float | None
    rank_of: int | None
    signals: list[SignalOut]
    baselines: list[BaselineOut]
    spc: SpcOut
    spc_warnings: list[str]
    chart_url: str


class EventOut(Model):
    date: dt.date
    kind: str
    grade: str | None
    detail: str | None


class AttributeOut(Model):
    name: str
    valid_from: dt.date
    value: str


class OrganisationOut(Model):
    id: int
    code: str
    name: str
    type: str | None
    region: str | None
    parent: str | None
    dataset: str | None
    dataset_name: str | None
    dataset_source: str | None
    dataset_licence: str | None
    simulated: bool
    attributes: list[AttributeOut]
    indicators: list[IndicatorStateOut]
    events: list[EventOut]
    soft_measures: list[SoftMeasuresOut]
    scan: ScanOut | None
    # Issue 11: why it is on the watchlist (its latest stored risk score), added by the caller; None without one.
    watchlist: WatchlistWhyOut | None = Field(
        default=None, description="Why it is on the risk watchlist: its latest stored score and reasons"
    )


@dataclass(frozen=True)
class OrganisationView:
    """The page, and each charted indicator's SPC chart (by indicator code) for the caller to draw."""

    page: OrganisationOut
    charts: dict[str, SpcSeries]


def _organisation(conn: Connection, organisation_id: int) -> AnyRow | None:
    parent = Organisation.__table__.alias("parent")
    return conn.execute(
        select(
            Organisation.id,
            Organisation.code,
            Organisation.name,
            Organisation.type,
            Organisation.region,
            parent.c.name.label("parent"),
            Dataset.code.label("dataset"),
            Dataset.name.label("dataset_name"),
            Dataset.source.label("dataset_source"),
            Dataset.licence.label("dataset_licence"),
            func.coalesce(Dataset.simulated, False).label("simulated"),
        )
        .outerjoin(parent, parent.c.id == Organisation.parent_id)
        .outerjoin(Dataset, Dataset.id == Organisation.dataset_id)
        .where(Organisation.id == organisation_id)
    ).first()


def _attributes(conn: Connection, organisation_id: int) -> list[AttributeOut]:
    """The latest value of each context attribute."""
    rows = conn.execute(
        select(
            OrganisationAttribute.name,
            OrganisationAttribute.valid_from,
            OrganisationAttribute.value_number,
            OrganisationAttribute.value_text,
        )
        .where(OrganisationAttribute.organisation_id == organisation_id)
        .order_by(OrganisationAttribute.name, OrganisationAttribute.valid_from)
    ).all()
    latest: dict[str, AttributeOut] = {}
    for name, valid_from, number, text in rows:
        shown = text if text is not None else ("" if number is None else f"{number:g}")
        latest[name] = AttributeOut(name=name, valid_from=valid_from, value=shown)
    return list(latest.values())


def _states(conn: Connection, organisation_id: int, indicator_ids: Sequence[int]) -> Sequence[AnyRow]:
    """The indicators of ``indicator_ids`` with the latest scan's state of this organisation's series (every
    state column None before the first scan), labelled by the fields of :class:`IndicatorStateOut`."""
    if not indicator_ids:
        return []
    return conn.execute(
        select(
            Indicator.id.label("indicator_id"),
            Indicator.code,
            Indicator.name,
            Indicator.unit,
            Indicator.kind,
            Indicator.polarity,
            Indicator.target,
            SeriesStatus.scan_id,
            SeriesStatus.n_points,
            SeriesStatus.last_period,
            SeriesStatus.last_value,
            SeriesStatus.spc_variation,
            SeriesStatus.spc_assurance,
            SeriesStatus.spc_mean,
            SeriesStatus.spc_lpl,
            SeriesStatus.spc_upl,
            SeriesStatus.funnel_period,
            SeriesStatus.funnel_z,
            SeriesStatus.funnel_q,
            SeriesStatus.funnel_outlier,
            SeriesStatus.cusum_value,
            SeriesStatus.cusum_alarms,
            SeriesStatus.cusum_last_alarm,
            SeriesStatus.cusum_current,
            SeriesStatus.trend_slope,
            SeriesStatus.trend_p,
            SeriesStatus.rank,
            SeriesStatus.rank_lower,
            SeriesStatus.rank_upper,
            SeriesStatus.rank_of,
        )
        .outerjoin(
            SeriesStatus,
            and_(SeriesStatus.indicator_id == Indicator.id, SeriesStatus.organisation_id == organisation_id),
        )
        .where(Indicator.id.in_(list(indicator_ids)))
        .order_by(Indicator.code)
    ).all()


def _signals(conn: Connection, organisation_id: int) -> dict[str, list[SignalOut]]:
    """The rules that fired in the latest scan of each of this organisation's series, by indicator code."""
    found: dict[str, list[SignalOut]] = {}
    for signal in in_order(read_signals(conn, organisation_id), "period_start", "method", "rule"):
        found.setdefault(signal.indicator_code, []).append(
            SignalOut(
                method=signal.method,
                rule=signal.rule,
                direction=signal.direction,
                period=signal.period_start,
                value=signal.value,
            )
        )
    return found


def _baselines(conn: Connection, organisation_id: int) -> dict[str, list[BaselineOut]]:
    rows = conn.execute(
        select(
            Indicator.code.label("indicator_code"),
            SpcBaseline.rebase_from,
            SpcBaseline.fix_after_n_points,
            SpcBaseline.reason,
            SpcBaseline.created_by,
            SpcBaseline.created_at,
        )
        .join(Indicator, Indicator.id == SpcBaseline.indicator_id)
        .where(SpcBaseline.organisation_id == organisation_id)
        .order_by(Indicator.code, SpcBaseline.rebase_from)
    ).all()
    found: dict[str, list[BaselineOut]] = {}
    for row in rows:
        found.setdefault(row.indicator_code, []).append(BaselineOut.model_validate(fields(row)))
    return found


def organisation_events(conn: Connection, organisation_id: int) -> list[EventOut]:
    """The organisation's events in date order ("intervention_end" sorts before "intervention_start")."""
    rows = conn.execute(
        select(Event.date, Event.kind, Event.grade, Event.detail)
        .where(Event.organisation_id == organisation_id)
        .order_by(Event.date, Event.kind)
    ).all()
    return [EventOut.model_validate(fields(r)) for r in rows]


def intervention_spans(events: Sequence[EventOut]) -> tuple[InterventionSpan, ...]:
    """The organisation's interventions from its events in date order (imported or recorded from a case): each
    ``intervention_start`` runs to the next ``intervention_end``, or is still running when another start or
    nothing follows (an end on the day of a start closes the earlier one: ends sort before starts)."""
    spans: list[InterventionSpan] = []
    running: EventOut | None = None
    for event in events:
        if event.kind == "intervention_start":
            if running is not None:
                spans.append(InterventionSpan(running.date, None, running.detail or "intervention"))
            running = event
        elif event.kind == "intervention_end" and running is not None:
            spans.append(InterventionSpan(running.date, event.date, running.detail or "intervention"))
            running = None
    if running is not None:
        spans.append(InterventionSpan(running.date, None, running.detail or "intervention"))
    return tuple(spans)


def _warnings(chart: SeriesChart) -> tuple[str, ...]:
    return (STALE,) if chart.stale else () if chart.charted else (UNCHARTED,)


def _spc_series(
    chart: SeriesChart, state: AnyRow, interventions: tuple[InterventionSpan, ...] = ()
) -> SpcSeries:
    """One indicator's chart as the last scan charted it, with the organisation's interventions, for drawing."""
    return SpcSeries(
        indicator_code=state.code,
        indicator_name=state.name,
        unit=state.unit,
        improvement=improvement_direction(state.polarity),
        period=chart.period,
        value=chart.value,
        mean=chart.mean,
        lpl=chart.lpl,
        upl=chart.upl,
        point_type=chart.point_type,
        rule=chart.rule,
        target=state.target,
        rebases=chart.rebases,
        variation=state.spc_variation if chart.charted else None,
        assurance=state.spc_assurance if chart.charted else None,
        warnings=_warnings(chart),
        kind=str(state.kind),
        interventions=interventions,
    )


def _indicator_state(
    organisation_id: int,
    state: AnyRow,
    chart: SeriesChart | None,
    signals: list[SignalOut],
    baselines: list[BaselineOut],
) -> IndicatorStateOut:
    return IndicatorStateOut.model_validate(
        fields(
            state,
            scanned=state.scan_id is not None,
            funnel_concern=is_concern(state.funnel_outlier, state.polarity),
            signals=signals,
            baselines=baselines,
            spc=EMPTY_SPC if chart is None else SpcOut.model_validate(chart, from_attributes=True),
            spc_warnings=[] if chart is None else list(_warnings(chart)),
            chart_url=f"/organisations/{organisation_id}/charts/{state.code}.svg",
        )
    )


def organisation(conn: Connection, visibility: Visibility, organisation_id: int) -> OrganisationView | None:
    """The organisation's page and charts; None when it does not exist or this account may not open it (the
    same answer). Soft measures are left empty: add them with :func:`with_soft_measures`."""
    if not visibility.may_open(organisation_id):
        return None
    info = _organisation(conn, organisation_id)
    if info is None:
        return None
    charts = organisation_charts(conn, organisation_id)
    states = _states(conn, organisation_id, list(charts))
    signals = _signals(conn, organisation_id)
    baselines = _baselines(conn, organisation_id)
    events = organisation_events(conn, organisation_id)
    spans = intervention_spans(events)
    page = OrganisationOut.model_validate(
        fields(
            info,
            attributes=_attributes(conn, organisation_id),
            indicators=[
                _indicator_state(
                    organisation_id,
                    state,
                    charts.get(state.indicator_id),
                    signals.get(state.code, []),
                    baselines.get(state.code, []),
                )
                for state in states
            ],
            events=events,
            soft_measures=[],
            scan=latest_scan(conn),
        )
    )
    drawn = {
        state.code: _spc_series(charts[state.indicator_id], state, spans)
        for state in states
        if state.indicator_id in charts
    }
    return OrganisationView(page=page, charts=drawn)


def spc_chart(
    conn: Connection, visibility: Visibility, organisation_id: int, indicator_code: str
) -> SpcSeries | None:
    """One indicator's SPC chart as the last scan charted it; None when there is none this account may see."""
    if not visibility.may_open(organisation_id) or _organisation(conn, organisation_id) is None:
        return None
    indicator_id = conn.execute(select(Indicator.id).where(Indicator.code == indicator_code)).scalar()
    if indicator_id is None:
        return None
    charts = organisation_charts(conn, organisation_id, int(indicator_id))
    if not charts:
        return None
    (state,) = _states(conn, organisation_id, [int(indicator_id)])
    spans = intervention_spans(organisation_events(conn, organisation_id))
    return _spc_series(charts[int(indicator_id)], state, spans)


def with_soft_measures(page: OrganisationOut, soft_measures: list[SoftMeasuresOut]) -> OrganisationOut:
    return page.model_copy(update={"soft_measures": soft_measures})
