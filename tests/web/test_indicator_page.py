"""The indicator page draws the funnel the scan stored (forewarn.surveillance.funnels), not a recomputation: the
same points, limits and flags, only for the organisations the viewer may see, peers under their pseudonyms, while
the counts beside it cover every organisation compared."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, select

from forewarn.accounts.policy import ALL_ORGANISATIONS, Visibility
from forewarn.store.models import Indicator
from forewarn.surveillance.funnels import IndicatorFunnel, indicator_funnel
from forewarn.web.pages.indicator import build_indicator
from tests.web.world import World


def _stored(engine: Engine, code: str) -> IndicatorFunnel:
    with engine.connect() as conn:
        indicator_id = conn.execute(select(Indicator.id).where(Indicator.code == code)).scalar_one()
        funnel = indicator_funnel(conn, indicator_id)
    assert funnel is not None
    return funnel


def _page(engine: Engine, visibility: Visibility, code: str) -> tuple[Any, dict[str, Any]]:
    with engine.connect() as conn:
        page, specs = build_indicator(conn, visibility, code)
    return page, specs["funnel"]


def _layer(spec: dict[str, Any], mark: str) -> list[dict[str, Any]]:
    values: list[dict[str, Any]] = next(layer for layer in spec["layer"] if layer["mark"]["type"] == mark)[
        "data"
    ]["values"]
    return values


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
