"""One organisation: each indicator's SPC chart with its rule flags and baseline history, its place on the
funnel, its CUSUM state; the soft measures; the events timeline."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection

from forewarn.access.policy import ALL_ORGANISATIONS, Visibility
from forewarn.accounts.reads import (
    SeriesState,
    indicator_by_code,
    latest_scan,
    organisation_attributes,
    organisation_baselines,
    organisation_events,
    organisation_info,
    organisation_series_states,
    organisation_signals,
)
from forewarn.charts.spc import SpcSeries, spc_chart_spec
from forewarn.domain import improvement_direction
from forewarn.surveillance.series import SeriesChart, organisation_charts
from forewarn.web.errors import NotFoundError
from forewarn.web.pages.common import funnel_concern, scan_out
from forewarn.web.rendering import EncodedSpec
from forewarn.web.schemas import (
    AttributeOut,
    BaselineOut,
    EventOut,
    IndicatorStateOut,
    OrganisationOut,
    SignalOut,
    SoftMeasuresOut,
    SpcOut,
)
from forewarn.web.state import VersionedCache

EMPTY_SPC = SpcOut(period=(), value=(), mean=(), lpl=(), upl=(), point_type=(), rule=())
STALE = "The data changed after the last scan: limits and flags show again after the next scan."
UNCHARTED = "The last scan drew no process limits: the series has too few values for an SPC chart."

SoftMeasures = Callable[[str], list[SoftMeasuresOut]]


def spc_series(charts: Mapping[int, SeriesChart], states: Sequence[SeriesState]) -> dict[str, SpcSeries]:
    """Chart data of every indicator of one organisation, as the last scan charted it."""
    out: dict[str, SpcSeries] = {}
    for state in states:
        chart = charts.get(state.indicator.id)
        if chart is None:
            continue
        warnings = (STALE,) if chart.stale else () if chart.charted else (UNCHARTED,)
        out[state.indicator.code] = SpcSeries(
            indicator_code=state.indicator.code,
            indicator_name=state.indicator.name,
            unit=state.indicator.unit,
            improvement=improvement_direction(state.indicator.polarity),
            period=chart.period,
            value=chart.value,
            mean=chart.mean,
            lpl=chart.lpl,
            upl=chart.upl,
            point_type=chart.point_type,
            rule=chart.rule,
            target=state.indicator.target,
            rebases=chart.rebases,
            variation=state.spc_variation if chart.charted else None,
            assurance=state.spc_assurance if chart.charted else None,
            warnings=warnings,
            kind=state.indicator.kind,
        )
    return out


def build_organisation(
    conn: Connection,
    visibility: Visibility,
    organisation_id: int,
) -> tuple[OrganisationOut, dict[str, EncodedSpec]]:
    """The page's content and a Vega-Lite spec per indicator; NotFoundError if the account may not open it.

    Soft measures come from another service: add them with :func:`with_soft_measures` once this connection
    is closed (holding one connection while asking for another can exhaust the pool under load)."""
    info = organisation_info(conn, visibility, organisation_id)
    if info is None:
        raise NotFoundError("There is no organisation at this address, or your account cannot see it.")
    charts = organisation_charts(conn, organisation_id)
    states = organisation_series_states(conn, organisation_id, list(charts))
    baselines = organisation_baselines(conn, organisation_id)
    signals = organisation_signals(conn, organisation_id)
    series = spc_series(charts, states)
    indicators = []
    specs: dict[str, EncodedSpec] = {}
    for state in states:
        ind = state.indicator
        chart = series.get(ind.code)
        if chart is not None:
            specs[ind.code] = EncodedSpec.of(spc_chart_spec(chart))
        indicators.append(
            IndicatorStateOut(
                code=ind.code,
                name=ind.name,
                unit=ind.unit,
                kind=ind.kind,
                polarity=ind.polarity,
                target=ind.target,
                scanned=state.scan_id is not None,
                n_points=state.n_points,
                last_period=state.last_period,
                last_value=state.last_value,
                spc_variation=state.spc_variation,
                spc_assurance=state.spc_assurance,
                spc_mean=state.spc_mean,
                spc_lpl=state.spc_lpl,
                spc_upl=state.spc_upl,
                funnel_period=state.funnel_period,
                funnel_z=state.funnel_z,
                funnel_q=state.funnel_q,
                funnel_outlier=state.funnel_outlier,
                funnel_concern=funnel_concern(state.funnel_outlier, ind.polarity),
                cusum_value=state.cusum_value,
                cusum_alarms=state.cusum_alarms,
                cusum_last_alarm=state.cusum_last_alarm,
                cusum_current=None if state.cusum_current is None else bool(state.cusum_current),
                trend_slope=state.trend_slope,
                trend_p=state.trend_p,
                rank=state.rank,
                rank_lower=state.rank_lower,
                rank_upper=state.rank_upper,
                rank_of=state.rank_of,
                signals=[
                    SignalOut(
                        method=s.method,
                        rule=s.rule,
                        direction=s.direction,
                        period=s.period_start,
                        value=s.value,
                    )
                    for s in signals
                    if s.indicator_code == ind.code
                ],
                baselines=[
                    BaselineOut(
                        rebase_from=b.rebase_from,
                        fix_after_n_points=b.fix_after_n_points,
                        reason=b.reason,
                        created_by=b.created_by,
                        created_at=b.created_at,
                    )
                    for b in baselines
                    if b.indicator_code == ind.code
                ],
                spc=SpcOut(
                    period=chart.period,
                    value=chart.value,
                    mean=chart.mean,
                    lpl=chart.lpl,
                    upl=chart.upl,
                    point_type=chart.point_type,
                    rule=chart.rule,
                )
                if chart
                else EMPTY_SPC,
                spc_warnings=list(chart.warnings) if chart else [],
                chart_url=f"/organisations/{organisation_id}/charts/{ind.code}.svg",
            )
        )
    page = OrganisationOut(
        id=info.id,
        code=info.code,
        name=info.name,
        type=info.type,
        region=info.region,
        parent=info.parent_name,
        dataset=info.dataset_code,
        dataset_name=info.dataset_name,
        dataset_source=info.dataset_source,
        dataset_licence=info.dataset_licence,
        simulated=info.simulated,
        attributes=[
            AttributeOut(name=a.name, valid_from=a.valid_from, value=a.value)
            for a in organisation_attributes(conn, organisation_id)
        ],
        indicators=indicators,
        events=[
            EventOut(date=e.date, kind=e.kind, grade=e.grade, detail=e.detail)
            for e in organisation_events(conn, organisation_id)
        ],
        soft_measures=[],
        scan=scan_out(latest_scan(conn)),
    )
    return page, specs


def spc_chart_for(
    conn: Connection, visibility: Visibility, organisation_id: int, indicator_code: str
) -> dict[str, Any]:
    """The spec of one indicator's SPC chart (for the server-drawn SVG); NotFoundError if not visible."""
    if organisation_info(conn, visibility, organisation_id) is None:
        raise NotFoundError("There is no chart at this address, or your account cannot see it.")
    indicator = indicator_by_code(conn, indicator_code)
    charts = {} if indicator is None else organisation_charts(conn, organisation_id, indicator.id)
    if indicator is None or not charts:
        raise NotFoundError("There is no chart at this address, or your account cannot see it.")
    states = organisation_series_states(conn, organisation_id, [indicator.id])
    return spc_chart_spec(spc_series(charts, states)[indicator_code])


