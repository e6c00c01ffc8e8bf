"""A member's survey results never include organisations they may not see (issue 16): the figures pooled across
the wave (respondents, organisations, alpha, ICCs) are for regulator staff only, and the wave counts only the
organisations the member sees, so no other organisation's n can be inferred by subtraction."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy import Engine

from tests.web.conftest import SignedIn
from tests.web.world import World

POOLED = ("respondents", "groups_shown", "groups_suppressed", "alpha", "alpha_ci_lower", "icc1", "icc2")


def test_a_member_gets_no_figures_pooled_over_organisations_they_may_not_see(
    app: FastAPI, engine: Engine, world: World
) -> None:
    wave = world.waves["closed"]
    analyst = (
        SignedIn(app, engine, world.users["analyst"]).client.get(f"/api/v1/surveys/{wave}/results").json()
    )
    member = SignedIn(app, engine, world.users["member"])
    mine = member.client.get(f"/api/v1/surveys/{wave}/results").json()
    assert any(d["respondents"] for d in analyst["dimensions"])  # the wave has pooled figures...
    for d in mine["dimensions"]:  # ...that the member does not get
        assert {k: d[k] for k in POOLED} == dict.fromkeys(POOLED), d["code"]
    assert analyst["wave"]["organisations_total"] == 3 and mine["wave"]["organisations_total"] == 2
    listed = {w["id"]: w for w in member.client.get("/api/v1/surveys").json()["waves"]}
    assert listed[wave]["organisations_total"] == 2
    assert any("regulator staff" in note for note in mine["notes"])
    page = member.client.get(f"/surveys/{wave}/results").text
    totals = {str(d["respondents"]) + " respondents" for d in analyst["dimensions"]}
    assert not [t for t in totals if t in page] and "Cronbach" not in page


def test_charts_are_not_kept_by_the_browser_and_signing_out_clears_its_cache(
    app: FastAPI, engine: Engine, world: World
) -> None:
    member = SignedIn(app, engine, world.users["member"])
    for path in (
        f"/organisations/{world.ids['OWN']}/charts/perf.svg",
        "/indicators/perf/funnel.svg",
        "/indicators/perf/ranks.svg",
    ):
        response = member.client.get(path)
        assert response.status_code == 200, path
        assert (
            "no-store" in response.headers["cache-control"]
            and "max-age" not in response.headers["cache-control"]
        )
    out = member.client.post("/sign-out", data={"csrf_token": member.csrf}, follow_redirects=False)
    assert out.headers["clear-site-data"] == '"cache"'
