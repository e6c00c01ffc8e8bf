"""Every audited action leaves exactly one audit entry, written by the time the answer arrives; a change and its
entry are written in one transaction, so a change that fails leaves neither."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from forewarn.accounts.audit import recent_entries
from forewarn.store.models_web import ApiToken
from forewarn.web.routes import account
from tests.web.conftest import SignedIn, bearer_for
from tests.web.world import World


def _entries(engine: Engine, action: str) -> list[tuple[str, str, str | None]]:
    with engine.connect() as conn:
        return [(e.actor, e.object_type, e.object_id) for e in recent_entries(conn, action=action)]


def _tokens(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(ApiToken)).scalar_one())


def test_each_view_leaves_one_entry_before_the_answer_arrives(
    app: FastAPI, engine: Engine, world: World
) -> None:
    member = SignedIn(app, engine, world.users["member"])
    own = world.ids["OWN"]
    for _ in range(3):
        assert member.client.get(f"/organisations/{own}").status_code == 200
    assert member.client.get(f"/api/v1/organisations/{own}").status_code == 200
    views = _entries(engine, "view")
    assert views.count((world.emails["member"], "organisation", str(own))) == 4


def test_a_change_leaves_one_entry_with_it(app: FastAPI, engine: Engine, world: World) -> None:
    analyst = SignedIn(app, engine, world.users["analyst"])
    before = _tokens(engine)
    response = analyst.client.post(
        "/api/v1/account/tokens", json={"name": "audited"}, headers=analyst.headers()
    )
    assert response.status_code == 201
    assert _tokens(engine) == before + 1
    assert _entries(engine, "create") == [(world.emails["analyst"], "api_token", str(response.json()["id"]))]


def test_a_change_that_fails_leaves_neither_the_change_nor_its_entry(
    app: FastAPI, engine: Engine, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The token and its audit entry are written, then building the answer fails: both are rolled back."""

    def broken(**_: object) -> None:
        raise RuntimeError("the answer could not be built")

    monkeypatch.setattr(account, "TokenIssued", broken)
    client = TestClient(app, base_url="http://testserver", raise_server_exceptions=False)
    headers = {"Authorization": f"Bearer {bearer_for(engine, world.users['analyst'])}"}
    before = _tokens(engine)
    response = client.post("/api/v1/account/tokens", json={"name": "doomed"}, headers=headers)
    assert response.status_code == 500
    assert _tokens(engine) == before
    assert _entries(engine, "create") == []


def test_a_refused_change_leaves_no_entry(app: FastAPI, engine: Engine, world: World) -> None:
    member = SignedIn(app, engine, world.users["member"])
    response = member.client.post("/api/v1/account/tokens/999999/revoke", headers=member.headers())
    assert response.status_code == 404
    assert _entries(engine, "revoke") == []


def test_an_anonymous_answer_is_audited_without_the_respondents_address(
    app: FastAPI, engine: Engine, world: World
) -> None:
    """The submission is recorded (who: a survey token; what: a response), but never with an address that could
    tie a person to anonymous answers; a signed-in change keeps its address."""
    respondent = SignedIn(app, engine, None)
    response = respondent.client.post(
        f"/api/v1/survey/{world.tokens['fresh']}",
        json={"answers": {"acq_1": "4"}},
        headers={**respondent.headers(), "X-Forwarded-For": "203.0.113.9"},
    )
    assert response.status_code == 201, response.text
    analyst = SignedIn(app, engine, world.users["analyst"])
    issued = analyst.client.post(
        "/api/v1/account/tokens", json={"name": "audited"}, headers=analyst.headers()
    )
    assert issued.status_code == 201
    with engine.connect() as conn:
        submitted = recent_entries(conn, action="submit")
        created = recent_entries(conn, action="create")
    assert [(e.actor, e.object_type, e.ip) for e in submitted] == [("survey-token", "survey_response", None)]
    assert [e.ip for e in created] == ["testclient"]