def with_soft_measures(page: OrganisationOut, soft_measures: SoftMeasures) -> OrganisationOut:
    return page.model_copy(update={"soft_measures": soft_measures(page.code)})


def build_organisation_indicator(
    conn: Connection, visibility: Visibility, organisation_id: int, indicator_code: str, cache: VersionedCache
) -> tuple[OrganisationOut, IndicatorStateOut, EncodedSpec | None]:
    """One indicator of one organisation in full (every point as a table); NotFoundError if not visible."""
    page, specs = cached_organisation(conn, visibility, organisation_id, cache)
    for indicator in page.indicators:
        if indicator.code == indicator_code:
            return page, indicator, specs.get(indicator_code)
    raise NotFoundError("This organisation has no data for this indicator, or your account cannot see it.")


def cached_organisation(
    conn: Connection, visibility: Visibility, organisation_id: int, cache: VersionedCache
) -> tuple[OrganisationOut, dict[str, EncodedSpec]]:
    """:func:`build_organisation`, kept until the data change. Access is checked on every call, before the
    cache is consulted; what is cached does not depend on who asks."""
    if not visibility.may_open(organisation_id):
        raise NotFoundError("There is no organisation at this address, or your account cannot see it.")
    encoded, specs = cache.get_or_build(
        conn,
        ("organisation", organisation_id),
        lambda: _encoded(build_organisation(conn, ALL_ORGANISATIONS, organisation_id)),
    )
    return OrganisationOut.model_validate_json(encoded), specs


def _encoded(
    built: tuple[OrganisationOut, dict[str, EncodedSpec]],
) -> tuple[str, dict[str, EncodedSpec]]:
    """A page as the cache keeps it: JSON text, which the garbage collector never walks. Kept as objects, a few
    hundred cached pages made every young collection take tens of milliseconds, stalling all requests;
    parsing the JSON back costs well under a millisecond."""
    page, specs = built
    return page.model_dump_json(), specs
