"""The app factory: ``create_app(settings)`` builds a fresh app; nothing is created at import time."""

from __future__ import annotations

from pathlib import Path

from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine

from forewarn.accounts.passwords import Passwords
from forewarn.settings import Settings
from forewarn.store.database import make_engine
from forewarn.web import openapi
from forewarn.web.config import WebOptions
from forewarn.web.deps import csrf_guard, parameters_the_store_can_hold
from forewarn.web.handlers import install_error_handlers
from forewarn.web.load import LoadCounters, LoadGuard
from forewarn.web.rendering import build_environment
from forewarn.web.routes import (
    account,
    admin,
    api_docs,
    auth,
    cases,
    downloads,  # issue 14: every table as CSV
    experiments,
    health,
    imports,
    indicators,
    jobs,
    library,
    organisations,
    peers,
    portfolio,
    surveys,
    two_step,
)
from forewarn.web.routes import risk as risk_routes  # issue 11: the risk watchlist
from forewarn.web.security import CookieNames, SecurityHeadersMiddleware
from forewarn.web.state import WebState

STATIC_DIR = Path(__file__).parent / "static"

API_DESCRIPTION = """Every page of Forewarn as JSON. Authenticate with `Authorization: Bearer <token>` (issue a
token on the *Your account* page), or with the browser session (then send the page's CSRF token in the
`X-CSRF-Token` header with every POST or PUT). What you see is limited by your role exactly as on the pages."""


def create_app(
    settings: Settings, *, engine: Engine | None = None, options: WebOptions | None = None
) -> FastAPI:
    """A new Forewarn web app over the store ``settings`` names (or ``engine``)."""
    options = options or WebOptions.from_settings(settings)

    app = FastAPI(
        # FastAPI's built-in OpenTelemetry spans, metrics and logs: Forewarn configures no exporter, so they would
        # only cost time on every request (a third of a cached page's server time, measured).
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
        title="Forewarn",
        version="1",
        description=API_DESCRIPTION,
        openapi_url="/api/v1/openapi.json",
        docs_url=None,  # FastAPI's pages load Swagger UI and ReDoc from a CDN: /api/docs serves our own copy
        redoc_url=None,
        dependencies=[Depends(csrf_guard), Depends(parameters_the_store_can_hold)],
        max_body_size=options.max_upload_bytes,
    )
    # Requests run in a pool of 40 threads; each holds one connection, the request's (web.deps: ReadConnection,
    # WriteConnection), and the survey pages' builders a second one beside it while they read. At most 30 a
    # process: a request holds its connection between its hops to the thread pool, so more requests than threads
    # can hold one, and two processes at 50 each went past PostgreSQL's default 100 connections under
    # bench/load_bench.py's 200 users ("too many clients": 500s). Beyond 30, a request waits for one instead.
    engine_ = engine or make_engine(settings.resolved_database_url, pool_size=20, max_overflow=10)
    app.state.forewarn = WebState(
        settings=settings,
        options=options,
        engine=engine_,
        passwords=Passwords(options.argon2),
        cookies=CookieNames(options.secure_cookies),
    )
    app.state.jinja = build_environment(auto_reload=settings.environment == "development")
    # Innermost first: the load guard answers /healthz and refuses excess requests before any other work; the
    # security headers wrap its answers too.
    app.state.load = LoadCounters(
        max_in_flight=settings.max_inflight,
        timeout=settings.request_timeout_seconds,
        retry_after=settings.retry_after_seconds,
    )
    app.add_middleware(LoadGuard, counters=app.state.load)
    app.add_middleware(
        SecurityHeadersMiddleware, hsts_seconds=settings.hsts_seconds if options.secure_cookies else 0
    )
    install_error_handlers(app)
    openapi.install(app)
    for module in (
        health,
        auth,
        portfolio,
        organisations,
        indicators,
        surveys,
        imports,
        account,
        two_step,
        admin,
        jobs,
        api_docs,
        risk_routes,
        experiments,  # issue 15
        cases,  # issue 14: case files
        downloads,  # issue 14: every table as CSV
        peers,
        library,
    ):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
