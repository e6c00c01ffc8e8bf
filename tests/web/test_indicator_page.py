"""The indicator page draws the funnel the scan stored (forewarn.views.funnel), not a recomputation: the
same points, limits and flags, only for the organisations the viewer may see, peers under their pseudonyms, with
limit curves spanning only their denominators, while the counts beside it cover every organisation compared. Its
table and JSON show the same compared values (the funnel's window totals) beside the latest period's value."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, select

from forewarn.access.policy import ALL_ORGANISATIONS, Visibility
from forewarn.store.models import Indicator, Observation
from forewarn.views.funnel import IndicatorFunnel, drawn_denominator_range, indicator_funnel
from forewarn.views.indicator import indicator, window_text
from tests.charts.specs import rows
from tests.web.conftest import SignedIn
from tests.web.world import World


def _stored(engine: Engine, code: str) -> IndicatorFunnel:
    with engine.connect() as conn:
        indicator_id = conn.execute(select(Indicator.id).where(Indicator.code == code)).scalar_one()
        funnel = indicator_funnel(conn, indicator_id)
    assert funnel is not None
    return funnel


def _page(engine: Engine, visibility: Visibility, code: str) -> tuple[Any, dict[str, Any]]:
    with engine.connect() as conn:
        view = indicator(conn, visibility, code)
    assert view is not None
    return view.page, view.specs["funnel"]


def _layer(spec: dict[str, Any], mark: str) -> list[dict[str, Any]]:
    return rows(spec, next(layer for layer in spec["layer"] if layer["mark"]["type"] == mark))


@pytest.mark.parametrize("code", ["perf", "falls"])
def test_the_member_sees_the_scans_points_for_own_and_peer_only(
    engine: Engine, world: World, code: str
) -> None:
    member = Visibility(all_organisations=False, own=world.ids["OWN"], peers={world.ids["PEER"]: "Peer 1"})
    stored = _stored(engine, code)
    page, spec = _page(engine, member, code)
    by_id = {p.organisation_id: p for p in stored.points}
    drawn = {row["label"]: row for row in _layer(spec, "point")}
    assert set(drawn) == {"Alpha Own Trust", "Peer 1"}
    for label, key in (("Alpha Own Trust", "OWN"), ("Peer 1", "PEER")):
        point = by_id[world.ids[key]]
        assert (drawn[label]["value"], drawn[label]["denominator"]) == (point.ratio, point.denominator)
        assert (drawn[label]["z"], drawn[label]["q"]) == (point.z, point.q)
        assert drawn[label]["status"].startswith("Within" if point.outlier == 0 else "Outlier")
        # The scan's limit curve passes through the point's own stored limits.
        curve = {
            row["limit"]: row["value"]
            for row in _layer(spec, "line")
            if row["denominator"] == point.denominator and row["limit"].startswith(f"{stored.limit:g}%")
        }
        assert curve == {f"{stored.limit:g}% lower": point.lower, f"{stored.limit:g}% upper": point.upper}
    assert _layer(spec, "rule") == [{"target": stored.target}]
    # The counts are the whole funnel's, as the scan counted them.
    assert (page.tests, page.outside_limits, page.flagged_after_fdr) == (
        stored.compared,
        stored.outside_limits,
        stored.flagged,
    )
    assert stored.compared == 4


def test_the_analyst_sees_every_point_the_scan_compared(engine: Engine, world: World) -> None:
    stored = _stored(engine, "falls")
    _, spec = _page(engine, ALL_ORGANISATIONS, "falls")
    points = _layer(spec, "point")
    assert sorted((p["denominator"], p["value"]) for p in points) == sorted(
        (p.denominator, p.ratio) for p in stored.points
    )
    assert {p["label"] for p in points} >= {"Charlie Hidden Trust", "Delta Simulated Trust"}
    flagged = {p["label"] for p in points if p["status"] != "Within limits"}
    assert len(flagged) == stored.flagged
    limits = {row["limit"] for row in _layer(spec, "line")}
    assert limits == {"95% lower", "95% upper", "99.8% lower", "99.8% upper"}
    assert all(row["dashed"] == row["limit"].startswith("95%") for row in _layer(spec, "line"))


def _funnel_denominators(spec: dict[str, Any]) -> tuple[set[float], list[float]]:
    """The denominators of the drawn points, and of every point of every limit curve, in a funnel spec."""
    return {row["denominator"] for row in _layer(spec, "point")}, [
        row["denominator"] for row in _layer(spec, "line")
    ]


VIEWERS = {
    # The member of Alpha Own Trust, granted Bravo Peer Trust anonymised.
    "member": (("OWN", "PEER"), {"PEER": "Peer 1"}),
    # The member of Charlie Hidden Trust, granted no peer: one point.
    "other_member": (("HIDDEN",), {}),
}


@pytest.mark.parametrize("code", ["perf", "falls"])
@pytest.mark.parametrize("viewer", sorted(VIEWERS))
def test_a_members_funnel_reveals_no_denominator_of_an_organisation_they_cannot_see(
    engine: Engine, world: World, code: str, viewer: str
) -> None:
    """Neither as a point nor as a curve end (nor anywhere along a curve): the curves span the visible points'
    denominators, widened and rounded out, whatever the other organisations' sizes."""
    seen, peers = VIEWERS[viewer]
    visibility = Visibility(
        all_organisations=False, own=world.ids[seen[0]], peers={world.ids[k]: v for k, v in peers.items()}
    )
    stored = _stored(engine, code)
    denominator_of = {p.organisation_id: p.denominator for p in stored.points}
    visible = {denominator_of[world.ids[key]] for key in seen}
    hidden = {d for org, d in denominator_of.items() if org not in {world.ids[key] for key in seen}}
    assert len(hidden) == 4 - len(seen)
    # The whole funnel's smallest or largest denominator is one the viewer may not see, so curves over the whole
    # funnel's range would end on it.
    assert {min(denominator_of.values()), max(denominator_of.values())} & hidden
    _, spec = _page(engine, visibility, code)
    points, curve = _funnel_denominators(spec)
    assert points == visible
    assert hidden.isdisjoint(curve)
    assert (min(curve), max(curve)) == drawn_denominator_range(sorted(visible))
    assert visible <= set(curve)  # each curve still passes through every drawn point's limits


