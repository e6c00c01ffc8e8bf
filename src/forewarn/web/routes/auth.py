"""Signing in and out."""

from __future__ import annotations

import math
import time
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from forewarn.access.principal import utc_now
from forewarn.accounts.sessions import end_session, start_session
from forewarn.accounts.signin import (
    SignInOutcome,
    SignInResult,
    check_credentials,
    record_check,
    record_code_attempt,
    throttled_for,
)
from forewarn.accounts.totp import check_code, needs_code, two_step_of
from forewarn.store.database import writes_on
from forewarn.web.deps import AppState, MaybePrincipal, ReadConnection, WriteConnection, client_ip, record
from forewarn.web.forms import CodeForm, SignInForm
from forewarn.web.rendering import render
from forewarn.web.routes.helpers import safe_next, signed_in_redirect
from forewarn.web.security import SECOND_STEP_SECONDS, second_step_cookie, second_step_user
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
        if result.outcome is SignInOutcome.OK and session is None and result.user_id is not None:
            # The password was right and the account asks for a code: no session until the code is.
            response = RedirectResponse(f"/sign-in/code?next={quote(target, safe='')}", status_code=303)
            response.set_cookie(
                state.cookies.second_step,
                second_step_cookie(state.settings.secret_key, result.user_id, time.time()),
                max_age=SECOND_STEP_SECONDS,
                httponly=True,
                samesite="lax",
                secure=state.options.secure_cookies,
                path="/",
            )
            return response
        if result.outcome is SignInOutcome.OK and session is not None:
            return signed_in_redirect(state, target, session)
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


def _start_session(state: WebState, request: Request, conn: Connection, user_id: int) -> str:
    return start_session(
        conn,
        user_id,
        ip=client_ip(request),
        user_agent=request.headers.get("user-agent"),
        policy=state.options.session,
    ).token


def _sign_in(
    state: WebState, request: Request, conn: Connection, email: str, password: str
) -> tuple[SignInResult, str | None]:
    """Check the password; start a session unless the account asks for a code too (then the session is None
    and the result OK)."""
    ip = client_ip(request)
    # Reads, then the slow password check, before the writing transaction: outside the write lock.
    check = check_credentials(conn, state.passwords, email, password, ip=ip, policy=state.options.throttle)
    with writes_on(conn):
        result = record_check(conn, check)
        token = None
        action = {"ok": "sign_in", "throttled": "sign_in_throttled"}.get(
            result.outcome.value, "sign_in_failed"
        )
        if result.outcome is SignInOutcome.OK and result.user_id is not None:
            if needs_code(conn, result.user_id):
                action = "sign_in_password_ok"
            else:
                token = _start_session(state, request, conn, result.user_id)
        record(conn, request, email.lower()[:320], action, "session", user_id=result.user_id)
    return result, token


# -- the second step: a code from the account's authenticator app (accounts.totp) -----------------------------


def _code_page(request: Request, target: str, errors: dict[str, str], status: int) -> Response:
    return render(
        request,
        "sign_in_code.html",
        {"title": "Enter your code", "next": target, "errors": errors},
        status_code=status,
    )


def _pending_user(request: Request, state: WebState) -> int | None:
    return second_step_user(
        state.settings.secret_key, request.cookies.get(state.cookies.second_step), time.time()
    )


@router.get("/sign-in/code")
def sign_in_code_page(request: Request, state: AppState, next: str | None = None) -> Response:
    if _pending_user(request, state) is None:
        return RedirectResponse("/sign-in", status_code=303)
    return _code_page(request, safe_next(next), {}, 200)


def _check_code(
    state: WebState, request: Request, conn: Connection, user_id: int, code: str
) -> tuple[str | None, int | None]:
    """The session token when the code is right; else the seconds to wait when throttled (None: wrong code).
    Wrong codes count as failed sign-ins of the account, so guessing is slowed as password guessing is."""
    found = two_step_of(conn, user_id)
    if found is None or not found.enabled:
        return None, None
    ip, now = client_ip(request), utc_now()
    wait = throttled_for(conn, found.email, ip, state.options.throttle, now)
    if wait is not None:
        return None, max(1, math.ceil(wait.total_seconds()))
    with writes_on(conn):
        ok = check_code(conn, user_id, code, now)
        record_code_attempt(conn, found.email, ip, now, ok=ok)
        token = _start_session(state, request, conn, user_id) if ok else None
        record(
            conn, request, found.email, "sign_in" if ok else "sign_in_code_failed", "session", user_id=user_id
        )
    return token, None


@router.post("/sign-in/code")
async def sign_in_code(
    request: Request, state: AppState, form: Annotated[CodeForm, Form()], conn: ReadConnection
) -> Response:
    target = safe_next(form.next)
    user_id = _pending_user(request, state)
    if user_id is None:
        return RedirectResponse("/sign-in", status_code=303)  # the five minutes ran out: the password again
    if not form.code.strip():
        return _code_page(request, target, {"code": "Enter the code from your authenticator app"}, 400)
    token, wait = await run_in_threadpool(_check_code, state, request, conn, user_id, form.code)
    if token is not None:
        return signed_in_redirect(state, target, token)
    if wait is not None:
        page = _code_page(
            request,
            target,
            {"code": f"Too many wrong codes. Wait {wait} second{'s' if wait != 1 else ''}."},
            429,
        )
        page.headers["Retry-After"] = str(wait)
        return page
    return _code_page(
        request, target, {"code": "The code is not correct, or has been used: enter the current one"}, 400
    )


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
