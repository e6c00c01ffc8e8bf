"""An organisation's funnel history read from the store (forewarn.views.funnel_history): its latest period is the
funnel the scan stored (series_status.funnel_z), access is the organisation page's, and its interventions come
with it to be drawn."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine, insert, select

from forewarn.access.policy import ALL_ORGANISATIONS
from forewarn.store.models import Event, Indicator
from forewarn.store.models_surveillance import SeriesStatus
from forewarn.views.funnel_history import funnel_history_table, organisation_funnel_history
from tests.views.conftest import member_visibility
from tests.web.world import World


@pytest.mark.parametrize("code", ["perf", "falls"])
def test_the_latest_period_is_the_funnel_the_scan_stored(engine: Engine, world: World, code: str) -> None:
    with engine.connect() as conn:
        for key in ("OWN", "PEER", "HIDDEN"):
            series = organisation_funnel_history(conn, ALL_ORGANISATIONS, world.ids[key], code)
            assert series is not None
            stored = conn.execute(
                select(SeriesStatus.funnel_z, SeriesStatus.funnel_period)
                .join(Indicator, Indicator.id == SeriesStatus.indicator_id)
                .where(Indicator.code == code, SeriesStatus.organisation_id == world.ids[key])
            ).one()
            assert series.period[-1] == stored.funnel_period
            assert series.z[-1] == pytest.approx(stored.funnel_z, rel=1e-9)
            assert len(series.period) == 24  # every month of the world's two years is a funnel of its own


def test_the_deteriorating_trust_falls_in_the_funnel_and_its_table_says_so(
    engine: Engine, world: World
) -> None:
    with engine.connect() as conn:
        series = organisation_funnel_history(conn, ALL_ORGANISATIONS, world.ids["OWN"], "perf")
    assert series is not None
    assert series.concern_side == -1  # higher is better: below is the concern
    table = funnel_history_table(series)
    assert table.height == 24
    assert table["funnel_z"][-1] < table["funnel_z"][0]  # the drift of -0.4 points a month
    # Four trusts over-dispersed: the limits (on z, with tau^2) hold every point, as the scan's stored position.
    assert table["position"].to_list() == ["Within limits"] * 24
    assert (table["funnel_z"].abs() < series.limit_z).all()


def test_access_and_interventions(engine: Engine, world: World) -> None:
    member = member_visibility(world)
    with engine.begin() as conn:
        conn.execute(
            insert(Event),
            [
                {
                    "organisation_id": world.ids["OWN"],
                    "date": dt.date(2021, 2, 1),
                    "kind": "intervention_start",
                    "detail": "development (case 1)",
                },
                {
                    "organisation_id": world.ids["OWN"],
                    "date": dt.date(2021, 9, 1),
                    "kind": "intervention_end",
                    "detail": None,
                },
            ],
        )
    with engine.connect() as conn:
        assert organisation_funnel_history(conn, member, world.ids["HIDDEN"], "perf") is None
        assert organisation_funnel_history(conn, member, world.ids["PEER"], "perf") is None
        assert organisation_funnel_history(conn, member, world.ids["OWN"], "no_such") is None
        assert organisation_funnel_history(conn, ALL_ORGANISATIONS, 10_000, "perf") is None
        own = organisation_funnel_history(conn, member, world.ids["OWN"], "perf")
    assert own is not None
    assert [(s.start, s.end, s.label) for s in own.interventions] == [
        (dt.date(2021, 2, 1), dt.date(2021, 9, 1), "development (case 1)")
    ]
