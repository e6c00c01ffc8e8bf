"""The organisation view: who may open it, and each indicator's state read by name from what the scan stored."""

from __future__ import annotations

from sqlalchemy import Engine, select

from forewarn.access.policy import ALL_ORGANISATIONS
from forewarn.domain import is_concern
from forewarn.store.models import Indicator
from forewarn.store.models_surveillance import SeriesStatus
from forewarn.views.organisation import organisation, spc_chart
from forewarn.views.series import organisation_charts
from tests.views.conftest import member_visibility
from tests.web.world import World


def test_only_staff_and_the_member_of_its_own_organisation_may_open_it(engine: Engine, world: World) -> None:
    member = member_visibility(world)
    with engine.connect() as conn:
        assert organisation(conn, member, world.ids["OWN"]) is not None
        assert (
            organisation(conn, member, world.ids["PEER"]) is None
        )  # a peer is seen anonymised, never opened
        assert organisation(conn, member, world.ids["HIDDEN"]) is None
        assert organisation(conn, ALL_ORGANISATIONS, world.ids["HIDDEN"]) is not None
        assert organisation(conn, ALL_ORGANISATIONS, 10_000) is None
        assert spc_chart(conn, member, world.ids["HIDDEN"], "perf") is None
        assert spc_chart(conn, member, world.ids["OWN"], "no_such_indicator") is None


def test_each_indicator_shows_the_stored_state_and_the_scan_s_chart(engine: Engine, world: World) -> None:
    own = world.ids["OWN"]
    with engine.connect() as conn:
        view = organisation(conn, ALL_ORGANISATIONS, own)
        assert view is not None
        stored = {
            r.code: r
            for r in conn.execute(
                select(
                    Indicator.code,
                    Indicator.polarity,
                    SeriesStatus.indicator_id,
                    SeriesStatus.n_points,
                    SeriesStatus.last_value,
                    SeriesStatus.funnel_z,
                    SeriesStatus.funnel_outlier,
                    SeriesStatus.cusum_current,
                    SeriesStatus.rank,
                )
                .join(Indicator, Indicator.id == SeriesStatus.indicator_id)
                .where(SeriesStatus.organisation_id == own)
            )
        }
        charts = organisation_charts(conn, own)
        chart = spc_chart(conn, ALL_ORGANISATIONS, own, "perf")
    page = view.page
    assert (page.code, page.name, page.dataset, page.simulated) == (
        "OWN1",
        "Alpha Own Trust",
        "testdata",
        False,
    )
    assert [i.code for i in page.indicators] == ["falls", "perf"]
    for state in page.indicators:
        row = stored[state.code]
        status = row
        assert state.scanned and state.polarity == row.polarity.value
        assert (state.n_points, state.last_value, state.funnel_z, state.rank) == (
            status.n_points,
            status.last_value,
            status.funnel_z,
            status.rank,
        )
        assert state.funnel_concern == is_concern(status.funnel_outlier, row.polarity)
        assert state.cusum_current == (None if status.cusum_current is None else bool(status.cusum_current))
        assert state.chart_url == f"/organisations/{own}/charts/{state.code}.svg"
    perf = next(i for i in page.indicators if i.code == "perf")
    stored_chart = charts[int(stored["perf"].indicator_id)]
    assert perf.spc.period == stored_chart.period and perf.spc.point_type == stored_chart.point_type
    assert chart is not None and view.charts["perf"] == chart
    assert chart.improvement == "increase" and chart.target == 0.95
    assert [e.kind for e in page.events] and page.soft_measures == []
