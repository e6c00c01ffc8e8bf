"""Typed dependencies: the app state, the request's connections (one for reads, one for writes), who is asking,
what they may see, the CSRF guard of every route, and the audit entries routes record."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from forewarn.access.policy import ALL_ORGANISATIONS, Permission, Visibility, allowed, visibility
from forewarn.access.principal import Channel, Principal
from forewarn.accounts import audit
from forewarn.accounts.sessions import SessionUpkeep, keep_up_session, look_up_session
from forewarn.accounts.tokens import TokenUse, look_up_token, record_token_use
from forewarn.library.activity import log_activity
from forewarn.store.database import read_connection, writes_on
from forewarn.store.models_web import Role
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


BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="APIToken",
    description="An API token from your account page (/account), sent as `Authorization: Bearer <token>`. "
    "Without one, a browser session's cookie is used.",
)


async def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header, or None. Read with FastAPI's HTTPBearer, called rather
    than declared here: the CSRF guard of every route reads it, and only routes that need an account should be
    described as taking a token (:func:`require_user` declares the scheme)."""
    credentials = await BEARER(request)
    return credentials.credentials if credentials is not None else None


BearerToken = Annotated[str | None, Depends(bearer_token)]


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def request_read_connection(state: AppState) -> Iterator[Connection]:
    """The request's connection for reads (see :func:`forewarn.store.database.read_connection`), shared by every
    dependency and the route, released when the route returns."""
    with read_connection(state.engine) as conn:
        yield conn


# scope="function": the exit (commit, release) runs when the route returns, before the answer is sent, so a
# failed commit is a failed request and the next request sees the change.
ReadConnection = Annotated[Connection, Depends(request_read_connection, scope="function")]


def request_write_transaction(conn: ReadConnection) -> Iterator[Connection]:
    """The request's connection as a writing transaction: committed when the route returns, rolled back when it
    raises (see :func:`forewarn.store.database.writes_on`: the lock is taken at the first statement, reads
    included). The audit entry of a change is written here, with the change. A route that must read slowly
    before writing (a password check) takes the read connection and writes in ``writes_on(conn)``."""
    with writes_on(conn) as writing:
        yield writing


WriteConnection = Annotated[Connection, Depends(request_write_transaction, scope="function")]


def current_principal(
    request: Request, state: AppState, token: BearerToken, conn: ReadConnection
) -> Principal | None:
    """The signed-in account: by bearer token when one is sent (cookies are then ignored), else by session."""
    if hasattr(request.state, "principal"):
        found: Principal | None = request.state.principal
        return found
    cookie = request.cookies.get(state.cookies.session)
    principal: Principal | None = None
    upkeep: SessionUpkeep | None = None
    use: TokenUse | None = None
    if token is not None:
        principal, use = look_up_token(conn, token)
    elif cookie:
        principal, upkeep = look_up_session(conn, cookie, policy=state.options.session)
    # Writes the lookup calls for, in a short writing transaction (BEGIN IMMEDIATE on SQLite) after the reads,
    # so the lock is held only for them; the route's reads then see them.
    if upkeep is not None or use is not None:
        with writes_on(conn):
            if upkeep is not None:
                keep_up_session(conn, upkeep)
            if use is not None:
                record_token_use(conn, use)
    request.state.principal = principal
    if principal is not None and not allowed(principal, Permission.VIEW_ALL_ORGANISATIONS):
        # A member's organisation and peers, read here, in the thread this lookup already runs in, rather than
        # in a thread of its own later: under load each hop to the thread pool queues (bench/web_bench.py).
        request.state.visibility = visibility(conn, principal, state.pseudonym_key)
    return principal


MaybePrincipal = Annotated[Principal | None, Depends(current_principal)]


def expected_csrf_token(request: Request, state: WebState, principal: Principal | None) -> str | None:
    if principal is not None and principal.csrf_token:
        return principal.csrf_token
    pre_session = request.cookies.get(state.cookies.pre_session)
    return anonymous_csrf_token(state.settings.secret_key, pre_session) if pre_session else None


async def csrf_guard(
    request: Request, state: AppState, principal: MaybePrincipal, token: BearerToken
) -> None:
    """Refuse state-changing browser requests that are cross-site or lack the right token (see security)."""
    if request.method in SAFE_METHODS or token is not None:
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


async def require_user(
    principal: MaybePrincipal,
    _token: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)],
) -> Principal:
    """The signed-in account, else 401 (API) or the sign-in page. ``_token`` is declared (its value is read by
    :func:`current_principal`) so the OpenAPI description marks the operations that need an account as taking
    an API token, and Swagger UI offers *Authorize* for them."""
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


async def current_visibility(
    request: Request, state: AppState, principal: CurrentUser, conn: ReadConnection
) -> Visibility:
    """What this account may see: everything for analysts and administrators (no query, no thread), else its
    own organisation and the peers granted to it (read with the account, by :func:`current_principal`)."""
    if allowed(principal, Permission.VIEW_ALL_ORGANISATIONS):
        return ALL_ORGANISATIONS
    found: Visibility | None = getattr(request.state, "visibility", None)
    if found is not None:
        return found
    return await run_in_threadpool(visibility, conn, principal, state.pseudonym_key)


Viewer = Annotated[Visibility, Depends(current_visibility)]


def _channel(request: Request) -> Channel:
    return "api" if request.url.path.startswith("/api/") else "web"


def record(
    conn: Connection,
    request: Request,
    who: Principal | str | None,
    action: str,
    object_type: str,
    object_id: str | int | None = None,
    *,
    organisation_id: int | None = None,
    detail: dict[str, object] | None = None,
    user_id: int | None = None,
    with_address: bool = True,
) -> None:
    """Record the audit entry of a change in the change's own transaction ``conn``: both are written, or
    neither. ``with_address=False`` leaves out the client's address (anonymous survey answers)."""
    audit.record(
        conn,
        who,
        action,
        object_type,
        object_id,
        organisation_id=organisation_id,
        channel=_channel(request),
        ip=client_ip(request) if with_address else None,
        detail=detail,
        user_id=user_id,
    )


def record_view(
    state: WebState,
    conn: Connection,
    request: Request,
    who: Principal | str | None,
    object_type: str,
    object_id: str | int | None = None,
    *,
    organisation_id: int | None = None,
    detail: dict[str, object] | None = None,
) -> None:
    """Record that ``who`` viewed something and commit it, on the request's read connection ``conn`` (views are
    recorded only when the options say so). Not a durable commit: a server crash may lose the last fraction of a
    second of views (see :func:`forewarn.accounts.audit.record_not_durable`), never a change's record."""
    if not state.options.audit_views:
        return
    audit.record_not_durable(
        conn,
        who,
        "view",
        object_type,
        object_id,
        organisation_id=organisation_id,
        channel=_channel(request),
        ip=client_ip(request),
        detail=detail,
    )


def record_learning(conn: Connection, principal: Principal, kind: str) -> None:
    """Log a member's act of learning from others (:mod:`forewarn.library.activity`: a search, a note read, a
    neighbours page) for their organisation, in a short writing transaction on the request's read connection, as
    :func:`record_view`. Analysts and administrators act for no organisation: nothing is logged."""
    if principal.role != Role.MEMBER or principal.organisation_id is None:
        return
    with writes_on(conn, durable=False):
        log_activity(conn, principal.organisation_id, principal.user_id, kind)
