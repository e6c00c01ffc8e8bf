"""Role and peer-access changes need the password entered within the last minutes (issue 16): a session signed
in long ago is sent to confirm it first; an API token alone never suffices."""

from __future__ import annotations

import datetime as dt

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from forewarn.access.principal import utc_now
from forewarn.accounts.sessions import start_session
from forewarn.accounts.users import get_user
from forewarn.store.models_web import Role
from tests.web.conftest import bearer_for
from tests.web.world import PASSWORD, World


def _admin_signed_in(app: FastAPI, engine: Engine, world: World, minutes_ago: int) -> tuple[TestClient, str]:
    client = TestClient(app, base_url="http://testserver")
    with engine.begin() as conn:
        session = start_session(conn, world.users["admin"], now=utc_now() - dt.timedelta(minutes=minutes_ago))
    client.cookies.set(app.state.forewarn.cookies.session, session.token)
    return client, session.csrf_token


def test_an_old_session_confirms_the_password_before_changing_a_role(
    app: FastAPI, engine: Engine, world: World
) -> None:
    client, csrf = _admin_signed_in(app, engine, world, minutes_ago=60)
    target = world.users["other_member"]
    change = {"role": "analyst", "organisation_code": "", "is_active": "yes", "csrf_token": csrf}
    refused = client.post(f"/users/{target}", data=change, follow_redirects=False)
    assert refused.status_code == 303
    assert refused.headers["location"] == f"/account/confirm-password?next=%2Fusers%2F{target}"
    api = client.put(
        f"/api/v1/users/{target}",
        json={"role": "analyst", "is_active": True},
        headers={"X-CSRF-Token": csrf},
    )
    assert api.status_code == 403 and "confirm your password" in api.json()["detail"]
    grant = client.post(
        "/peers", data={"organisation_code": "HIDE1", "peer_codes": "PEER1", "csrf_token": csrf}
    )
    assert grant.history and grant.history[0].headers["location"].startswith("/account/confirm-password")
    with engine.connect() as conn:
        assert get_user(conn, target).role is Role.MEMBER  # type: ignore[union-attr]

    page = client.get(refused.headers["location"])
    assert page.status_code == 200 and "Confirm your password" in page.text
    wrong = client.post(
        "/account/confirm-password",
        data={"password": "not it at all", "next": f"/users/{target}", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert wrong.status_code == 400 and "not correct" in wrong.text
    confirmed = client.post(
        "/account/confirm-password",
        data={"password": PASSWORD, "next": f"/users/{target}", "csrf_token": csrf},
        follow_redirects=False,
    )
    assert confirmed.status_code == 303 and confirmed.headers["location"] == f"/users/{target}"
    csrf = client.get(f"/users/{target}").text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    done = client.post(f"/users/{target}", data={**change, "csrf_token": csrf}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/users?notice=user-updated"
    with engine.connect() as conn:
        assert get_user(conn, target).role is Role.ANALYST  # type: ignore[union-attr]


def test_a_fresh_session_changes_roles_at_once_and_a_token_never_does(
    app: FastAPI, engine: Engine, world: World
) -> None:
    client, csrf = _admin_signed_in(app, engine, world, minutes_ago=1)
    target = world.users["other_member"]
    body = {"role": "member", "organisation_code": "PEER1", "is_active": True}
    assert client.put(f"/api/v1/users/{target}", json=body, headers={"X-CSRF-Token": csrf}).status_code == 200
    token = {"Authorization": f"Bearer {bearer_for(engine, world.users['admin'])}"}
    assert client.get("/api/v1/users", headers=token).status_code == 200  # reading needs no confirmation
    by_token = client.put(f"/api/v1/users/{target}", json={**body, "role": "admin"}, headers=token)
    assert by_token.status_code == 403 and "browser session" in by_token.json()["detail"]
    peers = client.post(
        "/api/v1/peers", json={"organisation_code": "HIDE1", "peer_codes": ["PEER1"]}, headers=token
    )
    assert peers.status_code == 403
