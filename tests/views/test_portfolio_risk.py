"""Issue 11: the portfolio becomes the watchlist. With stored risk scores staff see it ordered by calibrated risk
with intervals and ties as ties; a member sees only their own organisation's risk; without scores it keeps the
evidence order and says so."""

from __future__ import annotations

import numpy as np
from sqlalchemy import Engine, delete

from forewarn.access.policy import ALL_ORGANISATIONS
from forewarn.store.models_risk import RiskScore
from forewarn.views.portfolio import NO_SCORES, PortfolioFilters, portfolio, ranked_organisations
from forewarn.views.risk import tied_places
from tests.views.conftest import member_visibility
from tests.web.risk_world import store_risk_scores
from tests.web.world import World


def test_equal_probabilities_as_shown_are_tied_even_with_intervals_of_no_width() -> None:
    """By hand, intervals of no width: 20.0% is place 1 (nothing above it, nothing else not below it); 12.36%
    is shown as 12.4%, with only 20% above it: place 2; 12.34% and 12.31% are both shown as 12.3%, so each takes
    the group's interval (12.31% to 12.34%): two above it (20%, 12.36%), four not below it (those two and the
    pair): tied, 3 to 4, although their own intervals do not overlap; 1% is place 5. Overlap still ties:
    [0.05, 0.2] against the point 0.2 (not wholly below it, nor it wholly above)."""
    p = np.array([0.2, 0.1234, 0.1231, 0.1236, 0.01])
    best, worst = tied_places(p, p, p)
    assert best.tolist() == [1, 3, 3, 2, 5] and worst.tolist() == [1, 4, 4, 2, 5]
    best, worst = tied_places(np.array([0.2, 0.1]), np.array([0.2, 0.05]), np.array([0.2, 0.2]))
    assert best.tolist() == [1, 1] and worst.tolist() == [2, 2]


def test_staff_see_the_portfolio_in_order_of_calibrated_risk_with_ties(engine: Engine, world: World) -> None:
    store_risk_scores(world, engine)  # HIDDEN 40% (30-50), OWN 12% (8-18), PEER 10% (6-16), SIM 1% (0.5-2)
    with engine.connect() as conn:
        found = portfolio(conn, ALL_ORGANISATIONS, PortfolioFilters(), may_filter=True)
    page = found.page
    assert page.ordered_by == "risk" and page.scoring is not None and page.scoring.scored == 4
    assert "Ordered by calibrated risk" in page.order and "tied" in page.order
    assert [r.code for r in page.organisations] == ["HIDE1", "OWN1", "PEER1", "SIM1"]
    places = {
        r.code: (r.risk.place_best, r.risk.place_worst, r.risk.tied) for r in page.organisations if r.risk
    }
    assert places == {
        "HIDE1": (1, 1, False),
        "OWN1": (2, 3, True),
        "PEER1": (2, 3, True),
        "SIM1": (4, 4, False),
    }
    own = next(r for r in page.organisations if r.code == "OWN1")
    assert own.risk is not None and (own.risk.probability, own.risk.lower, own.risk.upper) == (
        0.12,
        0.08,
        0.18,
    )
    # Filters and pages keep the order; an organisation the scoring left out follows, in evidence order.
    with engine.begin() as conn:
        conn.execute(delete(RiskScore).where(RiskScore.organisation_id == world.ids["HIDDEN"]))
    with engine.connect() as conn:
        again = portfolio(conn, ALL_ORGANISATIONS, PortfolioFilters(), may_filter=True, page=2, page_size=3)
        first = portfolio(conn, ALL_ORGANISATIONS, PortfolioFilters(), may_filter=True, page=1, page_size=3)
    assert [r.code for r in first.page.organisations] == ["OWN1", "PEER1", "SIM1"]
    assert [(r.code, r.risk) for r in again.page.organisations] == [("HIDE1", None)]


def test_a_member_sees_only_their_own_risk_and_the_evidence_order(engine: Engine, world: World) -> None:
    with engine.connect() as conn:
        before = portfolio(conn, member_visibility(world), PortfolioFilters(), may_filter=False)
    store_risk_scores(world, engine)
    with engine.connect() as conn:
        direct = portfolio(conn, member_visibility(world), PortfolioFilters(), may_filter=False)
        kept = portfolio(
            conn, member_visibility(world), PortfolioFilters(), may_filter=False, ranked=ranked_organisations
        )
    assert kept == direct
    page = direct.page
    assert page.ordered_by == "evidence" and page.scoring is not None and page.scoring.scored is None
    assert [r.label for r in page.organisations] == [r.label for r in before.page.organisations]
    own = next(r for r in page.organisations if r.own)
    peer = next(r for r in page.organisations if r.anonymised)
    assert own.risk is not None and own.risk.probability == 0.12 and own.risk.place_best is None
    assert peer.risk is None


def test_without_scores_the_portfolio_keeps_the_evidence_order_and_says_so(
    engine: Engine, world: World
) -> None:
    with engine.connect() as conn:
        found = portfolio(conn, ALL_ORGANISATIONS, PortfolioFilters(), may_filter=True)
    assert found.page.ordered_by == "evidence" and found.page.scoring is None
    assert found.page.order.endswith(NO_SCORES)
    assert all(r.risk is None for r in found.page.organisations)
    evidence = [r.evidence for r in found.page.organisations]
    assert evidence == sorted(evidence, reverse=True)
