"""Serving the app: ``forewarn serve`` and the end of ``forewarn demo``."""

from __future__ import annotations

import sys
from collections.abc import Callable

import uvicorn
from sqlalchemy import Engine

from forewarn.accounts.demo import DemoUser, ensure_demo_users
from forewarn.accounts.passwords import Passwords
from forewarn.settings import Settings, get_settings
from forewarn.store import migrate
from forewarn.store.database import make_engine
from forewarn.web.app import create_app
from forewarn.web.config import WebOptions

HEALTHCHECK_SECONDS = 30


def _app_from_environment() -> object:
    """Factory for uvicorn worker processes: each builds its own app from the environment's settings."""
    return create_app(get_settings())


def serve(settings: Settings, *, host: str | None = None, port: int | None = None, workers: int = 1) -> None:
    """Migrate the store and serve the app until interrupted (Ctrl+C)."""
    engine = make_engine(settings.resolved_database_url)
    migrate.upgrade(engine)
    engine.dispose()
    options = {
        "host": host or settings.host,
        "port": port or settings.port,
        "log_level": settings.log_level.lower(),
        # Behind a reverse proxy, trust X-Forwarded-For/-Proto from its addresses only (FOREWARN_FORWARDED_ALLOW_IPS).
        "proxy_headers": settings.forwarded_allow_ips is not None,
        "forwarded_allow_ips": settings.forwarded_allow_ips,
        "server_header": False,
        # A worker that does not answer uvicorn's health ping in time is killed and replaced, with its kept reads
        # lost. The default of 5 s was missed on a loaded machine by a worker building the portfolio's ranking
        # (0.5-1 s of CPU), and every request it was answering failed (docs/web.md, "The watchlist, continued").
        "timeout_worker_healthcheck": HEALTHCHECK_SECONDS,
    }
    if workers > 1:
        uvicorn.run("forewarn.web.server:_app_from_environment", factory=True, workers=workers, **options)  # type: ignore[arg-type]
    else:
        uvicorn.run(create_app(settings), **options)  # type: ignore[arg-type]


def create_demo_users(engine: Engine, settings: Settings) -> list[DemoUser]:
    """The demo accounts (idempotent); refused in production."""
    passwords = Passwords(WebOptions.from_settings(settings).argon2)
    with engine.begin() as conn:
        return ensure_demo_users(conn, passwords, settings.environment)


def sign_in_instructions(users: list[DemoUser], url: str, *, serving: bool = True) -> str:
    lines = [
        f"Forewarn is at {url}  (Ctrl+C stops it). Sign in as:"
        if serving
        else f"Serve the web app with `forewarn serve` ({url}), then sign in as:"
    ]
    width = max(len(u.email) for u in users) if users else 0
    for u in users:
        where = f", {u.organisation_name} (and anonymised peers)" if u.organisation_name else ""
        lines.append(f"  {u.role.value:<8} {u.email:<{width}}  password: {u.password}{where}")
    lines.append("Demo passwords are published: never use them outside a demonstration.")
    return "\n".join(lines)


def serve_demo(settings: Settings, engine: Engine, echo: Callable[[str], None] | None = None) -> None:
    """End of ``forewarn demo``: create the demo accounts, say how to sign in as each, and serve."""
    users = create_demo_users(engine, settings)
    (echo or (lambda text: print(text, file=sys.stderr, flush=True)))(
        sign_in_instructions(users, f"http://{settings.host}:{settings.port}")
    )
    serve(settings)
