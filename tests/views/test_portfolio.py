"""The portfolio view: evidence order, what a member sees of peers, and filters only for those allowed them."""

from __future__ import annotations

from sqlalchemy import Engine

from forewarn.access.policy import ALL_ORGANISATIONS
from forewarn.views.portfolio import PortfolioFilters, portfolio, ranked_organisations
from tests.views.conftest import member_visibility
from tests.web.world import World


def test_staff_see_every_organisation_in_evidence_order(engine: Engine, world: World) -> None:
    with engine.connect() as conn:
        found = portfolio(conn, ALL_ORGANISATIONS, PortfolioFilters(), may_filter=True)
    rows = found.page.organisations
    assert {r.code for r in rows} == {"OWN1", "PEER1", "HIDE1", "SIM1"}
    assert [r.evidence for r in rows] == sorted((r.evidence for r in rows), reverse=True)
    assert all(r.evidence == r.spc_concern + r.funnel_concern + r.cusum_alarms for r in rows)
    assert found.ids == [r.organisation_id for r in rows]
    assert found.page.types == ["Acute trust", "Community trust"] and found.page.filters_available
    assert [d.code for d in found.page.datasets] == ["simdata", "testdata"]
    assert found.page.scan is not None


def test_a_member_sees_their_own_by_name_and_peers_by_pseudonym_only(engine: Engine, world: World) -> None:
    with engine.connect() as conn:
        found = portfolio(conn, member_visibility(world), PortfolioFilters(), may_filter=False)
    by_label = {r.label: r for r in found.page.organisations}
    assert set(by_label) == {"Alpha Own Trust", "Peer 1"}
    peer = by_label["Peer 1"]
    assert peer.anonymised and peer.organisation_id is None and peer.url is None
    assert (peer.code, peer.type, peer.region, peer.dataset) == (None, None, None, None)
    own = next(r for r in found.page.organisations if r.own)
    assert own.organisation_id == world.ids["OWN"] and own.code == "OWN1"
    assert sorted(found.ids) == sorted(
        [world.ids["OWN"], world.ids["PEER"]]
    )  # the server keeps the peer's id
    assert found.page.types == [] and found.page.datasets == []


def test_filters_apply_only_when_allowed(engine: Engine, world: World) -> None:
    west = PortfolioFilters(region="West")
    with engine.connect() as conn:
        staff = portfolio(conn, ALL_ORGANISATIONS, west, may_filter=True)
        member = portfolio(conn, member_visibility(world), west, may_filter=False)
        concern = portfolio(conn, ALL_ORGANISATIONS, PortfolioFilters(concern_only=True), may_filter=False)
    assert {r.region for r in staff.page.organisations} == {"West"}
    assert member.page.filters == PortfolioFilters() and member.page.total == 2
    assert all(r.evidence > 0 for r in concern.page.organisations)


def test_pages_of_the_portfolio(engine: Engine, world: World) -> None:
    with engine.connect() as conn:
        first = portfolio(conn, ALL_ORGANISATIONS, PortfolioFilters(), may_filter=True, page=1, page_size=3)
        last = portfolio(conn, ALL_ORGANISATIONS, PortfolioFilters(), may_filter=True, page=9, page_size=3)
    assert (first.page.pages, first.page.total, len(first.page.organisations)) == (2, 4, 3)
    assert last.page.page == 2 and len(last.page.organisations) == 1


def test_a_member_served_from_the_kept_ranking_sees_what_the_store_gives_them(
    engine: Engine, world: World
) -> None:
    """The web serves a member from the ranking it keeps for staff; the answer is the one read from the store for
    their organisations alone, filters and pages included."""
    visibility = member_visibility(world)
    with engine.connect() as conn:
        for filters in (
            PortfolioFilters(),
            PortfolioFilters(concern_only=True),
            PortfolioFilters(region="South"),
        ):
            direct = portfolio(conn, visibility, filters, may_filter=False)
            kept = portfolio(conn, visibility, filters, may_filter=False, ranked=ranked_organisations)
            assert kept == direct and kept.page.organisations, filters
