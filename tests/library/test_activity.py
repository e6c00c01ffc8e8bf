"""Learning activity (library.activity): logged for members only, counted per organisation and month, suppressed
below the minimum group size of accounts; experiments counted from the registry."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from forewarn.cli import app
from forewarn.library.activity import activity_counts, k_anonymous_counts, log_activity
from forewarn.settings import get_settings
from forewarn.store.models_peers import LearningActivity
from tests.web.conftest import SignedIn
from tests.web.world import World

MAY, JUNE = dt.date(2024, 5, 1), dt.date(2024, 6, 1)


def test_counts_per_organisation_and_month_suppressed_below_the_minimum_accounts() -> None:
    acts = pl.DataFrame(
        # Organisation 1 in May: 5 accounts, 7 acts (3 searches, 2 notes read, 1 neighbours, 1 experiment).
        [(1, MAY, f"a{i}", "search") for i in range(3)]
        + [(1, MAY, "a3", "note_read"), (1, MAY, "a3", "note_read"), (1, MAY, "a4", "neighbours")]
        + [(1, MAY, "a0", "experiment")]
        # Organisation 1 in June: 4 accounts, many acts: suppressed at 5.
        + [(1, JUNE, f"b{i % 4}", "search") for i in range(20)]
        # Organisation 2 in May: one account.
        + [(2, MAY, "c0", "deviants")],
        schema={"organisation_id": pl.Int64, "month": pl.Date, "account": pl.String, "kind": pl.String},
        orient="row",
    )
    counts = k_anonymous_counts(acts, min_group_size=5)
    assert counts.select("organisation_id", "month", "accounts", "suppressed").rows() == [
        (1, MAY, 5, False),
        (1, JUNE, None, True),
        (2, MAY, None, True),
    ]
    may = counts.row(0, named=True)
    assert (may["search"], may["note_read"], may["neighbours"], may["deviants"], may["experiment"]) == (
        3,
        2,
        1,
        0,
        1,
    )
    assert counts.row(1, named=True)["search"] is None
    # At a minimum of 4 accounts June shows: 20 searches by 4 accounts.
    june = k_anonymous_counts(acts, min_group_size=4).row(1, named=True)
    assert (june["accounts"], june["search"], june["suppressed"]) == (4, 20, False)
    assert k_anonymous_counts(acts, min_group_size=1, since=JUNE, until=JUNE).is_empty()


def test_only_known_kinds_are_logged(engine: Engine, world: World) -> None:
    with engine.begin() as conn:
        with pytest.raises(ValueError, match="kind must be one of"):
            log_activity(conn, world.ids["OWN"], None, "experiment")  # read from the registry, never logged
        assert log_activity(conn, None, None, "search") is False


def test_members_searches_reading_and_visits_are_logged_not_the_analysts(
    signed_in: dict[str, SignedIn], engine: Engine, world: World
) -> None:
    member, analyst = signed_in["member"], signed_in["analyst"]
    own = world.ids["OWN"]
    assert member.client.get("/library").status_code == 200  # the latest notes: not a search
    assert member.client.get("/library", params={"q": "huddle"}).status_code == 200
    assert member.client.get("/api/v1/library", params={"q": "triage"}).status_code == 200
    assert member.client.get(f"/organisations/{own}/neighbours").status_code == 200
    assert (
        member.client.get(f"/organisations/{own}/neighbours", params={"indicator": "perf"}).status_code == 200
    )
    assert analyst.client.get("/library", params={"q": "huddle"}).status_code == 200
    assert analyst.client.get(f"/organisations/{own}/neighbours").status_code == 200
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(LearningActivity)).scalar_one() == 4
        today = dt.datetime.now(dt.UTC).date().replace(day=1)
        shown = activity_counts(conn, min_group_size=1).row(0, named=True)
        assert (shown["organisation_id"], shown["month"], shown["accounts"]) == (own, today, 1)
        assert (shown["search"], shown["neighbours"], shown["deviants"], shown["note_read"]) == (2, 1, 1, 0)
        # One account is below the default minimum of 5: every count hidden.
        hidden = activity_counts(conn, min_group_size=5).row(0, named=True)
        assert hidden["suppressed"] is True and hidden["search"] is None and hidden["accounts"] is None


def test_the_activity_command_prints_suppressed_counts(
    engine: Engine, world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with engine.begin() as conn:
        # OWN in May: three searches by two accounts; PEER: one note read by one account.
        for user in ("member", "member", "other_member"):
            log_activity(conn, world.ids["OWN"], world.users[user], "search", when=MAY)
        log_activity(conn, world.ids["PEER"], world.users["member"], "note_read", when=MAY)
    monkeypatch.setenv("FOREWARN_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.setenv("FOREWARN_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("FOREWARN_MIN_GROUP_SIZE", "2")
    get_settings.cache_clear()
    try:
        done = CliRunner().invoke(app, ["library", "activity", "--json"])
    finally:
        get_settings.cache_clear()
    assert done.exit_code == 0, done.output
    out = json.loads(done.stdout)
    assert out["min_group_size"] == 2
    assert [(r["code"], r["month"], r["accounts"], r["search"], r["note_read"]) for r in out["rows"]] == [
        ("OWN1", "2024-05-01", 2, 3, 0),
        ("PEER1", "2024-05-01", None, None, None),
    ]
