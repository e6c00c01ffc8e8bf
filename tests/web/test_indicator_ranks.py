"""The indicator page's rank chart draws every ranked organisation the viewer may see (226 here, as in a new
user's store), not the first rows of the evidence order; past the chart's cap it draws the viewer's own and an
even spread across the ranks, and the page says so."""

from __future__ import annotations

import datetime as dt
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine, insert

from forewarn.access.policy import ALL_ORGANISATIONS, Visibility
from forewarn.accounts.passwords import Passwords
from forewarn.accounts.users import create_user
from forewarn.settings import Settings
from forewarn.store.models import Dataset, ImportBatch, Indicator, Observation, Organisation
from forewarn.store.models_web import Role
from forewarn.surveillance.scan import run_scan
from forewarn.views import indicator as indicator_view
from forewarn.views.indicator import IndicatorOrganisationOut, indicator, rank_chart_rows
from tests.charts.specs import rows
from tests.web.conftest import SignedIn, make_app
from tests.web.world import CHEAP_ARGON2, PASSWORD, months

ORGANISATIONS = 226


def _populate(engine: Engine) -> tuple[list[int], int]:
    """226 organisations with a year of one proportion each, scanned; the ids, and an analyst's user id."""
    rng = np.random.default_rng(3)
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        dataset = conn.execute(
            insert(Dataset).values(code="many", name="Many", simulated=False).returning(Dataset.id)
        ).scalar_one()
        batch = conn.execute(
            insert(ImportBatch)
            .values(
                source_name="many",
                checksum="0" * 64,
                mapping_checksum="0" * 64,
                dataset_id=dataset,
                imported_by="tests",
                started_at=now,
                finished_at=now,
            )
            .returning(ImportBatch.id)
        ).scalar_one()
        ids = [
            conn.execute(
                insert(Organisation)
                .values(code=f"ORG{i:03d}", name=f"Organisation {i:03d}", dataset_id=dataset)
                .returning(Organisation.id)
            ).scalar_one()
            for i in range(ORGANISATIONS)
        ]
        indicator = conn.execute(
            insert(Indicator)
            .values(
                code="seen",
                name="Seen on time",
                unit="proportion",
                kind="proportion",
                polarity="higher_is_better",
                multiplier=1.0,
                dataset_id=dataset,
            )
            .returning(Indicator.id)
        ).scalar_one()
        rows = []
        for org in ids:
            level = rng.uniform(0.6, 0.95)
            for period in months(12):
                denominator = float(rng.integers(200, 2000))
                numerator = float(rng.binomial(int(denominator), level))
                rows.append(
                    {
                        "organisation_id": org,
                        "indicator_id": indicator,
                        "period_start": period,
                        "period_end": period + dt.timedelta(days=27),
                        "numerator": numerator,
                        "denominator": denominator,
                        "value": numerator / denominator,
                        "batch_id": batch,
                        "revision": 1,
                    }
                )
        conn.execute(insert(Observation), rows)
        analyst = create_user(
            conn,
            Passwords(CHEAP_ARGON2),
            email="ranks@test.forewarn",
            display_name="Ranks analyst",
            password=PASSWORD,
            role=Role.ANALYST,
        )
    run_scan(engine)
    return ids, analyst


@pytest.fixture
def many(engine: Engine) -> tuple[list[int], int]:
    return _populate(engine)


def _ranks(engine: Engine, visibility: Visibility) -> tuple[Any, dict[str, Any]]:
    with engine.connect() as conn:
        view = indicator(conn, visibility, "seen")
    assert view is not None
    return view.page, view.specs["ranks"]


def test_the_rank_chart_draws_every_ranked_organisation(engine: Engine, many: tuple[list[int], int]) -> None:
    page, spec = _ranks(engine, ALL_ORGANISATIONS)
    ranked = [o for o in page.organisations if o.rank is not None]
    assert len(ranked) == ORGANISATIONS
    drawn = rows(spec)
    assert len(drawn) == ORGANISATIONS
    assert {row["label"] for row in drawn} == {o.label for o in ranked}
    assert [row["rank"] for row in drawn] == sorted(row["rank"] for row in drawn)
    assert f"{ORGANISATIONS} organisations out of {ORGANISATIONS}" in spec["description"]
    assert "usermeta" not in spec
    # Rows get thinner rather than the chart taller than TALL pixels.
    assert spec["height"] == 1800


def test_a_member_sees_their_own_and_granted_peers_ranked(
    engine: Engine, many: tuple[list[int], int]
) -> None:
    ids, _ = many
    member = Visibility(all_organisations=False, own=ids[0], peers={ids[1]: "Peer 1", ids[2]: "Peer 2"})
    _, spec = _ranks(engine, member)
    assert {row["label"] for row in rows(spec)} == {"Organisation 000", "Peer 1", "Peer 2"}


def test_past_the_cap_the_chart_shows_yours_and_a_spread_and_the_page_says_so(
    engine: Engine,
    many: tuple[list[int], int],
    web_settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ids, analyst = many
    monkeypatch.setattr(indicator_view, "MAX_RANK_ROWS", 40)
    member = Visibility(
        all_organisations=False, own=ids[7], peers={i: f"Peer {n}" for n, i in enumerate(ids[8:], 1)}
    )
    _, spec = _ranks(engine, member)
    drawn = rows(spec)
    assert len(drawn) == 40
    assert "Organisation 007" in {row["label"] for row in drawn}
    ranks = sorted(row["rank"] for row in drawn)
    assert ranks[0] <= 10 and ranks[-1] >= ORGANISATIONS - 15  # the whole range, not the head of a list
    assert spec["usermeta"] == {"shown": 40, "visible": ORGANISATIONS - 7}
    assert f"40 of the {ORGANISATIONS - 7} organisations you can see" in spec["description"]
    app = make_app(web_settings, engine, tmp_path)
    html = SignedIn(app, engine, analyst).client.get("/indicators/seen").text
    assert f"You can see {ORGANISATIONS} ranked organisations" in html
    assert "the chart shows 40 of them, yours and an even spread across the ranks" in html


def _row(label: str, rank: float, *, own: bool = False) -> IndicatorOrganisationOut:
    return IndicatorOrganisationOut(
        organisation_id=None,
        label=label,
        code=None,
        anonymised=False,
        own=own,
        compared_value=None,
        compared_denominator=None,
        latest_value=None,
        latest_period=None,
        funnel_z=None,
        funnel_q=None,
        funnel_outlier=None,
        funnel_concern=False,
        rank=rank,
        rank_lower=rank,
        rank_upper=rank,
        rank_of=1000,
        rank_distinguishable=0,
        url=None,
    )


def test_the_spread_is_even_over_the_ranks_and_keeps_your_own() -> None:
    rows = [_row(f"O{i}", float(i)) for i in range(1, 1001)]
    rows[500] = _row("Mine", 501.0, own=True)
    assert rank_chart_rows(rows, 1000) == rows
    chosen = rank_chart_rows(list(reversed(rows)), 11)
    assert len(chosen) == 11 and chosen[0].label == "Mine"
    ranks = [r.rank or 0.0 for r in chosen[1:]]
    assert ranks[0] == 1.0 and all(99 <= b - a <= 101 for a, b in pairwise(ranks))
