"""Sign-in while others browse (issue 16): on SQLite a deferred transaction that reads, checks a password, then
writes fails with SQLITE_BUSY_SNAPSHOT ("database is locked") when anyone else committed in between, and
``busy_timeout`` does not retry it. Writing transactions begin IMMEDIATE; every sign-in must succeed."""

from __future__ import annotations

import datetime as dt
import threading
import time
from pathlib import Path

from fastapi import FastAPI
from sqlalchemy import Engine, insert, select, text

from forewarn.accounts.sessions import SessionPolicy
from forewarn.settings import Settings
from forewarn.store.database import write_connection
from forewarn.store.models_web import LoginAttempt
from tests.web.conftest import SignedIn, make_app
from tests.web.world import PASSWORD, World

SIGN_INS = 20


class _SlowPasswords:
    """The app's hasher, taking as long as a real Argon2 check relative to the test's cheap one."""

    def __init__(self, inner: object, delay: float) -> None:
        self._inner = inner
        self._delay = delay

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)

    def verify(self, password: str, stored_hash: str | None) -> tuple[bool, str | None]:
        time.sleep(self._delay)
        return self._inner.verify(password, stored_hash)  # type: ignore[attr-defined, no-any-return]


def _app(web_settings: Settings, engine: Engine, tmp_path: Path) -> FastAPI:
    # Touch the session on every request, so that every page a reader loads writes too.
    app = make_app(web_settings, engine, tmp_path, session=SessionPolicy(touch_every=dt.timedelta(0)))
    app.state.forewarn.passwords = _SlowPasswords(app.state.forewarn.passwords, 0.15)
    return app


def test_every_sign_in_succeeds_while_another_user_browses(
    web_settings: Settings, engine: Engine, world: World, tmp_path: Path
) -> None:
    app = _app(web_settings, engine, tmp_path)
    stop = threading.Event()
    reader_statuses: list[int] = []

    def browse(role: str) -> None:
        reader = SignedIn(app, engine, world.users[role])
        try:
            while not stop.is_set():
                for path in ("/", f"/organisations/{world.ids['OWN']}"):
                    reader_statuses.append(reader.client.get(path).status_code)
        finally:
            reader.client.close()

    statuses: list[int] = []
    lock = threading.Lock()

    def sign_in(i: int) -> None:
        client = SignedIn(app, engine, None)
        role = ("analyst", "admin", "member")[i % 3]
        try:
            response = client.client.post(
                "/sign-in",
                data={"email": world.emails[role], "password": PASSWORD, "csrf_token": client.csrf or ""},
                follow_redirects=False,
            )
            with lock:
                statuses.append(response.status_code)
        finally:
            client.client.close()

    readers = [threading.Thread(target=browse, args=(role,)) for role in ("member", "analyst")]
    for r in readers:
        r.start()
    try:
        signers = [threading.Thread(target=sign_in, args=(i,)) for i in range(SIGN_INS)]
        for s in signers:
            s.start()
        for s in signers:
            s.join(timeout=120)
    finally:
        stop.set()
        for r in readers:
            r.join(timeout=60)
    assert statuses == [303] * SIGN_INS
    assert reader_statuses and set(reader_statuses) == {200}
    with engine.connect() as conn:
        succeeded = conn.execute(select(LoginAttempt.id).where(LoginAttempt.succeeded.is_(True))).all()
    assert len(succeeded) == SIGN_INS


def test_a_write_connection_reads_then_writes_although_another_writer_committed(engine: Engine) -> None:
    """The pattern that failed: read, wait while someone else commits, then write."""
    read_done, other_committed = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def other_writer() -> None:
        read_done.wait(timeout=10)
        try:
            with write_connection(engine) as conn:
                conn.execute(insert(LoginAttempt).values(email="b@x", attempted_at=_now(), succeeded=False))
        except BaseException as exc:
            errors.append(exc)
        other_committed.set()

    thread = threading.Thread(target=other_writer)
    thread.start()
    with write_connection(engine) as conn:
        conn.execute(text("SELECT count(*) FROM login_attempts")).scalar_one()
        read_done.set()
        other_committed.wait(timeout=0.5)  # the other writer waits for us (IMMEDIATE), so this times out
        conn.execute(insert(LoginAttempt).values(email="a@x", attempted_at=_now(), succeeded=False))
    thread.join(timeout=30)
    assert errors == []
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM login_attempts")).scalar_one() == 2


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
