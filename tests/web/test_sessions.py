"""Sign-in, sessions, throttling, API tokens, security headers and the audit log, through HTTP."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine

from forewarn.access.principal import Principal
from forewarn.accounts.audit import recent_entries
from forewarn.accounts.sessions import SessionPolicy, keep_up_session, look_up_session, start_session
from forewarn.accounts.signin import ThrottlePolicy
from forewarn.settings import Settings
from tests.web.conftest import SignedIn, bearer_for, make_app
from tests.web.world import PASSWORD, World


def resolve_session(conn: Connection, token: str, **kw: object) -> Principal | None:
    """The account behind a session cookie, with the upkeep the lookup calls for done on ``conn``."""
    principal, upkeep = look_up_session(conn, token, **kw)  # type: ignore[arg-type]
    if upkeep is not None:
        keep_up_session(conn, upkeep)
    return principal


def sign_in(client: SignedIn, email: str, password: str, **headers: str) -> tuple[int, str]:
    response = client.client.post(
        "/sign-in",
        data={"email": email, "password": password, "csrf_token": client.csrf or ""},
        headers=headers,
        follow_redirects=False,
    )
    return response.status_code, response.text


def test_session_cookie_is_httponly_and_samesite_lax(app: FastAPI, engine: Engine, world: World) -> None:
    anonymous = SignedIn(app, engine, None)
    response = anonymous.client.post(
        "/sign-in",
        data={"email": world.emails["analyst"], "password": PASSWORD, "csrf_token": anonymous.csrf},
        follow_redirects=False,
    )
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("forewarn_session=")
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # local HTTP; production turns it on (see test below)


def test_secure_cookies_use_the_host_prefix(
    web_settings: Settings, engine: Engine, world: World, tmp_path: Path
) -> None:
    app = make_app(web_settings, engine, tmp_path, secure_cookies=True)
    client = TestClient(app, base_url="https://testserver")
    page = client.get("/sign-in")
    assert page.headers["set-cookie"].startswith("__Host-forewarn_presession=")
    csrf = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    response = client.post(
        "/sign-in",
        data={"email": world.emails["analyst"], "password": PASSWORD, "csrf_token": csrf},
        follow_redirects=False,
    )
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("__Host-forewarn_session=") and "Secure" in cookie


def test_the_same_refusal_for_a_wrong_password_and_an_unknown_account(
    app: FastAPI, engine: Engine, world: World
) -> None:
    anonymous = SignedIn(app, engine, None)
    wrong = sign_in(anonymous, world.emails["member"], "not the password at all")
    unknown = sign_in(anonymous, "nobody@nowhere.example", "not the password at all")
    assert wrong[0] == unknown[0] == 400
    message = "Enter a correct email address and password"
    assert message in wrong[1] and message in unknown[1]


def test_sign_in_is_throttled_after_five_failures(
    web_settings: Settings, engine: Engine, world: World, tmp_path: Path
) -> None:
    # A first delay long enough that a slow test machine cannot outwait it between two requests.
    app = make_app(
        web_settings, engine, tmp_path, throttle=ThrottlePolicy(first_delay=dt.timedelta(seconds=30))
    )
    anonymous = SignedIn(app, engine, None)
    for _ in range(5):
        assert sign_in(anonymous, world.emails["member"], "guess guess guess")[0] == 400
    status, text = sign_in(anonymous, world.emails["member"], PASSWORD)
    assert status == 429
    assert "Too many failed attempts" in text
    # Another account from elsewhere is unaffected.
    assert sign_in(anonymous, world.emails["analyst"], PASSWORD)[0] == 303
    with engine.connect() as conn:
        actions = [e.action for e in recent_entries(conn, limit=10)]
    assert "sign_in_throttled" in actions and actions.count("sign_in_failed") >= 5


def test_signing_out_ends_the_session_on_the_server(app: FastAPI, engine: Engine, world: World) -> None:
    member = SignedIn(app, engine, world.users["member"])
    cookie = member.client.cookies.get(app.state.forewarn.cookies.session)
    assert member.client.get("/portfolio").status_code == 200
    response = member.client.post("/sign-out", data={"csrf_token": member.csrf}, follow_redirects=False)
    assert response.headers["location"] == "/sign-in?notice=signed-out"
    with engine.connect() as conn:
        assert resolve_session(conn, cookie or "") is None
    replay = SignedIn(app, engine, None)
    replay.client.cookies.set(app.state.forewarn.cookies.session, cookie or "")
    assert replay.client.get("/portfolio", follow_redirects=False).status_code == 303


def test_sessions_expire_when_idle_and_at_their_absolute_limit(engine: Engine, world: World) -> None:
    policy = SessionPolicy(idle=dt.timedelta(minutes=30), absolute=dt.timedelta(hours=2))
    start = dt.datetime(2026, 1, 1, 9, 0, tzinfo=dt.UTC)
    with engine.begin() as conn:
        session = start_session(conn, world.users["member"], policy=policy, now=start)
        assert (
            resolve_session(conn, session.token, policy=policy, now=start + dt.timedelta(minutes=29))
            is not None
        )
        assert (
            resolve_session(conn, session.token, policy=policy, now=start + dt.timedelta(minutes=58))
            is not None
        )
        assert (
            resolve_session(conn, session.token, policy=policy, now=start + dt.timedelta(minutes=89)) is None
        )
        late = start_session(conn, world.users["member"], policy=policy, now=start)
        for minutes in range(20, 120, 20):
            assert resolve_session(conn, late.token, policy=policy, now=start + dt.timedelta(minutes=minutes))
        assert resolve_session(conn, late.token, policy=policy, now=start + dt.timedelta(minutes=121)) is None


def test_disabling_an_account_ends_its_sessions_and_stops_its_tokens(
    app: FastAPI, engine: Engine, world: World
) -> None:
    member = SignedIn(app, engine, world.users["member"])
    token = bearer_for(engine, world.users["member"])
    admin = SignedIn(app, engine, world.users["admin"])
    response = admin.client.put(
        f"/api/v1/users/{world.users['member']}",
        json={"role": "member", "organisation_code": "OWN1", "is_active": False},
        headers=admin.headers(),
    )
    assert response.status_code == 200
    assert member.client.get("/portfolio", follow_redirects=False).status_code == 303
    assert (
        member.client.get("/api/v1/portfolio", headers={"Authorization": f"Bearer {token}"}).status_code
        == 401
    )


def test_api_tokens_are_shown_once_and_stored_hashed(app: FastAPI, engine: Engine, world: World) -> None:
    analyst = SignedIn(app, engine, world.users["analyst"])
    page = analyst.client.post("/account/tokens", data={"csrf_token": analyst.csrf, "name": "board report"})
    token = re.search(r'id="new-token">([^<]+)<', page.text)
    assert token is not None
    value = token.group(1)
    again = analyst.client.get("/account")
    assert value not in again.text and value[:10] in again.text
    with engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT token_hash FROM api_tokens").scalars().all()
    assert value not in stored
    api = SignedIn(app, engine, None).client
    me = api.get("/api/v1/account", headers={"Authorization": f"Bearer {value}"}).json()
    assert me["me"]["email"] == world.emails["analyst"]


def test_every_response_carries_the_security_headers(app: FastAPI, engine: Engine, world: World) -> None:
    client = SignedIn(app, engine, world.users["member"]).client
    for path in (
        "/portfolio",
        "/static/forewarn/forewarn.css",
        "/api/v1/portfolio",
        f"/survey/{world.tokens['fresh']}",
    ):
        headers = client.get(path).headers
        csp = headers["content-security-policy"]
        assert "script-src 'self' 'sha256-" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-eval" not in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
    assert client.get(f"/survey/{world.tokens['fresh']}").headers["referrer-policy"] == "no-referrer"
    assert client.get("/portfolio").headers["cache-control"] == "no-store"


def test_views_and_changes_are_audited(app: FastAPI, engine: Engine, world: World) -> None:
    member = SignedIn(app, engine, world.users["member"])
    member.client.get(f"/organisations/{world.ids['OWN']}")
    member.client.get(f"/organisations/{world.ids['HIDDEN']}")
    admin = SignedIn(app, engine, world.users["admin"])
    admin.client.post(
        "/users",
        data={
            "csrf_token": admin.csrf,
            "email": "new@test.forewarn",
            "display_name": "New Person",
            "role": "analyst",
            "password": "a long enough password",
        },
    )
    with engine.connect() as conn:
        entries = recent_entries(conn, limit=50)
    views = [(e.actor, e.object_type, e.object_id) for e in entries if e.action == "view"]
    assert (world.emails["member"], "organisation", str(world.ids["OWN"])) in views
    # A refused view is not recorded as a view.
    assert (world.emails["member"], "organisation", str(world.ids["HIDDEN"])) not in views
    created = [e for e in entries if e.action == "create" and e.object_type == "user"]
    assert (
        created
        and created[0].actor == world.emails["admin"]
        and created[0].detail
        == {
            "email": "new@test.forewarn",
            "role": "analyst",
        }
    )
