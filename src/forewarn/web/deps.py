"""Typed dependencies: the app state, who is asking, what they may see, and the CSRF guard of every route."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy import Connection, Engine
from starlette.concurrency import run_in_threadpool

from forewarn.access.policy import ALL_ORGANISATIONS, Permission, Visibility, allowed, visibility
from forewarn.access.principal import Channel, Principal
from forewarn.accounts import audit
from forewarn.accounts.sessions import SessionUpkeep, keep_up_session, look_up_session
from forewarn.accounts.tokens import resolve_token
from forewarn.store.database import write_connection
from forewarn.web.errors import CsrfError, ForbiddenError, NotFoundError, NotSignedInError
from forewarn.web.security import (
    CSRF_FIELD,
    CSRF_HEADER,
    SAFE_METHODS,
    anonymous_csrf_token,
    fetch_metadata_problem,
    tokens_match,
)
from forewarn.web.state import WebState

# Dependencies that do no I/O are coroutines: FastAPI runs a plain function in the thread pool, a hop that
# costs more than the function.


async def get_state(request: Request) -> WebState:
    state: WebState = request.app.state.forewarn
    return state


AppState = Annotated[WebState, Depends(get_state)]


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


@contextmanager
def lookup_connection(engine: Engine) -> Iterator[Connection]:
    """A connection for reads, or a lookup that may write a little (a session's last-use time), committed at
    the end.

    On PostgreSQL it runs in autocommit: one round trip per statement, no BEGIN and ROLLBACK. A page's reads see
    no less consistency than in a transaction: PostgreSQL's default isolation (read committed) takes a snapshot
    per statement either way. SQLite keeps a plain transaction (the store's SQLite engine issues its own BEGIN,
    which autocommit would leave open), and with it one snapshot for the whole page.
    """
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            yield conn
    else:
        with engine.begin() as conn:
            yield conn


read_connection = lookup_connection


def current_principal(request: Request, state: AppState) -> Principal | None:
    """The signed-in account: by bearer token when one is sent (cookies are then ignored), else by session."""
    if hasattr(request.state, "principal"):
        found: Principal | None = request.state.principal
        return found
    token = bearer_token(request)
    cookie = request.cookies.get(state.cookies.session)
    principal: Principal | None = None
    upkeep: SessionUpkeep | None = None
    if token is not None or cookie:
        with lookup_connection(state.engine) as conn:
            if token is not None:
                principal = resolve_token(conn, token)
            elif cookie:
                principal, upkeep = look_up_session(conn, cookie, policy=state.options.session)
    if upkeep is not None:  # its own short writing transaction (BEGIN IMMEDIATE on SQLite), after the reads
        with write_connection(state.engine) as conn:
            keep_up_session(conn, upkeep)
    request.state.principal = principal
    return principal


MaybePrincipal = Annotated[Principal | None, Depends(current_principal)]


def expected_csrf_token(request: Request, state: WebState, principal: Principal | None) -> str | None:
    if principal is not None and principal.csrf_token:
        return principal.csrf_token
    pre_session = request.cookies.get(state.cookies.pre_session)
    return anonymous_csrf_token(state.settings.secret_key, pre_session) if pre_session else None


async def csrf_guard(request: Request, state: AppState, principal: MaybePrincipal) -> None:
    """Refuse state-changing browser requests that are cross-site or lack the right token (see security)."""
    if request.method in SAFE_METHODS or bearer_token(request) is not None:
        return
    problem = fetch_metadata_problem(request)
    if problem is not None:
        raise CsrfError(problem)
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    if not tokens_match(expected_csrf_token(request, state, principal), given):
        raise CsrfError("The form had expired or did not come from this service")


LARGEST_ID = 2**31 - 1
"""Ids are INTEGER columns: 32-bit on PostgreSQL."""


async def parameters_the_store_can_hold(request: Request) -> None:
    """A whole number in the path beyond any id the store can hold, or a NUL character in the path, names
    nothing: 404, like an id not found. A NUL in the query is refused as invalid (422). The databases would
    refuse to compare either (server errors found by schemathesis: SQLite overflows, PostgreSQL refuses NUL)."""
    for value in request.path_params.values():
        text = value if isinstance(value, str) else ""
        digits = text.lstrip("+-")
        if "\x00" in text or (digits.isdigit() and (len(digits) > 10 or int(digits) > LARGEST_ID)):
            raise NotFoundError("There is nothing at this address.")
    for key, value in request.query_params.multi_items():
        if "\x00" in value or "\x00" in key:
            raise RequestValidationError(
                [{"loc": ("query", key), "msg": "must not contain NUL characters", "type": "value_error"}]
            )


async def require_user(principal: MaybePrincipal) -> Principal:
    if principal is None:
        raise NotSignedInError()
    return principal


CurrentUser = Annotated[Principal, Depends(require_user)]


def require(permission: Permission) -> Callable[[Principal], Awaitable[Principal]]:
    async def check(principal: CurrentUser) -> Principal:
        if not allowed(principal, permission):
            raise ForbiddenError("Your account does not give you access to this page.")
        return principal

    check.__name__ = f"require_{permission.value}"
    return check


def _member_visibility(state: WebState, principal: Principal) -> Visibility:
    with lookup_connection(state.engine) as conn:
        return visibility(conn, principal, state.pseudonym_key)


async def current_visibility(state: AppState, principal: CurrentUser) -> Visibility:
    """What this account may see: everything for analysts and administrators (no query, no thread), else its
    own organisation and the peers granted to it (read in the thread pool)."""
    if allowed(principal, Permission.VIEW_ALL_ORGANISATIONS):
        return ALL_ORGANISATIONS
    return await run_in_threadpool(_member_visibility, state, principal)


Viewer = Annotated[Visibility, Depends(current_visibility)]


def record(
    state: WebState,
    request: Request,
    who: Principal | str | None,
    action: str,
    object_type: str,
    object_id: str | int | None = None,
    *,
    organisation_id: int | None = None,
    detail: dict[str, object] | None = None,
    user_id: int | None = None,
) -> None:
    """Record one audit entry: a change at once in its own transaction; a view through the batching writer
    (views are recorded only when the options say so)."""
    if action == "view" and not state.options.audit_views:
        return
    channel: Channel = "api" if request.url.path.startswith("/api/") else "web"
    if action == "view":
        state.audit_writer.submit(
            audit.pending(
                who,
                action,
                object_type,
                object_id,
                organisation_id=organisation_id,
                channel=channel,
                ip=client_ip(request),
                detail=detail,
                user_id=user_id,
            )
        )
        return
    with write_connection(state.engine) as conn:
        audit.record(
            conn,
            who,
            action,
            object_type,
            object_id,
            organisation_id=organisation_id,
            channel=channel,
            ip=client_ip(request),
            detail=detail,
            user_id=user_id,
        )
