"""Follow-up after withdrawal on the watchlists: an organisation whose improvement decays after a case's
intervention ended is flagged on its portfolio row and its risk watchlist row, for those who see that row.

The web tests' small world has the member's own trust (OWN1) falling by 0.4 points a month for two years while
the others hold: an intervention from April 2020 to January 2021 leaves it below the level it had reached, which
the follow-up's CUSUM must catch within the eleven months that follow."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine

from forewarn.cases import interventions, outcomes, service
from forewarn.views.follow_up import follow_up_flags, watchlist_with_follow_up
from forewarn.views.risk import ORDER, WatchlistOut, WatchlistRowOut
from tests.web.conftest import SignedIn
from tests.web.world import World


def _withdrawn_case(engine: Engine) -> int:
    with engine.begin() as conn:
        case_id = service.open_case(
            conn, "OWN1", support="development", owner="Dana", concern="Falling", actor="tests", pull=False
        )
        interventions.start_intervention(
            conn, case_id, start=dt.date(2020, 4, 15), indicators=["perf"], actor="t"
        )
        interventions.end_intervention(conn, case_id, end=dt.date(2021, 1, 1), actor="t")
    return case_id


def test_a_relapse_is_flagged_on_the_portfolio_row_for_those_who_see_it(
    signed_in: dict[str, SignedIn], engine: Engine, world: World
) -> None:
    analyst, member = signed_in["analyst"], signed_in["member"]
    before = analyst.client.get("/api/v1/portfolio").json()["organisations"]
    assert all(row["follow_up"] is None for row in before)
    case_id = _withdrawn_case(engine)
    with engine.connect() as conn:
        (watched,) = outcomes.follow_up_watch(conn)
        flags = follow_up_flags(conn)
    assert watched.status == "relapse" and watched.alarm_month is not None and watched.signal is not None
    flag = flags[world.ids["OWN"]]
    assert (flag.case_id, flag.withdrawal, flag.alarm_month) == (
        case_id,
        dt.date(2021, 1, 1),
        watched.alarm_month,
    )
    assert set(flags) == {world.ids["OWN"]}

    # At once (the withdrawal is an event: the kept ranking and flags follow the data version).
    rows = {r["code"]: r for r in analyst.client.get("/api/v1/portfolio").json()["organisations"]}
    assert rows["OWN1"]["follow_up"]["case_url"] == f"/cases/{case_id}"
    assert rows["OWN1"]["follow_up"]["alarm_month"] == watched.alarm_month.isoformat()
    assert all(r["follow_up"] is None for code, r in rows.items() if code != "OWN1")
    page = analyst.client.get("/portfolio").text
    assert "Relapse after withdrawal" in page and f'href="/cases/{case_id}"' in page
    # The member sees their own organisation's flag; a peer's row (anonymised) never carries one.
    own = [r for r in member.client.get("/api/v1/portfolio").json()["organisations"] if r["own"]]
    assert own[0]["follow_up"]["case_id"] == case_id


def test_the_watchlist_row_carries_its_organisations_flag_only(engine: Engine, world: World) -> None:
    case_id = _withdrawn_case(engine)
    with engine.connect() as conn:
        flags = follow_up_flags(conn)

    def row(key: str) -> WatchlistRowOut:
        return WatchlistRowOut(
            organisation_id=world.ids[key],
            label=key,
            code=key,
            url="/",
            probability=0.2,
            lower=0.1,
            upper=0.3,
            place_best=1,
            place_worst=2,
            tied=True,
            reasons=[],
        )

    view = WatchlistOut(
        as_of=dt.date(2022, 1, 1),
        outcome="x",
        horizon_months=12,
        model_version="v",
        whole_list=True,
        order=ORDER,
        organisations=[row("OWN"), row("PEER")],
    )
    flagged = watchlist_with_follow_up(view, flags)
    own, peer = flagged.organisations
    assert own.follow_up is not None and own.follow_up.case_id == case_id
    assert "Improvement decaying after withdrawal on 2021-01-01" in own.follow_up.text
    assert peer.follow_up is None
