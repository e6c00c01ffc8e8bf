"""One organisation: each indicator's SPC chart with its rule flags and baseline history, its place on the
funnel, its CUSUM state; the soft measures; the events timeline."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection

from forewarn.accounts.policy import Visibility
from forewarn.accounts.reads import (
    BaselineRecord,
    SeriesState,
    latest_scan,
    organisation_attributes,
    organisation_baselines,
    organisation_events,
    organisation_info,
    organisation_observations,
    organisation_series_states,
    organisation_signals,
)
from forewarn.charts.spc import SeriesInput, SpcSeries, improvement_of, spc_chart_spec, xmr_series
from forewarn.web.errors import NotFoundError
from forewarn.web.pages.common import funnel_concern, scan_out
from forewarn.web.schemas import (
    AttributeOut,
    BaselineOut,
    EventOut,
    IndicatorStateOut,
    OrganisationOut,
    SignalOut,
    SoftMeasuresOut,
    SpcPointOut,
)

SPC_MIN_POINTS = 12  # as the surveillance scan: shorter series get no SPC status, so no limits are drawn

SoftMeasures = Callable[[Connection, int], list[SoftMeasuresOut]]


def spc_series(
    conn: Connection, organisation_id: int, states: Sequence[SeriesState], baselines: Sequence[BaselineRecord]
) -> dict[str, SpcSeries]:
    """Chart data of every indicator of one organisation, computed together from its observations."""
    observations = organisation_observations(conn, organisation_id)
    inputs = []
    for state in states:
        points = observations.get(state.indicator.id)
        if points is None:
            continue
        inputs.append(
            SeriesInput(
                indicator_code=state.indicator.code,
                indicator_name=state.indicator.name,
                unit=state.indicator.unit,
                improvement=improvement_of(state.indicator.polarity),
                periods=points.period_start,
                values=points.value,
                target=state.indicator.target,
                rebases=[b.rebase_from for b in baselines if b.indicator_code == state.indicator.code],
            )
        )
    return {s.indicator_code: s for s in xmr_series(inputs, min_points=SPC_MIN_POINTS)}


def build_organisation(
    conn: Connection,
    visibility: Visibility,
    organisation_id: int,
    *,
    soft_measures: SoftMeasures | None = None,
) -> tuple[OrganisationOut, dict[str, dict[str, Any]]]:
    """The page's content and a Vega-Lite spec per indicator; NotFoundError if the account may not open it."""
    info = organisation_info(conn, visibility, organisation_id)
    if info is None:
        raise NotFoundError("There is no organisation at this address, or your account cannot see it.")
    states = organisation_series_states(conn, organisation_id)
    baselines = organisation_baselines(conn, organisation_id)
    signals = organisation_signals(conn, organisation_id)
    series = spc_series(conn, organisation_id, states, baselines)
    indicators = []
    specs: dict[str, dict[str, Any]] = {}
    for state in states:
        ind = state.indicator
        chart = series.get(ind.code)
        if chart is not None:
            specs[ind.code] = spc_chart_spec(chart)
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
                spc_points=[
                    SpcPointOut(
                        period=p.period,
                        value=p.value,
                        mean=p.mean,
                        lpl=p.lpl,
                        upl=p.upl,
                        point_type=p.point_type,
                        rule=p.rule,
                    )
                    for p in (chart.points if chart else ())
                ],
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
        soft_measures=soft_measures(conn, organisation_id) if soft_measures else [],
        scan=scan_out(latest_scan(conn)),
    )
    return page, specs


def spc_chart_for(
    conn: Connection, visibility: Visibility, organisation_id: int, indicator_code: str
) -> dict[str, Any]:
    """The spec of one indicator's SPC chart (for the server-drawn SVG); NotFoundError if not visible."""
    if organisation_info(conn, visibility, organisation_id) is None:
        raise NotFoundError("There is no chart at this address, or your account cannot see it.")
    states = [
        s for s in organisation_series_states(conn, organisation_id) if s.indicator.code == indicator_code
    ]
    if not states:
        raise NotFoundError("There is no chart at this address, or your account cannot see it.")
    baselines = organisation_baselines(conn, organisation_id)
    series = spc_series(conn, organisation_id, states, baselines)
    return spc_chart_spec(series[indicator_code])
