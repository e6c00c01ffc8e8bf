"""Small helpers the routes share."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import RedirectResponse

from forewarn.web.state import WebState


def safe_next(target: str | None, default: str = "/portfolio") -> str:
    """Only a path on this site may follow sign-in (an open redirect would help phishing)."""
    if not target:
        return default
    parts = urlsplit(target)
    if (
        parts.scheme
        or parts.netloc
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
    ):
        return default
    return target


def is_htmx(request: Request, target: str | None = None) -> bool:
    if request.headers.get("hx-request") != "true":
        return False
    return target is None or request.headers.get("hx-target") == target


def signed_in_redirect(state: WebState, target: str, session_token: str) -> RedirectResponse:
    """Go to ``target`` with a new session's cookie (HttpOnly, SameSite=Lax, Secure in production), and without
    a second-step cookie left over from signing in."""
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        state.cookies.session,
        session_token,
        httponly=True,
        samesite="lax",
        secure=state.options.secure_cookies,
        path="/",
    )
    response.delete_cookie(
        state.cookies.second_step, path="/", secure=state.options.secure_cookies, httponly=True
    )
    return response
