"""Signing in and out."""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from forewarn.accounts.sessions import end_session, start_session
from forewarn.accounts.signin import SignInOutcome, SignInResult, check_credentials, record_check
from forewarn.store.database import writes_on
from forewarn.web.deps import AppState, MaybePrincipal, ReadConnection, WriteConnection, client_ip, record
from forewarn.web.forms import SignInForm
from forewarn.web.rendering import render
from forewarn.web.routes.helpers import safe_next
from forewarn.web.state import WebState

router = APIRouter(include_in_schema=False)


@router.get("/sign-in")
def sign_in_page(request: Request, principal: MaybePrincipal, next: str | None = None) -> Response:
    if principal is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return render(request, "sign_in.html", {"title": "Sign in", "next": safe_next(next), "values": {}})


@router.post("/sign-in")
async def sign_in(
    request: Request,
    state: AppState,
    form: Annotated[SignInForm, Form()],
    conn: ReadConnection,
) -> Response:
    email, password = form.email, form.password
    target = safe_next(form.next)
    errors: dict[str, str] = {}
    if not email:
        errors["email"] = "Enter your email address"
    if not password:
        errors["password"] = "Enter your password"
    status = 400
    if not errors:
        result, session = await run_in_threadpool(_sign_in, state, request, conn, email, password)
        if result.outcome is SignInOutcome.OK and session is not None:
            response = RedirectResponse(target, status_code=303)
            response.set_cookie(
                state.cookies.session,
                session,
                httponly=True,
                samesite="lax",
                secure=state.options.secure_cookies,
                path="/",
            )
            return response
        if result.outcome is SignInOutcome.THROTTLED:
            seconds = math.ceil(result.retry_after.total_seconds()) if result.retry_after else 1
            wait = f"{seconds} second{'s' if seconds != 1 else ''}"
            errors["email"] = f"Too many failed attempts to sign in. Wait {wait} and try again."
            status = 429
            page = render(
                request,
                "sign_in.html",
                {"title": "Sign in", "next": target, "errors": errors, "values": {"email": email}},
                status_code=status,
            )
            page.headers["Retry-After"] = str(seconds)
            return page
        else:
            errors["email"] = "Enter a correct email address and password"
    return render(
        request,
        "sign_in.html",
        {"title": "Sign in", "next": target, "errors": errors, "values": {"email": email}},
        status_code=status,
    )


def _sign_in(
    state: WebState, request: Request, conn: Connection, email: str, password: str
) -> tuple[SignInResult, str | None]:
    ip = client_ip(request)
    # Reads, then the slow password check, before the writing transaction: outside the write lock.
    check = check_credentials(conn, state.passwords, email, password, ip=ip, policy=state.options.throttle)
    with writes_on(conn):
        result = record_check(conn, check)
        token = None
        if result.outcome is SignInOutcome.OK and result.user_id is not None:
            session = start_session(
                conn,
                result.user_id,
                ip=ip,
                user_agent=request.headers.get("user-agent"),
                policy=state.options.session,
            )
            token = session.token
        action = {"ok": "sign_in", "throttled": "sign_in_throttled"}.get(
            result.outcome.value, "sign_in_failed"
        )
        record(conn, request, email.lower()[:320], action, "session", user_id=result.user_id)
    return result, token


@router.post("/sign-out")
def sign_out(request: Request, state: AppState, principal: MaybePrincipal, conn: WriteConnection) -> Response:
    if principal is not None and principal.session_id:
        end_session(conn, principal.session_id)
        record(conn, request, principal, "sign_out", "session")
    response = RedirectResponse("/sign-in?notice=signed-out", status_code=303)
    # Charts and pages the browser may still hold from the session (W3C Clear Site Data).
    response.headers["Clear-Site-Data"] = '"cache"'
    response.delete_cookie(
        state.cookies.session, path="/", secure=state.options.secure_cookies, httponly=True
    )
    return response
