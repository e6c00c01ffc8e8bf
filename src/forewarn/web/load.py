"""Back-pressure at the edge of the app (issue 16): a bound on requests in flight, a time limit on each, work
dropped for clients that have gone, and a health check that answers however busy the app is.

:class:`LoadGuard` is the outermost ASGI middleware:

* ``GET /healthz`` is answered here, before the routes, their dependencies (which read the session in the thread
  pool) and the database: a load balancer learns that the process is alive within milliseconds even while every
  worker thread is busy.
* At most ``max_in_flight`` other requests are admitted at once; one more is refused at once with ``503`` and
  ``Retry-After`` rather than queued. Without this, 200 clients filled an unbounded queue in front of the thread
  pool, clients gave up, and the server went on building their pages for minutes.
* A request still unanswered after ``timeout`` seconds gets ``503`` with ``Retry-After``. A page being built in a
  worker thread cannot be interrupted (Python threads cannot be cancelled): the time limit ends the wait of a
  request queued for a thread, which is where the time goes under load.
* A ``GET`` or ``HEAD`` whose client disconnects is cancelled: if it was waiting for a thread it never runs.
  Requests with a body are not watched, because their handlers read the body from the same channel.
"""

from __future__ import annotations

import json
import logging
import math

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEALTH_PATH = "/healthz"
WATCHED_METHODS = frozenset({"GET", "HEAD"})

logger = logging.getLogger("forewarn.web.load")


class LoadCounters:
    """The guard's limits and what it has seen since start (shared with the health route and tests)."""

    def __init__(self, *, max_in_flight: int, timeout: float, retry_after: int) -> None:
        if max_in_flight < 1 or timeout <= 0 or retry_after < 1:
            raise ValueError("max_in_flight, timeout and retry_after must be positive")
        self.max_in_flight = max_in_flight
        self.timeout = timeout
        self.retry_after = retry_after
        self.in_flight = 0
        self.shed = 0  # refused at once: too many in flight
        self.timed_out = 0
        self.abandoned = 0  # cancelled: the client went

    def health(self) -> dict[str, object]:
        return {
            "status": "ok",
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "shed": self.shed,
            "timed_out": self.timed_out,
        }


class LoadGuard:
    """Admit at most ``max_in_flight`` requests, each for at most ``timeout`` seconds (see the module)."""

    def __init__(self, app: ASGIApp, *, counters: LoadCounters) -> None:
        self.app = app
        self.c = counters

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == HEALTH_PATH and scope["method"] in WATCHED_METHODS:
            await _send_bytes(send, 200, json.dumps(self.c.health()).encode(), "application/json", {})
            return
        if self.c.in_flight >= self.c.max_in_flight:
            self.c.shed += 1
            await self._busy(send, "too many requests in progress")
            return
        self.c.in_flight += 1
        try:
            await self._run(scope, receive, send)
        finally:
            self.c.in_flight -= 1

    async def _run(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def send_tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        watch = scope["method"] in WATCHED_METHODS
        app_receive = receive
        first: Message | None = None
        if watch:
            first = await receive()  # the (empty) body of a GET; the next message is the disconnect
            if first["type"] == "http.disconnect":
                self.c.abandoned += 1
                return
            app_receive = _replaying(first, receive)

        with anyio.move_on_after(self.c.timeout) as deadline:
            async with anyio.create_task_group() as tasks:
                if watch:
                    tasks.start_soon(self._cancel_on_disconnect, receive, tasks.cancel_scope)
                await self.app(scope, app_receive, send_tracking)
                tasks.cancel_scope.cancel()  # the response is complete: stop watching
        if deadline.cancelled_caught and not started:
            self.c.timed_out += 1
            logger.warning("%s %s took longer than %gs", scope["method"], scope["path"], self.c.timeout)
            await self._busy(send, "the request took too long")

    async def _cancel_on_disconnect(self, receive: Receive, scope: anyio.CancelScope) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                self.c.abandoned += 1
                scope.cancel()
                return

    async def _busy(self, send: Send, why: str) -> None:
        body = f"Forewarn is busy ({why}). Try again in {self.c.retry_after} seconds.\n".encode()
        await _send_bytes(
            send, 503, body, "text/plain; charset=utf-8", {"retry-after": str(math.ceil(self.c.retry_after))}
        )


def _replaying(first: Message, receive: Receive) -> Receive:
    """``receive`` for the app: the message already read, then (should the app ask again) a wait that ends only
    when the guard's watcher has seen the client go and cancelled the request."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if not given:
            given = True
            return first
        await anyio.sleep_forever()
        raise AssertionError("unreachable")  # pragma: no cover

    return replay


async def _send_bytes(send: Send, status: int, body: bytes, content_type: str, extra: dict[str, str]) -> None:
    headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
    headers += [(k.encode(), v.encode()) for k, v in extra.items()]
    headers.append((b"cache-control", b"no-store"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
