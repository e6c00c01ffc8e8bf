"""Issue 11: the risk watchlist page shows analysts every stored score with ties as ties, and a member only
their own organisation's; the backtest page shows analysts the latest stored backtest with its charts."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import Engine

from tests.web.risk_world import store_backtest, store_risk_scores
from tests.web.test_authorisation_matrix import _client
from tests.web.world import SECRET_WORDS_FOR_MEMBER, World


def test_the_analyst_sees_every_score_with_overlapping_intervals_tied(
    app: FastAPI, engine: Engine, world: World
) -> None:
    store_risk_scores(world, engine)
    client, _ = _client(app, engine, world, "analyst")
    with client:
        view = client.get("/api/v1/risk/watchlist").json()
        rows = {row["label"]: row for row in view["organisations"]}
        assert list(rows) == [
            "Charlie Hidden Trust",
            "Alpha Own Trust",
            "Bravo Peer Trust",
            "Delta Simulated Trust",
        ]
        assert (rows["Charlie Hidden Trust"]["place_best"], rows["Charlie Hidden Trust"]["tied"]) == (
            1,
            False,
        )
        assert (rows["Alpha Own Trust"]["place_best"], rows["Alpha Own Trust"]["place_worst"]) == (2, 3)
        assert (rows["Bravo Peer Trust"]["place_best"], rows["Bravo Peer Trust"]["place_worst"]) == (2, 3)
        assert rows["Alpha Own Trust"]["tied"] and rows["Bravo Peer Trust"]["tied"]
        assert rows["Delta Simulated Trust"]["place_best"] == 4
        assert view["whole_list"] and view["outcome"] == "inspection graded inadequate"
        page = client.get("/risk").text
        assert "tied: 2 to 3" in page and "Charlie Hidden Trust" in page


def test_a_member_sees_only_their_own_organisations_risk(app: FastAPI, engine: Engine, world: World) -> None:
    store_risk_scores(world, engine)
    client, _ = _client(app, engine, world, "member")
    with client:
        view = client.get("/api/v1/risk/watchlist").json()
        assert [row["label"] for row in view["organisations"]] == ["Alpha Own Trust"]
        assert view["organisations"][0]["place_best"] is None and not view["whole_list"]
        page = client.get("/risk").text
        assert "Alpha Own Trust" in page and "4-hour performance has fallen" in page
        for word in SECRET_WORDS_FOR_MEMBER:
            assert word not in page


def test_the_backtest_page_shows_the_latest_stored_backtest_with_its_charts(
    app: FastAPI, engine: Engine, world: World
) -> None:
    version = store_backtest(engine)
    assert store_backtest(engine) == version  # the same figures on the same data are one stored backtest
    client, _ = _client(app, engine, world, "analyst")
    with client:
        view = client.get("/api/v1/risk/backtest").json()
        assert view["version"] == version
        assert [f["score"] for f in view["figures"]] == ["risk model", "today's signal count"]
        assert view["figures"][0]["auc_lower"] == 0.89
        assert set(view["specs"]) == {"calibration", "lead_time"}
        lead = view["specs"]["lead_time"]["datasets"]["lead_time"]
        assert {row["score"] for row in lead} == {"risk model", "today's signal count"} and len(lead) == 10
        page = client.get("/risk/backtest").text
        assert "Soft measures help here" in page and 'id="spec-calibration"' in page


def test_the_organisation_page_opens_with_why_it_is_on_the_watchlist(
    app: FastAPI, engine: Engine, world: World
) -> None:
    own = world.ids["OWN"]
    client, _ = _client(app, engine, world, "member")
    with client:
        # No stored scoring: nothing shown, and the JSON says so.
        assert client.get(f"/api/v1/organisations/{own}").json()["watchlist"] is None
        assert "Why it is on the watchlist" not in client.get(f"/organisations/{own}").text
        # Scores stored after the page was kept (scores do not change the data version): the page shows them.
        store_risk_scores(world, engine)
        why = client.get(f"/api/v1/organisations/{own}").json()["watchlist"]
        assert (why["probability"], why["lower"], why["upper"]) == (0.12, 0.08, 0.18)
        assert why["reasons"] == ["4-hour performance has fallen"] and why["intercept"] == -3.0
        assert why["contributions"] == [
            {
                "feature": "funnel_z_mean",
                "label": "its indicators against the others on average (mean funnel z)",
                "log_odds": 0.5,
            }
        ]
        assert why["watchlist_url"] == "/risk" and why["backtest_url"] is None  # a member: no backtest link
        page = client.get(f"/organisations/{own}").text
        assert page.index("Why it is on the watchlist") < page.index("Signals by indicator")
        assert (
            "12.0%</strong> (90% interval 8.0% to 18.0%)" in page and "4-hour performance has fallen" in page
        )
        assert 'href="/risk"' in page and 'href="/risk/backtest"' not in page
        for word in SECRET_WORDS_FOR_MEMBER:  # nobody else's risk or reasons
            assert word not in page
    analyst, _ = _client(app, engine, world, "analyst")
    with analyst:
        hidden = analyst.get(f"/api/v1/organisations/{world.ids['HIDDEN']}").json()["watchlist"]
        assert hidden["reasons"] == ["last inspection: requires improvement"]
        assert hidden["backtest_url"] == "/risk/backtest"
        page = analyst.get(f"/organisations/{own}").text  # the same kept content, with the analyst's link
        assert 'href="/risk/backtest"' in page and "12.0%</strong>" in page


def test_an_organisation_shows_its_own_latest_score_or_nothing(
    app: FastAPI, engine: Engine, world: World
) -> None:
    import datetime as dt

    from sqlalchemy import delete, insert

    from forewarn.store.models_risk import RiskScore

    model_id = store_risk_scores(world, engine)
    with engine.begin() as conn:  # e.g. already failing, left out of a new-failures scoring
        conn.execute(delete(RiskScore).where(RiskScore.organisation_id == world.ids["OWN"]))
    client, _ = _client(app, engine, world, "analyst")
    with client:
        assert client.get(f"/api/v1/organisations/{world.ids['OWN']}").json()["watchlist"] is None
        peer = client.get(f"/api/v1/organisations/{world.ids['PEER']}").json()["watchlist"]
        assert (peer["probability"], peer["as_of"]) == (0.10, "2024-01-01")
        # Scored only at an earlier date (its data end sooner): its own latest score, with that date.
        with engine.begin() as conn:
            conn.execute(
                insert(RiskScore).values(
                    model_id=model_id,
                    organisation_id=world.ids["OWN"],
                    as_of=dt.date(2019, 4, 1),
                    probability=0.3,
                    lower=0.2,
                    upper=0.4,
                    contributions={"funnel_z_mean": -0.1, "last_grade": 0.2},
                    reasons=["last inspection: requires improvement"],
                    scored_at=dt.datetime(2024, 1, 2, tzinfo=dt.UTC),
                )
            )
        own = client.get(f"/api/v1/organisations/{world.ids['OWN']}").json()["watchlist"]
        assert (own["probability"], own["as_of"]) == (0.3, "2019-04-01")
        # Only the contributions on the side of risk, largest first.
        assert [c["feature"] for c in own["contributions"]] == ["last_grade"]