def test_the_analysts_curves_cover_every_organisation(engine: Engine, world: World) -> None:
    stored = _stored(engine, "perf")
    _, spec = _page(engine, ALL_ORGANISATIONS, "perf")
    _, curve = _funnel_denominators(spec)
    everyone = [p.denominator for p in stored.points]
    assert (min(curve), max(curve)) == drawn_denominator_range(everyone)
    assert min(curve) < min(everyone) and max(everyone) < max(curve)


def _latest_values(engine: Engine, code: str) -> dict[int, tuple[dt.date, float]]:
    """Each organisation's value at its latest period, read from the observations."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(Observation.organisation_id, Observation.period_start, Observation.value)
            .join(Indicator, Indicator.id == Observation.indicator_id)
            .where(Indicator.code == code)
            .order_by(Observation.period_start)
        ).all()
    return {int(org): (period, float(value)) for org, period, value in rows if value is not None}


@pytest.mark.parametrize(
    ("code", "titles"),
    [
        ("perf", ("Proportion", "Denominator (N)")),
        ("falls", ("Ratio of observed to expected at the pooled rate", "Expected at the pooled rate")),
    ],
)
def test_the_table_shows_what_the_funnel_compared_over_its_window(
    app: FastAPI, engine: Engine, world: World, code: str, titles: tuple[str, str]
) -> None:
    """The compared value and denominator are the scan's stored window totals (the points of the funnel plot),
    not the latest month's; the latest month's value is a separate column."""
    member = SignedIn(app, engine, world.users["member"])
    data = member.client.get(f"/api/v1/indicators/{code}").json()
    stored = {p.organisation_id: p for p in _stored(engine, code).points}
    latest = _latest_values(engine, code)
    # The world's two years of monthly data end in December 2021: the scan's 365 days take in 2021.
    assert (data["funnel_period"], data["funnel_window_start"], data["funnel_window_days"]) == (
        "2021-12-01",
        "2021-01-01",
        365,
    )
    assert data["funnel_window"] == "January 2021 to December 2021"
    assert (data["compared_value_title"], data["compared_denominator_title"]) == titles
    rows = {row["label"]: row for row in data["organisations"]}
    assert set(rows) == {"Alpha Own Trust", "Peer 1"}
    for label, key in (("Alpha Own Trust", "OWN"), ("Peer 1", "PEER")):
        point, (period, value) = stored[world.ids[key]], latest[world.ids[key]]
        row = rows[label]
        assert (row["compared_value"], row["compared_denominator"]) == (point.ratio, point.denominator)
        assert (row["latest_period"], row["latest_value"]) == (period.isoformat(), value)
        assert row["compared_value"] != row["latest_value"]
    page = member.client.get(f"/indicators/{code}").text
    assert f"Compared value ({titles[0].lower()}, periods starting January 2021 to December 2021)" in page
    assert f">{titles[1]}</th>" in page and "Latest period's value" in page
    assert "each on its totals over the periods starting January 2021 to December 2021" in page


@pytest.mark.parametrize(
    ("start", "end", "text"),
    [
        (dt.date(2023, 4, 1), dt.date(2024, 3, 1), "April 2023 to March 2024"),
        (dt.date(2024, 3, 1), dt.date(2024, 3, 1), "March 2024"),
        (dt.date(2020, 12, 16), dt.date(2021, 12, 15), "16 December 2020 to 15 December 2021"),
    ],
)
def test_the_window_in_words(start: dt.date, end: dt.date, text: str) -> None:
    assert window_text(start, end) == text
