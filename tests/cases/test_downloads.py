"""Every table as CSV and the reports as PDF from the pages (issue 14): each download holds what its page shows
to the same viewer (the same read model), text that a spreadsheet would run as a formula is guarded as `forewarn
export` guards it, and what a viewer may not open is 404 (members: their own organisation and anonymised peers)."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from sqlalchemy import Engine, insert

from forewarn.cases import interventions as case_interventions
from forewarn.cases import service
from forewarn.store.models import Event
from tests.web.conftest import SignedIn
from tests.web.world import SECRET_WORDS_FOR_MEMBER, World

pypdf = pytest.importorskip("pypdf")


def _csv(who: SignedIn, path: str) -> list[dict[str, str]]:
    response = who.client.get(path)
    assert response.status_code == 200, (path, response.status_code, response.text[:300])
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"].startswith("attachment; filename=")
    return list(csv.DictReader(io.StringIO(response.text)))


def test_the_portfolio_table_is_every_row_the_viewer_sees(signed_in: dict[str, SignedIn]) -> None:
    analyst, member = signed_in["analyst"], signed_in["member"]
    api = analyst.client.get("/api/v1/portfolio").json()["organisations"]
    rows = _csv(analyst, "/portfolio/tables/organisations.csv")
    assert [r["code"] for r in rows] == [o["code"] for o in api]
    assert [int(r["spc_concern"]) for r in rows] == [o["spc_concern"] for o in api]
    assert [r["soft_measures"] for r in rows] == [o["soft_status"] or "" for o in api]
    assert "Download every page of this list (CSV)" in analyst.client.get("/portfolio").text
    # The page's filters apply to the download too.
    east = _csv(analyst, "/portfolio/tables/organisations.csv?region=East")
    assert [r["code"] for r in east] == ["HIDE1"]
    # A member: their own organisation by name, a granted peer under its pseudonym, nobody else.
    mine = member.client.get("/portfolio/tables/organisations.csv").text
    assert "Alpha Own Trust" in mine and not any(word in mine for word in SECRET_WORDS_FOR_MEMBER)


def test_an_organisations_tables_are_its_pages(
    signed_in: dict[str, SignedIn], engine: Engine, world: World
) -> None:
    analyst, member = signed_in["analyst"], signed_in["member"]
    own = world.ids["OWN"]
    with engine.begin() as conn:
        conn.execute(
            insert(Event).values(
                organisation_id=own, date=dt.date(2021, 6, 1), kind="board_review", detail="=HYPERLINK(1)"
            )
        )
    page = analyst.client.get(f"/api/v1/organisations/{own}").json()
    indicators = _csv(analyst, f"/organisations/{own}/tables/indicators.csv")
    assert [r["code"] for r in indicators] == [i["code"] for i in page["indicators"]]
    assert [float(r["last_value"]) for r in indicators] == [i["last_value"] for i in page["indicators"]]
    assert [r["spc_variation"] for r in indicators] == [i["spc_variation"] or "" for i in page["indicators"]]
    events = _csv(member, f"/organisations/{own}/tables/events.csv")
    assert [r["date"] for r in events] == [e["date"] for e in page["events"]]
    assert "'=HYPERLINK(1)" in [r["detail"] for r in events]  # shown as text, not run
    soft = _csv(member, f"/organisations/{own}/tables/soft_measures.csv")
    dimensions = [d for s in page["soft_measures"] for d in s["dimensions"]]
    assert len(soft) == len(dimensions) > 0
    for row, dimension in zip(soft, dimensions, strict=True):
        # A suppressed group has no mean and no interval in the file either.
        assert (row["mean"] == "") == (dimension["mean"] is None or dimension["suppressed"])
        assert row["suppressed"] == str(dimension["suppressed"]).lower()
    html = analyst.client.get(f"/organisations/{own}").text
    assert (
        f'href="/organisations/{own}/tables/events.csv"' in html
        and f'"/organisations/{own}/report.pdf"' in html
    )
    assert analyst.client.get(f"/organisations/{own}/tables/secrets.csv").status_code == 404
    assert member.client.get(f"/organisations/{world.ids['HIDDEN']}/tables/events.csv").status_code == 404


def test_the_case_tables_and_list(signed_in: dict[str, SignedIn], engine: Engine, world: World) -> None:
    analyst, member = signed_in["analyst"], signed_in["member"]
    with engine.begin() as conn:
        mine = service.open_case(conn, "OWN1", support="watch", owner="Dana", concern="Waits", actor="t")
        hidden = service.open_case(conn, "HIDE1", support="watch", owner="Lee", concern="Falls", actor="t")
        service.add_note(conn, mine, body="+1 for the new rota", kind="progress", actor="member")
        service.add_milestone(conn, mine, title="@board: plan", due=dt.date(2022, 1, 1), actor="t")
        case_interventions.start_intervention(
            conn, mine, start=dt.date(2021, 2, 1), indicators=["perf", "falls"], actor="t"
        )
    listed = _csv(member, "/cases/tables/cases.csv")
    assert [int(r["case"]) for r in listed] == [mine]
    assert {int(r["case"]) for r in _csv(analyst, "/cases/tables/cases.csv")} == {mine, hidden}
    notes = _csv(member, f"/cases/{mine}/tables/notes.csv")
    assert [(r["kind"], r["note"]) for r in notes] == [("progress", "'+1 for the new rota")]
    milestones = _csv(analyst, f"/cases/{mine}/tables/milestones.csv")
    assert [(r["milestone"], r["due"], r["done_on"]) for r in milestones] == [
        ("'@board: plan", "2022-01-01", "")
    ]
    interventions = _csv(analyst, f"/cases/{mine}/tables/interventions.csv")
    assert [(r["support"], r["start"], r["indicators"]) for r in interventions] == [
        ("watch", "2021-02-01", "perf; falls")
    ]
    evidence = _csv(analyst, f"/cases/{mine}/tables/evidence.csv")
    assert evidence and all(r["source"] for r in evidence)  # the scan's signals, pulled in at opening
    page = member.client.get(f"/cases/{mine}").text
    assert f'href="/cases/{mine}/tables/notes.csv"' in page
    assert member.client.get(f"/cases/{hidden}/tables/notes.csv").status_code == 404
    assert analyst.client.get(f"/cases/{mine}/tables/nothing.csv").status_code == 404


def test_the_reports_from_the_pages(signed_in: dict[str, SignedIn], engine: Engine, world: World) -> None:
    analyst, member = signed_in["analyst"], signed_in["member"]
    own = world.ids["OWN"]
    regulator = analyst.client.get(f"/organisations/{own}/report.pdf")
    assert regulator.status_code == 200 and regulator.headers["content-type"] == "application/pdf"
    text = "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(regulator.content)).pages)
    assert "Board report: Alpha Own Trust" in text and "Bravo Peer Trust" in text  # a neighbour, named
    members = member.client.get(f"/organisations/{own}/report.pdf")
    assert members.status_code == 200
    text = "\n".join(p.extract_text() for p in pypdf.PdfReader(io.BytesIO(members.content)).pages)
    assert "Board report: Alpha Own Trust" in text and "4. Statistical neighbours" in text
    assert not any(word in text for word in SECRET_WORDS_FOR_MEMBER)  # neighbours under pseudonyms
    assert member.client.get(f"/organisations/{world.ids['HIDDEN']}/report.pdf").status_code == 404
    portfolio = analyst.client.get("/portfolio/report.pdf")
    assert portfolio.status_code == 200 and portfolio.content.startswith(b"%PDF")
    assert "/portfolio/report.pdf" in analyst.client.get("/portfolio").text
    assert "/portfolio/report.pdf" not in member.client.get("/portfolio").text
    assert member.client.get("/portfolio/report.pdf").status_code == 403


def test_an_indicators_points_and_the_watchlist(
    signed_in: dict[str, SignedIn], engine: Engine, world: World
) -> None:
    from tests.web.risk_world import store_risk_scores

    analyst, member = signed_in["analyst"], signed_in["member"]
    own = world.ids["OWN"]
    spc = analyst.client.get(f"/api/v1/organisations/{own}/indicators/perf").json()["spc"]
    points = _csv(member, f"/organisations/{own}/indicators/perf/tables/points.csv")
    assert [r["period"] for r in points] == spc["period"]
    assert [float(r["value"]) for r in points] == spc["value"]
    assert [r["point_type"] for r in points] == spc["point_type"]
    assert (
        f"/organisations/{own}/indicators/perf/tables/points.csv"
        in member.client.get(f"/organisations/{own}/indicators/perf").text
    )
    assert (
        member.client.get(
            f"/organisations/{world.ids['HIDDEN']}/indicators/perf/tables/points.csv"
        ).status_code
        == 404
    )

    store_risk_scores(world, engine)
    api = analyst.client.get("/api/v1/risk/watchlist").json()["organisations"]
    rows = _csv(analyst, "/risk/tables/watchlist.csv")
    assert [(r["code"], float(r["probability"])) for r in rows] == [
        (o["code"], o["probability"]) for o in api
    ]
    assert [r["place_best"] for r in rows] == [str(o["place_best"]) for o in api]
    mine = _csv(member, "/risk/tables/watchlist.csv")
    assert [r["code"] for r in mine] == ["OWN1"] and mine[0]["place_best"] == ""


def test_a_cases_effects_and_follow_up_are_the_regulators_tables(
    signed_in: dict[str, SignedIn], engine: Engine, world: World
) -> None:
    from forewarn.cases import outcomes

    analyst, member = signed_in["analyst"], signed_in["member"]
    with engine.begin() as conn:
        mine = service.open_case(
            conn, "OWN1", support="development", owner="Dana", concern="Waits", actor="t"
        )
        case_interventions.start_intervention(
            conn, mine, start=dt.date(2021, 2, 1), indicators=["perf"], actor="t"
        )
        case_interventions.end_intervention(conn, mine, end=dt.date(2021, 9, 1), actor="t")
    with engine.connect() as conn:
        outcome = outcomes.case_outcome(conn, mine)
    effects = _csv(analyst, f"/cases/{mine}/tables/effects.csv")
    assert [r["started"] for r in effects] == [str(e.start) for e in outcome.effects]
    for row, effect in zip(effects, outcome.effects, strict=True):
        if effect.reason is None:
            assert float(row["difference_in_differences"]) == effect.did
            assert (float(row["ci_low_95"]), float(row["ci_high_95"])) == (effect.ci_low, effect.ci_high)
            assert float(row["before_after"]) == effect.naive
            assert int(row["comparison_organisations"]) == effect.n_comparison
        else:
            assert row["not_estimated"] == effect.reason and row["difference_in_differences"] == ""
    follow = _csv(analyst, f"/cases/{mine}/tables/follow_up.csv")
    assert [(r["withdrawal"], r["status"]) for r in follow] == [
        (str(f.withdrawal), f.status) for f in outcome.follow_ups
    ]
    page = analyst.client.get(f"/cases/{mine}").text
    assert f"/cases/{mine}/tables/effects.csv" in page and f"/cases/{mine}/tables/follow_up.csv" in page
    # The member's own case page shows no comparison (it names other organisations): nor do its downloads.
    assert f"/cases/{mine}/tables/effects.csv" not in member.client.get(f"/cases/{mine}").text
    assert member.client.get(f"/cases/{mine}/tables/effects.csv").status_code == 404
    assert member.client.get(f"/cases/{mine}/tables/follow_up.csv").status_code == 404


def test_an_indicator_pages_tables_are_every_organisation_the_viewer_sees(
    signed_in: dict[str, SignedIn], world: World
) -> None:
    analyst, member = signed_in["analyst"], signed_in["member"]
    api = analyst.client.get("/api/v1/indicators/perf").json()
    rows = _csv(analyst, "/indicators/perf/tables/organisations.csv")
    assert [r["organisation"] for r in rows] == [o["label"] for o in api["organisations"]]
    assert [float(r["funnel_z"]) for r in rows] == [o["funnel_z"] for o in api["organisations"]]
    assert [float(r["compared_value"]) for r in rows] == [o["compared_value"] for o in api["organisations"]]
    outliers = _csv(analyst, "/indicators/perf/tables/outliers.csv")
    assert [r["organisation"] for r in outliers] == [o["label"] for o in api["outliers"]]
    assert "/indicators/perf/tables/organisations.csv" in analyst.client.get("/indicators/perf").text
    # A member: their own by name, the granted peer under its pseudonym, nobody else.
    mine = member.client.get("/indicators/perf/tables/organisations.csv").text
    assert "Alpha Own Trust" in mine and not any(word in mine for word in SECRET_WORDS_FOR_MEMBER)
    assert analyst.client.get("/indicators/perf/tables/nothing.csv").status_code == 404


def test_an_organisations_funnel_history_table_is_its_chart(
    signed_in: dict[str, SignedIn], world: World
) -> None:
    member = signed_in["member"]
    own = world.ids["OWN"]
    rows = _csv(member, f"/organisations/{own}/indicators/perf/tables/funnel_history.csv")
    assert len(rows) == 24 and {r["position"] for r in rows} <= {
        "Within limits",
        "Above limits",
        "Below limits",
        "Above limits: concern",
        "Below limits: concern",
    }
    page = member.client.get(f"/organisations/{own}/indicators/perf").text
    assert "Funnel history" in page and f"/organisations/{own}/funnel-history/perf.svg" in page
    assert f"/organisations/{own}/indicators/perf/tables/funnel_history.csv" in page
    chart = member.client.get(f"/organisations/{own}/funnel-history/perf.svg")
    assert chart.status_code == 200 and chart.text.startswith("<svg") and "Funnel history of" in chart.text
    hidden = world.ids["HIDDEN"]
    assert member.client.get(f"/organisations/{hidden}/funnel-history/perf.svg").status_code == 404
