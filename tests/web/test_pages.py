"""Pages and their JSON: what each shows, partial updates for htmx, forms with errors, and the import flow."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from sqlalchemy import Engine

from forewarn.charts.display import number_text
from forewarn.store.queries import counts
from tests.web.conftest import SignedIn
from tests.web.world import World

IMPORT_HEADER = "period,org_code,org_name,attendances,breaches\n"
IMPORT_MAPPING = Path(__file__).resolve().parents[1] / "fixtures" / "ingest" / "mapping.yml"


def test_every_api_route_is_in_the_openapi_description(app: FastAPI, engine: Engine, world: World) -> None:
    client = SignedIn(app, engine, None).client
    spec = client.get("/api/v1/openapi.json").json()
    described = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    api_routes = {
        (m, str(c.path))
        for c in iter_route_contexts(app.routes)
        for m in (getattr(c.original_route, "methods", None) or set()) - {"HEAD"}
        if str(c.path).startswith("/api/v1/") and str(c.path) != "/api/v1/openapi.json"
    }
    assert api_routes <= described
    # The pages are there as JSON too (one API route per page).
    for page in (
        "/api/v1/portfolio",
        "/api/v1/organisations/{organisation_id}",
        "/api/v1/indicators/{code}",
        "/api/v1/surveys/{wave_id}/results",
        "/api/v1/users",
        "/api/v1/imports",
    ):
        assert page in spec["paths"], page


def test_portfolio_orders_by_evidence_and_labels_simulated_data(
    app: FastAPI, engine: Engine, world: World
) -> None:
    analyst = SignedIn(app, engine, world.users["analyst"])
    data = analyst.client.get("/api/v1/portfolio").json()
    evidence = [row["evidence"] for row in data["organisations"]]
    assert evidence == sorted(evidence, reverse=True)
    assert "not a ranking of performance" in data["order"]
    page = analyst.client.get("/portfolio")
    assert "SIMULATED" in page.text
    row = re.search(r"Delta Simulated Trust</a>(.*?)</th>", page.text, re.S)
    assert row is not None and "SIMULATED" in row.group(1)


def test_portfolio_filters_update_by_htmx_and_without_javascript(
    app: FastAPI, engine: Engine, world: World
) -> None:
    analyst = SignedIn(app, engine, world.users["analyst"])
    full = analyst.client.get("/portfolio", params={"region": "South"})
    assert "<html" in full.text and "Bravo Peer Trust" in full.text and "Alpha Own Trust" not in full.text
    partial = analyst.client.get(
        "/portfolio",
        params={"region": "South"},
        headers={"HX-Request": "true", "HX-Target": "portfolio-results"},
    )
    assert "<html" not in partial.text and 'id="portfolio-results"' in partial.text
    assert "Bravo Peer Trust" in partial.text


def test_organisation_page_has_charts_flags_baselines_and_events(
    app: FastAPI, engine: Engine, world: World
) -> None:
    member = SignedIn(app, engine, world.users["member"])
    page = member.client.get(f"/organisations/{world.ids['OWN']}").text
    assert page.count('class="fw-chart"') == 2
    assert f'src="/organisations/{world.ids["OWN"]}/charts/perf.svg"' in page  # the chart without JavaScript
    assert "New triage model" in page  # baseline history
    assert "Own inspection" in page and "Charlie Hidden inspection" not in page
    data = member.client.get(f"/api/v1/organisations/{world.ids['OWN']}").json()
    perf = next(i for i in data["indicators"] if i["code"] == "perf")
    assert len(perf["spc"]["value"]) == 24 and perf["baselines"][0]["reason"] == "New triage model"
    svg = member.client.get(f"/organisations/{world.ids['OWN']}/charts/perf.svg")
    assert svg.headers["content-type"] == "image/svg+xml" and svg.text.startswith("<svg")


def test_indicator_page_counts_flags_expected_by_chance(app: FastAPI, engine: Engine, world: World) -> None:
    analyst = SignedIn(app, engine, world.users["analyst"])
    data = analyst.client.get("/api/v1/indicators/perf").json()
    assert data["tests"] == 4
    assert abs(data["expected_by_chance"] - 4 * (1 - data["funnel_limit"] / 100)) < 1e-12
    page = analyst.client.get("/indicators/perf").text
    assert "Expected outside by chance alone" in page and 'data-vega-spec="spec-funnel"' in page


def test_import_shows_every_problem_row_by_row_and_writes_nothing(
    app: FastAPI, engine: Engine, world: World
) -> None:
    analyst = SignedIn(app, engine, world.users["analyst"])
    bad = (
        IMPORT_HEADER
        + "2020-01-01,AAA,Alpha,1000,100\nnot-a-date,BBB,Beta,ten,20\n2020-02-01,CCC,Gamma,5,9\n"
    )
    with engine.connect() as conn:
        before = counts(conn)
    response = analyst.client.post(
        "/import",
        data={"csrf_token": analyst.csrf},
        files={
            "data_file": ("bad.csv", bad.encode(), "text/csv"),
            "mapping_file": ("m.yml", IMPORT_MAPPING.read_bytes()),
        },
    )
    assert response.status_code == 422
    rows = re.findall(r'<td class="govuk-table__cell govuk-table__cell--numeric">(\d+)</td>', response.text)
    assert {"3", "4"} <= set(rows)
    assert "Nothing was imported" in response.text
    with engine.connect() as conn:
        assert counts(conn)["observations"] == before["observations"]


def test_import_then_confirm_writes_the_file(app: FastAPI, engine: Engine, world: World) -> None:
    analyst = SignedIn(app, engine, world.users["analyst"])
    good = IMPORT_HEADER + "2020-01-01,AAA,Alpha,1000,100\n2020-02-01,AAA,Alpha,1100,150\n"
    report = analyst.client.post(
        "/api/v1/imports",
        files={
            "data_file": ("good.csv", good.encode(), "text/csv"),
            "mapping_file": ("m.yml", IMPORT_MAPPING.read_bytes()),
        },
        headers=analyst.headers(),
    ).json()
    assert report["ok"] and report["pending_id"]
    # Another account cannot confirm someone else's upload.
    admin = SignedIn(app, engine, world.users["admin"])
    stolen = admin.client.post(f"/api/v1/imports/{report['pending_id']}/confirm", headers=admin.headers())
    assert stolen.status_code == 404
    done = analyst.client.post(
        f"/api/v1/imports/{report['pending_id']}/confirm", headers=analyst.headers()
    ).json()
    assert done["observations_inserted"] == 4 and done["organisations_created"] == 1
    again = analyst.client.post(f"/api/v1/imports/{report['pending_id']}/confirm", headers=analyst.headers())
    assert again.status_code == 404


def test_forms_show_a_govuk_error_summary(app: FastAPI, engine: Engine, world: World) -> None:
    admin = SignedIn(app, engine, world.users["admin"])
    page = admin.client.post(
        "/users",
        data={
            "csrf_token": admin.csrf,
            "email": "nope",
            "display_name": "",
            "role": "member",
            "password": "x",
        },
    ).text
    assert page.startswith("<!DOCTYPE html>") and "<title>Error: Add a user" in page
    assert 'class="govuk-error-summary"' in page
    for field in ("email", "display_name", "password", "organisation_id"):
        assert f'href="#{field}"' in page or field == "organisation_id"
    assert 'aria-describedby="email-error"' in page or 'email-error"' in page


def test_the_survey_is_answered_part_by_part_and_saved_only_at_the_end(
    app: FastAPI, engine: Engine, world: World
) -> None:
    respondent = SignedIn(app, engine, None)
    url = f"/survey/{world.tokens['fresh']}"
    start = respondent.client.get(url)
    assert "Start now" in start.text
    with engine.connect() as conn:
        before = counts(conn)["survey_responses"]
    data = {"csrf_token": respondent.csrf or "", "goto": "2", "a_acq_1": "4", "a_acq_2": "5"}
    second = respondent.client.post(url, data=data)
    assert "Part 2 of 8" in second.text
    assert 'name="a_acq_1" value="4"' in second.text  # earlier answers travel in hidden fields
    check = respondent.client.post(url, data={**data, "goto": "check", "a_asm_1": "Agree"})
    assert "Check your answers" in check.text and check.text.count("Not answered") > 20
    with engine.connect() as conn:
        assert counts(conn)["survey_responses"] == before  # nothing saved yet
    done = respondent.client.post(url, data={**data, "goto": "submit"})
    assert "Answers sent" in done.text
    with engine.connect() as conn:
        assert counts(conn)["survey_responses"] == before + 1
    assert respondent.client.get(url).status_code == 410


def test_a_member_sees_survey_results_for_their_own_organisation_and_peers_only(
    app: FastAPI, engine: Engine, world: World
) -> None:
    member = SignedIn(app, engine, world.users["member"])
    results = member.client.get(f"/api/v1/surveys/{world.waves['closed']}/results").json()
    labels = {c["label"] for d in results["dimensions"] for c in d["cells"]}
    assert labels == {"OWN1", "Peer 1"}
    analyst = SignedIn(app, engine, world.users["analyst"])
    everyone = analyst.client.get(f"/api/v1/surveys/{world.waves['closed']}/results").json()
    assert {c["label"] for d in everyone["dimensions"] for c in d["cells"]} == {"OWN1", "PEER1", "HIDE1"}
    page = member.client.get(f"/organisations/{world.ids['OWN']}").text
    assert "Closed wave" in page and "Aggregation to the organisation is supported" in page


def test_an_unexpected_error_shows_a_page_not_a_traceback(
    app: FastAPI, engine: Engine, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi.testclient import TestClient

    from forewarn.web.routes import portfolio

    client = TestClient(app, raise_server_exceptions=False)

    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("boom")

    monkeypatch.setattr(portfolio, "portfolio", broken)
    member = SignedIn(app, engine, world.users["member"])
    client.cookies.update(member.client.cookies)
    response = client.get("/portfolio")
    assert response.status_code == 500
    assert "Sorry, there is a problem with the service" in response.text and "boom" not in response.text


def test_pages_check_access_and_follow_the_data(app: FastAPI, engine: Engine, world: World) -> None:
    analyst = SignedIn(app, engine, world.users["analyst"])
    member = SignedIn(app, engine, world.users["member"])
    hidden = f"/organisations/{world.ids['HIDDEN']}"
    assert analyst.client.get(hidden).status_code == 200
    assert member.client.get(hidden).status_code == 404
    before = analyst.client.get(f"/api/v1/organisations/{world.ids['OWN']}").json()
    assert len(before["indicators"][0]["baselines"]) in (0, 1)
    import datetime as dt

    from sqlalchemy import insert

    from forewarn.store.models_surveillance import SpcBaseline

    with engine.begin() as conn:
        conn.execute(
            insert(SpcBaseline).values(
                organisation_id=world.ids["OWN"],
                indicator_id=1,
                rebase_from=dt.date(2021, 6, 1),
                reason="Second reset",
                created_by="tests",
                created_at=dt.datetime.now(dt.UTC),
            )
        )
    after = analyst.client.get(f"/api/v1/organisations/{world.ids['OWN']}").json()
    reasons = {b["reason"] for i in after["indicators"] for b in i["baselines"]}
    assert "Second reset" in reasons


def test_proportions_read_as_percentages_on_pages_and_stay_ratios_in_the_json(
    app: FastAPI, engine: Engine, world: World
) -> None:
    member = SignedIn(app, engine, world.users["member"])
    own = world.ids["OWN"]
    data = member.client.get(f"/api/v1/organisations/{own}").json()
    perf = next(i for i in data["indicators"] if i["code"] == "perf")
    assert 0 < perf["last_value"] < 1 and 0 < perf["spc_mean"] < 1  # the JSON keeps the stored fractions
    page = member.client.get(f"/organisations/{own}").text

    def pct(value: float) -> str:
        return f"{value * 100:.1f}%"

    assert f">{pct(perf['last_value'])} (December 2021); target 95.0%</dd>" in page
    assert (
        f"Mean {pct(perf['spc_mean'])}, process limits {pct(perf['spc_lpl'])} to {pct(perf['spc_upl'])}"
        in page
    )
    falls = next(i for i in data["indicators"] if i["code"] == "falls")  # a rate reads as before
    assert f">{falls['last_value']:.2f} rate (December 2021)</dd>" in page
    detail = member.client.get(f"/organisations/{own}/indicators/perf").text
    first = perf["spc"]
    assert (
        f'--numeric">{pct(first["value"][0])}</td><td class="govuk-table__cell govuk-table__cell--numeric">'
        f"{pct(first['mean'][0])}</td>" in detail
    )
    assert f"{pct(first['lpl'][0])} to {pct(first['upl'][0])}" in detail
    # A CUSUM statistic is no proportion. (A year of data is all baseline for the own-baseline CUSUM, so the
    # world has no CUSUM alarm to list: the statistic itself is shown.)
    assert perf["cusum_value"] is not None
    assert f"Statistic {number_text(perf['cusum_value'])};" in detail
    # The indicator page: compared values (the funnel's window fractions) and latest values.
    rows = member.client.get("/api/v1/indicators/perf").json()["organisations"]
    indicator = member.client.get("/indicators/perf").text
    for row in rows:
        assert 0 < row["compared_value"] < 1
        assert f'--numeric">{pct(row["compared_value"])}</td>' in indicator
        assert f'--numeric">{pct(row["latest_value"])} (December 2021)</td>' in indicator
    assert '"format":".1%"' in indicator and '"axis":{"format":".0%"}' in indicator  # the funnel's


def test_events_show_labels_on_pages_and_codes_in_the_json(
    app: FastAPI, engine: Engine, world: World
) -> None:
    import datetime as dt

    from sqlalchemy import insert

    from forewarn.store.models import Event

    with engine.begin() as conn:
        conn.execute(
            insert(Event),
            [
                {
                    "organisation_id": world.ids["OWN"],
                    "date": dt.date(2021, 6, 1),
                    "kind": "inspection",
                    "grade": "requires_improvement",
                    "detail": None,
                },
                {
                    "organisation_id": world.ids["OWN"],
                    "date": dt.date(2021, 7, 1),
                    "kind": "special_measures_start",
                    "grade": None,
                    "detail": "graded inadequate and falling far",
                },
            ],
        )
    member = SignedIn(app, engine, world.users["member"])
    page = member.client.get(f"/organisations/{world.ids['OWN']}").text
    events = page.split('id="events"', 1)[1]
    assert "Special measures started" in events and "Requires improvement" in events
    assert "special_measures_start" not in events and "requires_improvement" not in events
    data = member.client.get(f"/api/v1/organisations/{world.ids['OWN']}").json()
    assert {(e["kind"], e["grade"]) for e in data["events"]} >= {
        ("inspection", "requires_improvement"),
        ("special_measures_start", None),
    }


def test_the_kept_ranking_is_per_database_and_follows_the_data(engine: Engine, world: World) -> None:
    from sqlalchemy import insert

    from forewarn.store.models import Organisation
    from forewarn.web.pages.cached import kept_ranking

    with engine.connect() as conn:
        before = kept_ranking(conn)
        assert kept_ranking(conn) is before  # kept while the data stay as they are
    with engine.begin() as conn:
        conn.execute(insert(Organisation).values(code="NEW1", name="Echo New Trust"))
    with engine.connect() as conn:
        after = kept_ranking(conn)
    assert after is not before and "Echo New Trust" in {r.label for r in after.rows}


def test_a_closed_waves_results_are_computed_once_for_every_page_that_shows_them(
    app: FastAPI, engine: Engine, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Soft measures read closed waves only, whose answers are frozen: the bootstrap behind them runs once per wave
    and minimum group size, not on every portfolio or organisation page."""
    from forewarn.web.pages import cached

    computed: list[tuple[int, int]] = []
    real = cached.computed_results

    def counting(engine_: Engine, wave_id: int, min_group_size: int) -> object:
        computed.append((wave_id, min_group_size))
        return real(engine_, wave_id, min_group_size)

    monkeypatch.setattr(cached, "computed_results", counting)
    cached.kept_closed_results.cache_clear()
    analyst = SignedIn(app, engine, world.users["analyst"])
    first = analyst.client.get("/api/v1/portfolio").json()
    assert analyst.client.get("/api/v1/portfolio").json() == first
    page = analyst.client.get(f"/api/v1/organisations/{world.ids['OWN']}").json()
    assert any(o["soft_status"] for o in first["organisations"]) and page["soft_measures"]
    assert computed == [(world.waves["closed"], 5)]
