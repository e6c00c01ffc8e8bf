"""Two-step sign-in (a TOTP code after the password) for analysts and administrators: set up, turn on, turn off.
The code step of signing in is in :mod:`forewarn.web.routes.auth`; the rules are in :mod:`forewarn.accounts.totp`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import Connection

from forewarn.access.principal import Principal
from forewarn.accounts.totp import (
    ROLES_THAT_MAY_ENROL,
    TwoStepError,
    begin_enrolment,
    confirm_enrolment,
    provisioning_uri,
    turn_off,
    two_step_of,
)
from forewarn.web.deps import AppState, CurrentUser, ReadConnection, WriteConnection, record
from forewarn.web.errors import ForbiddenError
from forewarn.web.forms import CodeForm
from forewarn.web.rendering import render
from forewarn.web.routes.admin import PasswordConfirmationNeeded, confirm_first, require_recent_password
from forewarn.web.state import WebState

router = APIRouter(include_in_schema=False)
PAGE = "/account/two-step"


def _staff(principal: Principal) -> None:
    if principal.role not in ROLES_THAT_MAY_ENROL:
        raise ForbiddenError("Two-step sign-in is for analysts and administrators.")


def _page(
    request: Request,
    conn: Connection,
    principal: Principal,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    found = two_step_of(conn, principal.user_id)
    secret = found.secret if found is not None and found.pending else None
    view = {
        "enabled": found is not None and found.enabled,
        "secret": secret,
        "uri": provisioning_uri(secret, principal.email) if secret else None,
    }
    return render(
        request,
        "two_step.html",
        {"title": "Two-step sign-in", "view": view, "errors": errors or {}},
        status_code=status,
    )


@router.get(PAGE)
def two_step_page(request: Request, principal: CurrentUser, conn: ReadConnection) -> Response:
    _staff(principal)
    return _page(request, conn, principal)


def _recently_confirmed(state: WebState, principal: Principal) -> bool:
    try:
        require_recent_password(state, principal)
    except PasswordConfirmationNeeded:
        return False
    return True


@router.post(f"{PAGE}/start")
def start_two_step(
    request: Request, state: AppState, principal: CurrentUser, conn: WriteConnection
) -> Response:
    """A new key, shown once on the page that follows; needs the password entered recently, so a stolen session
    alone cannot put its own device on the account."""
    _staff(principal)
    if not _recently_confirmed(state, principal):
        return confirm_first(PAGE)
    try:
        begin_enrolment(conn, principal.user_id)
    except TwoStepError as exc:
        return _page(request, conn, principal, {"code": str(exc)}, 400)
    record(conn, request, principal, "start", "two_step", principal.user_id)
    return RedirectResponse(PAGE, status_code=303)


@router.post(f"{PAGE}/confirm")
def confirm_two_step(
    request: Request, principal: CurrentUser, form: Annotated[CodeForm, Form()], conn: WriteConnection
) -> Response:
    _staff(principal)
    if not form.code.strip():
        return _page(request, conn, principal, {"code": "Enter the code from your authenticator app"}, 400)
    try:
        on = confirm_enrolment(conn, principal.user_id, form.code)
    except TwoStepError as exc:
        return _page(request, conn, principal, {"code": str(exc)}, 400)
    if not on:
        return _page(
            request,
            conn,
            principal,
            {"code": "The code is not correct: enter the one your app shows now"},
            400,
        )
    record(conn, request, principal, "enable", "two_step", principal.user_id)
    return RedirectResponse(f"{PAGE}?notice=two-step-on", status_code=303)


@router.post(f"{PAGE}/off")
def turn_two_step_off(
    request: Request, state: AppState, principal: CurrentUser, conn: WriteConnection
) -> Response:
    _staff(principal)
    if not _recently_confirmed(state, principal):
        return confirm_first(PAGE)
    turn_off(conn, principal.user_id)
    record(conn, request, principal, "disable", "two_step", principal.user_id)
    return RedirectResponse(f"{PAGE}?notice=two-step-off", status_code=303)
