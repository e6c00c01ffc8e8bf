"""Failed sign-ins slow the next attempt down (capped), through HTTP; the wait is said in seconds and sent as
``Retry-After`` (issue 16: a hard 15-minute lockout kept the owner out too)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import Engine

from forewarn.accounts.signin import ThrottlePolicy
from forewarn.settings import Settings
from forewarn.web.config import WebOptions
from tests.web.conftest import SignedIn, make_app
from tests.web.world import PASSWORD, World


def _sign_in(client: SignedIn, email: str, password: str) -> tuple[int, str, str | None]:
    response = client.client.post(
        "/sign-in",
        data={"email": email, "password": password, "csrf_token": client.csrf or ""},
        follow_redirects=False,
    )
    return response.status_code, response.text, response.headers.get("retry-after")


def test_a_slowed_sign_in_says_how_many_seconds_to_wait(
    web_settings: Settings, engine: Engine, world: World, tmp_path: Path
) -> None:
    # A first delay long enough that a slow test machine cannot outwait it between two requests.
    app = make_app(
        web_settings, engine, tmp_path, throttle=ThrottlePolicy(first_delay=dt.timedelta(seconds=30))
    )
    anonymous = SignedIn(app, engine, None)
    for _ in range(5):
        assert _sign_in(anonymous, world.emails["member"], "guess guess guess")[0] == 400
    status, text, retry_after = _sign_in(anonymous, world.emails["member"], PASSWORD)
    assert status == 429 and retry_after is not None and 1 <= int(retry_after) <= 30
    assert "Too many failed attempts to sign in. Wait" in text and "second" in text
    assert "15 minute" not in text


def test_the_longest_wait_comes_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOREWARN_SIGNIN_MAX_DELAY_SECONDS", "90")
    options = WebOptions.from_settings(Settings(_env_file=None))  # type: ignore[call-arg]
    assert options.throttle.max_delay == dt.timedelta(seconds=90)
    assert ThrottlePolicy().max_delay == dt.timedelta(seconds=60)  # the setting's default, written once
