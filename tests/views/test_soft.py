"""Soft measures: an organisation's latest closed waves with suppression kept, and the portfolio's status line."""

from __future__ import annotations

from sqlalchemy import Engine

from forewarn.access.policy import ALL_ORGANISATIONS
from forewarn.views.portfolio import PortfolioFilters, portfolio
from forewarn.views.soft import soft_measures, soft_statuses, with_soft_status
from tests.web.world import World


def test_an_organisation_s_closed_waves_only(engine: Engine, world: World) -> None:
    with engine.connect() as conn:
        (measures,) = soft_measures(
            conn, "OWN1", min_group_size=5
        )  # the open and draft waves are not published
        assert soft_measures(conn, "SIM1", min_group_size=5) == []
    assert measures.wave == "Closed wave" and measures.wave_id == world.waves["closed"]
    assert measures.dimensions and not measures.suppressed


def test_one_status_line_per_organisation_in_a_closed_wave(engine: Engine, world: World) -> None:
    with engine.connect() as conn:
        statuses = soft_statuses(conn, {world.ids["OWN"]: "OWN1", world.ids["SIM"]: "SIM1"}, min_group_size=5)
        found = portfolio(conn, ALL_ORGANISATIONS, PortfolioFilters(), may_filter=True)
        page = with_soft_status(found, conn, min_group_size=5)
    assert list(statuses) == [world.ids["OWN"]]
    assert statuses[world.ids["OWN"]].startswith("Closed wave: ")
    by_code = {r.code: r.soft_status for r in page.organisations}
    assert by_code["OWN1"] == statuses[world.ids["OWN"]] and by_code["SIM1"] is None
