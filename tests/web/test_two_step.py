"""Two-step sign-in (issue 16): an analyst or administrator may add a TOTP code after the password. Once on, the
password alone starts no session; the code does, once; wrong codes are slowed as wrong passwords are; setting it
up or turning it off needs the password entered recently; members cannot have it."""

from __future__ import annotations

import datetime as dt
import re

from fastapi import FastAPI
from sqlalchemy import Engine, select

from forewarn.access.principal import utc_now
from forewarn.accounts.sessions import start_session
from forewarn.accounts.totp import begin_enrolment, code_for_step, confirm_enrolment, time_step
from forewarn.store.models_web import AuditEntry
from tests.web.conftest import SignedIn
from tests.web.world import PASSWORD, World


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def _turn_on(engine: Engine, user_id: int) -> str:
    now = utc_now()
    with engine.begin() as conn:
        secret = begin_enrolment(conn, user_id)
        assert confirm_enrolment(conn, user_id, code_for_step(secret, time_step(now) - 1), now)
    return secret


def _password_step(app: FastAPI, engine: Engine, world: World) -> SignedIn:
    anonymous = SignedIn(app, engine, None)
    response = anonymous.client.post(
        "/sign-in",
        data={
            "email": world.emails["analyst"],
            "password": PASSWORD,
            "csrf_token": anonymous.csrf,
            "next": "/account",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/sign-in/code?next=%2Faccount"
    cookies = response.headers.get_list("set-cookie")
    assert not any(c.startswith("forewarn_session=") for c in cookies)  # no session on the password alone
    assert any(
        c.startswith("forewarn_second_step=") and "HttpOnly" in c and "Max-Age=300" in c for c in cookies
    )
    return anonymous


def test_with_two_step_on_the_password_alone_starts_no_session_and_the_code_does_once(
    app: FastAPI, engine: Engine, world: World
) -> None:
    secret = _turn_on(engine, world.users["analyst"])
    client = _password_step(app, engine, world)
    assert client.client.get("/portfolio", follow_redirects=False).headers["location"].startswith("/sign-in")
    page = client.client.get("/sign-in/code?next=%2Faccount")
    assert page.status_code == 200 and 'autocomplete="one-time-code"' in page.text
    code = code_for_step(secret, time_step(utc_now()))
    wrong = "000000" if code != "000000" else "111111"
    refused = client.client.post(
        "/sign-in/code",
        data={"code": wrong, "next": "/account", "csrf_token": client.csrf},
        follow_redirects=False,
    )
    assert refused.status_code == 400 and "not correct" in refused.text
    done = client.client.post(
        "/sign-in/code",
        data={"code": f"{code[:3]} {code[3:]}", "next": "/account", "csrf_token": client.csrf},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"] == "/account"
    assert any(c.startswith("forewarn_session=") for c in done.headers.get_list("set-cookie"))
    assert client.client.get("/portfolio").status_code == 200

    again = _password_step(app, engine, world)  # the same code a second time: refused
    replay = again.client.post(
        "/sign-in/code", data={"code": code, "next": "/", "csrf_token": again.csrf}, follow_redirects=False
    )
    assert replay.status_code == 400
    with engine.connect() as conn:
        actions = list(conn.execute(select(AuditEntry.action).order_by(AuditEntry.id)).scalars())
    assert actions.count("sign_in_password_ok") == 2 and actions.count("sign_in_code_failed") == 2
    assert actions.count("sign_in") == 1


def test_the_code_step_needs_a_genuine_unexpired_second_step_cookie(
    app: FastAPI, engine: Engine, world: World
) -> None:
    secret = _turn_on(engine, world.users["analyst"])
    client = SignedIn(app, engine, None)
    assert client.client.get("/sign-in/code", follow_redirects=False).headers["location"] == "/sign-in"
    forged = f"{world.users['admin']}.9999999999.nonce.{'0' * 64}"
    client.client.cookies.set("forewarn_second_step", forged)
    code = code_for_step(secret, time_step(utc_now()))
    response = client.client.post(
        "/sign-in/code", data={"code": code, "next": "/", "csrf_token": client.csrf}, follow_redirects=False
    )
    assert response.status_code == 303 and response.headers["location"] == "/sign-in"
    assert not any(c.startswith("forewarn_session=") for c in response.headers.get_list("set-cookie"))


def test_wrong_codes_are_slowed_down_as_wrong_passwords_are(
    app: FastAPI, engine: Engine, world: World
) -> None:
    secret = _turn_on(engine, world.users["analyst"])
    client = _password_step(app, engine, world)
    code = code_for_step(secret, time_step(utc_now()))
    wrong = "000000" if code != "000000" else "111111"
    statuses = [
        client.client.post(
            "/sign-in/code",
            data={"code": wrong, "next": "/", "csrf_token": client.csrf},
            follow_redirects=False,
        ).status_code
        for _ in range(app.state.forewarn.options.throttle.max_failures_per_account + 2)
    ]
    assert statuses[-1] == 429, statuses
    throttled = client.client.post(
        "/sign-in/code", data={"code": code, "next": "/", "csrf_token": client.csrf}, follow_redirects=False
    )
    assert (
        throttled.status_code == 429 and int(throttled.headers["Retry-After"]) >= 1
    )  # even the right code waits


def test_setting_up_needs_a_recent_password_then_a_code_from_the_new_key(
    app: FastAPI, engine: Engine, world: World
) -> None:
    analyst = SignedIn(app, engine, world.users["analyst"])  # signed in just now: the password is recent
    page = analyst.client.get("/account/two-step")
    assert page.status_code == 200 and "Two-step sign-in is <strong>off</strong>" in page.text
    started = analyst.client.post("/account/two-step/start", data={"csrf_token": analyst.csrf})
    key = re.search(r'id="two-step-key">([A-Z2-7]+)<', started.text)
    assert key is not None and "otpauth://totp/Forewarn:" in started.text
    wrong = analyst.client.post(
        "/account/two-step/confirm", data={"csrf_token": analyst.csrf, "code": "12345"}
    )
    assert wrong.status_code == 400
    code = code_for_step(key.group(1), time_step(utc_now()))
    on = analyst.client.post(
        "/account/two-step/confirm", data={"csrf_token": analyst.csrf, "code": code}, follow_redirects=False
    )
    assert on.status_code == 303 and on.headers["location"] == "/account/two-step?notice=two-step-on"
    assert "is <strong>on</strong>" in analyst.client.get(on.headers["location"]).text
    _password_step(app, engine, world)  # signing in now asks for the code
    off = analyst.client.post(
        "/account/two-step/off", data={"csrf_token": analyst.csrf}, follow_redirects=False
    )
    assert off.headers["location"] == "/account/two-step?notice=two-step-off"


def test_an_old_session_confirms_the_password_first_and_members_cannot_enrol(
    app: FastAPI, engine: Engine, world: World
) -> None:
    with engine.begin() as conn:
        old = start_session(conn, world.users["admin"], now=utc_now() - dt.timedelta(hours=2))
    admin = SignedIn(app, engine, None)
    admin.client.cookies.set(app.state.forewarn.cookies.session, old.token)
    response = admin.client.post(
        "/account/two-step/start", data={"csrf_token": old.csrf_token}, follow_redirects=False
    )
    assert response.status_code == 303 and response.headers["location"].startswith(
        "/account/confirm-password"
    )
    member = SignedIn(app, engine, world.users["member"])
    assert member.client.get("/account/two-step").status_code == 403
    assert member.client.post("/account/two-step/start", data={"csrf_token": member.csrf}).status_code == 403
    assert _csrf(member.client.get("/account").text)  # the member's account page has no two-step section
    assert "two-step" not in member.client.get("/account").text
