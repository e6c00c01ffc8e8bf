"""The indicator view: the list, and one indicator as a member sees it (peers by pseudonym, hidden ones not)."""

from __future__ import annotations

from sqlalchemy import Engine

from forewarn.access.policy import ALL_ORGANISATIONS
from forewarn.views.indicator import indicator, indicators
from tests.views.conftest import member_visibility
from tests.web.world import World


def test_every_indicator_is_listed(engine: Engine, world: World) -> None:
    with engine.connect() as conn:
        listed = indicators(conn).indicators
        assert indicator(conn, ALL_ORGANISATIONS, "no_such_indicator") is None
    assert [(i.code, i.polarity, i.url) for i in listed] == [
        ("falls", "lower_is_better", "/indicators/falls"),
        ("perf", "higher_is_better", "/indicators/perf"),
    ]


def test_a_member_sees_peers_by_pseudonym_and_the_whole_funnel_s_counts(engine: Engine, world: World) -> None:
    with engine.connect() as conn:
        staff = indicator(conn, ALL_ORGANISATIONS, "perf")
        member = indicator(conn, member_visibility(world), "perf")
    assert staff is not None and member is not None
    assert {r.code for r in staff.page.organisations} == {"OWN1", "PEER1", "HIDE1", "SIM1"}
    rows = {r.label: r for r in member.page.organisations}
    assert set(rows) == {"Alpha Own Trust", "Peer 1"}
    peer = rows["Peer 1"]
    assert peer.anonymised and peer.organisation_id is None and peer.code is None and peer.url is None
    assert rows["Alpha Own Trust"].own and rows["Alpha Own Trust"].url == f"/organisations/{world.ids['OWN']}"
    assert member.page.tests == staff.page.tests == 4  # the funnel compared every organisation
    assert member.page.funnel_limit == 99.8 and member.page.fdr_alpha == 0.05
    assert set(member.specs) <= {"funnel", "ranks"} and member.page.scan == staff.page.scan
