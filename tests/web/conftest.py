"""Fixtures for the web tests: a populated store, an app over it, and clients signed in as each role."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from forewarn.accounts.sessions import start_session
from forewarn.accounts.tokens import issue_token
from forewarn.settings import Settings
from forewarn.web.app import create_app
from forewarn.web.config import WebOptions
from tests.web.world import CHEAP_ARGON2, World, build_world

TEST_SECRET = "test-secret-for-the-web-tests-0123456789"


@pytest.fixture
def web_settings(tmp_path: Path, database_url: str) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        environment="test",
        data_dir=tmp_path,
        database_url=database_url,
        secret_key=TEST_SECRET,
    )


@pytest.fixture
def world(engine: Engine) -> World:
    return build_world(engine)


def make_app(settings: Settings, engine: Engine, tmp_path: Path, **overrides: object) -> FastAPI:
    options = replace(
        WebOptions.from_settings(settings),
        argon2=CHEAP_ARGON2,
        upload_dir=tmp_path / "uploads",
        **overrides,  # type: ignore[arg-type]
    )
    return create_app(settings, engine=engine, options=options)


@pytest.fixture
def app(web_settings: Settings, engine: Engine, world: World, tmp_path: Path) -> FastAPI:
    return make_app(web_settings, engine, tmp_path)


class SignedIn:
    """A test client with a session cookie, and the session's CSRF token for unsafe requests."""

    def __init__(self, app: FastAPI, engine: Engine, user_id: int | None) -> None:
        self.client = TestClient(app, base_url="http://testserver")
        self.csrf: str | None = None
        if user_id is not None:
            with engine.begin() as conn:
                session = start_session(conn, user_id)
            self.client.cookies.set(app.state.forewarn.cookies.session, session.token)
            self.csrf = session.csrf_token
        else:
            page = self.client.get("/sign-in")
            found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            self.csrf = found.group(1) if found else None

    def headers(self) -> dict[str, str]:
        return {"X-CSRF-Token": self.csrf} if self.csrf else {}


@pytest.fixture
def signed_in(app: FastAPI, engine: Engine, world: World) -> Iterator[dict[str, SignedIn]]:
    clients = {
        "anonymous": SignedIn(app, engine, None),
        "member": SignedIn(app, engine, world.users["member"]),
        "analyst": SignedIn(app, engine, world.users["analyst"]),
        "admin": SignedIn(app, engine, world.users["admin"]),
    }
    yield clients
    for c in clients.values():
        c.client.close()


def bearer_for(engine: Engine, user_id: int) -> str:
    with engine.begin() as conn:
        return issue_token(conn, user_id, "tests").token
