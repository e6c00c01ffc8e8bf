"""Back-pressure (issue 16): excess requests are refused with 503 and Retry-After instead of queued, a request
that waits too long is answered 503, a client that goes is not worked for, and /healthz answers however busy
the app is, without the database."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from starlette.types import Message, Receive, Scope, Send

from forewarn.settings import Settings
from forewarn.store.database import make_engine
from forewarn.web.load import LoadCounters, LoadGuard
from tests.web.conftest import TEST_SECRET, make_app


def _scope(path: str = "/page", method: str = "GET") -> Scope:
    return {"type": "http", "method": method, "path": path, "headers": [], "query_string": b""}


class Blocked:
    """An app whose requests wait until released; counts how many started and finished."""

    def __init__(self) -> None:
        self.release = anyio.Event()
        self.started = 0
        self.finished = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.started += 1
        await self.release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"page"})
        self.finished += 1


class Client:
    """One request through the guard; ``leave()`` disconnects it."""

    def __init__(self, guard: LoadGuard, scope: Scope) -> None:
        self.guard, self.scope = guard, scope
        self.messages: list[Message] = []
        self.gone = anyio.Event()
        self.done = anyio.Event()
        self._sent_body = False

    async def receive(self) -> Message:
        if not self._sent_body:
            self._sent_body = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await self.gone.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        self.messages.append(message)

    async def run(self) -> None:
        await self.guard(self.scope, self.receive, self.send)
        self.done.set()

    @property
    def status(self) -> int | None:
        return next((int(m["status"]) for m in self.messages if m["type"] == "http.response.start"), None)

    def header(self, name: bytes) -> bytes | None:
        start = next(m for m in self.messages if m["type"] == "http.response.start")
        return dict(start["headers"]).get(name)


def _guard(app: Blocked, *, max_in_flight: int = 2, timeout: float = 30) -> LoadGuard:
    return LoadGuard(app, counters=LoadCounters(max_in_flight=max_in_flight, timeout=timeout, retry_after=7))


def test_requests_beyond_the_limit_are_refused_with_retry_after_and_health_still_answers() -> None:
    async def scenario() -> None:
        app = Blocked()
        guard = _guard(app)
        clients = [Client(guard, _scope()) for _ in range(3)]
        async with anyio.create_task_group() as tasks:
            for c in clients[:2]:
                tasks.start_soon(c.run)
            await anyio.wait_all_tasks_blocked()
            with anyio.fail_after(1):
                await clients[2].run()
            assert clients[2].status == 503 and clients[2].header(b"retry-after") == b"7"
            health = Client(guard, _scope("/healthz"))
            with anyio.fail_after(1):
                await health.run()
            assert health.status == 200
            assert b'"in_flight": 2' in health.messages[1]["body"]
            app.release.set()
        assert [c.status for c in clients[:2]] == [200, 200]
        assert guard.c.in_flight == 0 and guard.c.shed == 1

    anyio.run(scenario)


def test_a_request_that_waits_too_long_gets_503() -> None:
    async def scenario() -> None:
        app = Blocked()
        client = Client(_guard(app, timeout=0.2), _scope())
        with anyio.fail_after(5):
            await client.run()
        assert client.status == 503 and client.header(b"retry-after") == b"7"
        assert app.finished == 0

    anyio.run(scenario)


def test_the_work_of_a_client_that_has_gone_is_cancelled() -> None:
    async def scenario() -> None:
        app = Blocked()
        guard = _guard(app)
        client = Client(guard, _scope())
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(client.run)
            await anyio.wait_all_tasks_blocked()
            assert app.started == 1 and guard.c.in_flight == 1
            client.gone.set()
            with anyio.fail_after(1):
                await client.done.wait()
        app.release.set()
        assert app.finished == 0 and client.status is None
        assert guard.c.in_flight == 0 and guard.c.abandoned == 1

    anyio.run(scenario)


def test_healthz_answers_without_the_database(tmp_path: Path) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, environment="test", data_dir=tmp_path, secret_key=TEST_SECRET
    )
    broken = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none")  # nothing listens on port 1
    response = TestClient(make_app(settings, broken, tmp_path)).get("/healthz")
    assert response.status_code == 200
    assert response.json()["status"] == "ok" and response.json()["max_in_flight"] == settings.max_inflight


def test_the_limit_comes_from_the_settings(web_settings: Settings, engine: Engine, tmp_path: Path) -> None:
    settings = web_settings.model_copy(update={"max_inflight": 3, "retry_after_seconds": 9})
    app = make_app(settings, engine, tmp_path)
    assert TestClient(app).get("/healthz").json()["max_in_flight"] == 3
    assert app.state.load.retry_after == 9


def test_production_refuses_insecure_cookies() -> None:
    with pytest.raises(ValueError, match="SECURE_COOKIES"):
        Settings(  # type: ignore[call-arg]
            _env_file=None, environment="production", secret_key=TEST_SECRET, secure_cookies=False
        )


def test_production_responses_carry_hsts_and_host_prefixed_secure_cookies(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        environment="production",
        data_dir=tmp_path,
        database_url=database_url,
        secret_key=TEST_SECRET,
    )
    from forewarn.web.app import create_app
    from forewarn.web.config import WebOptions

    options = WebOptions.from_settings(settings)
    assert options.secure_cookies
    client = TestClient(create_app(settings, engine=engine, options=options), base_url="https://testserver")
    page = client.get("/sign-in")
    assert page.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
    cookie = page.headers["set-cookie"]
    assert cookie.startswith("__Host-forewarn_presession=") and "Secure" in cookie and "Path=/" in cookie
    assert client.get("/healthz").headers["strict-transport-security"].startswith("max-age=")


def test_no_hsts_over_plain_http_in_development(
    web_settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    client = TestClient(make_app(web_settings, engine, tmp_path))
    assert "strict-transport-security" not in client.get("/sign-in").headers
