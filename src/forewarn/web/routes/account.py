"""Your account: details, password, API tokens."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import Connection
from starlette.concurrency import run_in_threadpool

from forewarn.access.policy import ROLE_PERMISSIONS, Permission, allowed
from forewarn.access.principal import Principal, utc_now
from forewarn.accounts.sessions import end_session, start_session
from forewarn.accounts.signin import SignInOutcome, check_credentials, record_check
from forewarn.accounts.tokens import issue_token, list_tokens, revoke_token
from forewarn.accounts.users import AccountError, get_user, set_password
from forewarn.store.database import writes_on
from forewarn.web.deps import AppState, CurrentUser, ReadConnection, WriteConnection, client_ip, record
from forewarn.web.errors import ForbiddenError, NotFoundError
from forewarn.web.forms import PasswordChangeForm, PasswordConfirmForm, TokenForm
from forewarn.web.rendering import render
from forewarn.web.routes.helpers import safe_next, signed_in_redirect
from forewarn.web.schemas import AccountOut, Me, TokenCreate, TokenIssued, TokenOut
from forewarn.web.state import WebState

router = APIRouter()


def me(principal: Principal) -> Me:
    return Me(
        user_id=principal.user_id,
        email=principal.email,
        display_name=principal.display_name,
        role=principal.role.value,
        organisation_id=principal.organisation_id,
        permissions=sorted(p.value for p in ROLE_PERMISSIONS[principal.role]),
    )


def _account(conn: Connection, principal: Principal) -> AccountOut:
    user = get_user(conn, principal.user_id)
    tokens = list_tokens(conn, principal.user_id)
    return AccountOut(
        me=me(principal),
        organisation_name=user.organisation_name if user else None,
        tokens=[
            TokenOut(
                id=t.id,
                name=t.name,
                prefix=t.prefix,
                owner=t.user_email,
                created_at=t.created_at,
                last_used_at=t.last_used_at,
                expires_at=t.expires_at,
                revoked_at=t.revoked_at,
                active=t.active,
            )
            for t in tokens
        ],
    )


def _issue(conn: Connection, request: Request, principal: Principal, body: TokenCreate) -> TokenIssued:
    if not allowed(principal, Permission.USE_API_TOKENS):
        raise ForbiddenError("Your account cannot have API tokens.")
    expires = utc_now() + dt.timedelta(days=body.expires_in_days) if body.expires_in_days else None
    issued = issue_token(conn, principal.user_id, body.name, expires_at=expires)
    record(conn, request, principal, "create", "api_token", issued.id, detail={"name": body.name})
    return TokenIssued(id=issued.id, name=body.name, token=issued.token)


def _revoke(conn: Connection, request: Request, principal: Principal, token_id: int) -> None:
    done = revoke_token(
        conn,
        token_id,
        owner_id=None if allowed(principal, Permission.MANAGE_USERS) else principal.user_id,
    )
    if not done:
        raise NotFoundError("There is no active token with this number among yours.")
    record(conn, request, principal, "revoke", "api_token", token_id)


@router.get("/account", include_in_schema=False)
def account_page(request: Request, principal: CurrentUser, conn: ReadConnection) -> Response:
    return render(
        request, "account.html", {"title": "Your account", "view": _account(conn, principal), "values": {}}
    )


@router.post("/account/tokens", include_in_schema=False)
def create_token_form(
    request: Request, principal: CurrentUser, form: Annotated[TokenForm, Form()], conn: WriteConnection
) -> Response:
    name = form.name
    view = _account(conn, principal)
    if not name:
        return render(
            request,
            "account.html",
            {
                "title": "Your account",
                "view": view,
                "errors": {"name": "Enter what the token is for"},
                "values": {},
            },
            status_code=400,
        )
    issued = _issue(conn, request, principal, TokenCreate(name=name[:200], expires_in_days=90))
    return render(
        request,
        "account.html",
        {"title": "Your account", "view": _account(conn, principal), "issued": issued, "values": {}},
    )


@router.post("/account/tokens/{token_id}/revoke", include_in_schema=False)
def revoke_token_form(
    request: Request, principal: CurrentUser, token_id: int, conn: WriteConnection
) -> Response:
    _revoke(conn, request, principal, token_id)
    return RedirectResponse("/account?notice=token-revoked", status_code=303)


@router.post("/account/password", include_in_schema=False)
def change_password_form(
    request: Request,
    state: AppState,
    principal: CurrentUser,
    form: Annotated[PasswordChangeForm, Form()],
    conn: ReadConnection,
) -> Response:
    current, new = form.current_password, form.new_password
    errors: dict[str, str] = {}
    if not current:
        errors["current_password"] = "Enter your current password"
    if not new:
        errors["new_password"] = "Enter a new password"
    if not errors:
        # The slow check before the writing transaction, outside the write lock, as at sign-in.
        checked = check_credentials(
            conn,
            state.passwords,
            principal.email,
            current,
            ip=client_ip(request),
            policy=state.options.throttle,
        )
        with writes_on(conn):  # the attempt is recorded whatever the outcome
            check = record_check(conn, checked)
            if check.outcome is not SignInOutcome.OK:
                errors["current_password"] = "Your current password is not correct"
            else:
                try:
                    set_password(conn, state.passwords, principal.user_id, new)
                except AccountError as exc:
                    errors["new_password"] = exc.problems.get("password", str(exc))
            if not errors:
                record(conn, request, principal, "update", "password", principal.user_id)
        if not errors:
            return RedirectResponse("/sign-in?notice=password-changed", status_code=303)
    return render(
        request,
        "account.html",
        {"title": "Your account", "view": _account(conn, principal), "errors": errors, "values": {}},
        status_code=400,
    )


# -- confirming the password again (role and peer-access changes need it recently entered) -------------------


def _confirm_page(
    request: Request, state: WebState, target: str, errors: dict[str, str], status: int
) -> Response:
    return render(
        request,
        "confirm_password.html",
        {
            "title": "Confirm your password",
            "next": target,
            "errors": errors,
            "minutes": int(state.options.reauth.total_seconds() // 60),
        },
        status_code=status,
    )


@router.get("/account/confirm-password", include_in_schema=False)
def confirm_password_page(
    request: Request, state: AppState, principal: CurrentUser, next: str | None = None
) -> Response:
    return _confirm_page(request, state, safe_next(next, "/account"), {}, 200)


def _confirm(
    state: WebState,
    request: Request,
    principal: Principal,
    password: str,
    conn: Connection,
) -> tuple[bool, str | None]:
    """Check the password as a sign-in does (throttled, recorded); on success replace the session by a new one
    signed in now (a fresh token: the old cookie stops working)."""
    if not principal.session_id:
        raise ForbiddenError("Confirming your password needs a browser session.")
    ip = client_ip(request)
    # The slow check before the writing transaction, outside the write lock, as at sign-in.
    check = check_credentials(
        conn, state.passwords, principal.email, password, ip=ip, policy=state.options.throttle
    )
    token = None
    with writes_on(conn):
        result = record_check(conn, check)
        if result.outcome is SignInOutcome.OK and result.user_id == principal.user_id:
            end_session(conn, principal.session_id)
            token = start_session(
                conn,
                principal.user_id,
                ip=ip,
                user_agent=request.headers.get("user-agent"),
                policy=state.options.session,
            ).token
        record(conn, request, principal, "reauthenticate" if token else "reauthenticate_failed", "session")
    return token is not None, token


@router.post("/account/confirm-password", include_in_schema=False)
async def confirm_password(
    request: Request,
    state: AppState,
    principal: CurrentUser,
    form: Annotated[PasswordConfirmForm, Form()],
    conn: ReadConnection,
) -> Response:
    target = safe_next(form.next, "/account")
    password = form.password
    if not password:
        return _confirm_page(request, state, target, {"password": "Enter your password"}, 400)
    ok, token = await run_in_threadpool(_confirm, state, request, principal, password, conn)
    if not ok or token is None:
        return _confirm_page(request, state, target, {"password": "Your password is not correct"}, 400)
    return signed_in_redirect(state, target, token)


@router.get("/api/v1/account", response_model=AccountOut, tags=["account"])
def account_api(principal: CurrentUser, conn: ReadConnection) -> AccountOut:
    """Who you are, what your role allows, and your API tokens (never their values)."""
    return _account(conn, principal)


@router.post("/api/v1/account/tokens", response_model=TokenIssued, status_code=201, tags=["account"])
def create_token_api(
    request: Request, principal: CurrentUser, body: TokenCreate, conn: WriteConnection
) -> TokenIssued:
    """Issue an API token acting with your role. The token is in this answer only."""
    return _issue(conn, request, principal, body)


@router.post("/api/v1/account/tokens/{token_id}/revoke", status_code=204, tags=["account"])
def revoke_token_api(
    request: Request, principal: CurrentUser, token_id: int, conn: WriteConnection
) -> Response:
    """Revoke one of your tokens (an administrator may revoke anyone's)."""
    _revoke(conn, request, principal, token_id)
    return Response(status_code=204)
