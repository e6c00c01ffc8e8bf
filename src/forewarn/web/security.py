"""Edges of the app that protect it: CSRF checks, cookies, and security headers on every response.

CSRF (cross-site request forgery) has two independent checks on every state-changing request that a browser's
cookies could authenticate:

1. Fetch metadata: a browser that sends ``Sec-Fetch-Site`` must say ``same-origin``; one that sends only
   ``Origin`` must name this site. Cross-site form posts and scripted requests are refused before any work.
2. A token, in the ``csrf_token`` form field or the ``X-CSRF-Token`` header (htmx sends it from the
   ``hx-headers`` attribute on ``<body>``): the session's own token once signed in; before that, an HMAC of
   a random pre-session cookie, so the sign-in form itself cannot be forged.

Requests with ``Authorization: Bearer`` carry no ambient credentials (cookies are ignored for them) and skip
both checks.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"

# The one inline script of every page (GOV.UK Frontend's feature detection), allowed by its hash.
GOVUK_BODY_SCRIPT = (
    "document.body.className += ' js-enabled' + ('noModule' in HTMLScriptElement.prototype ? "
    "' govuk-frontend-supported' : '');"
)


def script_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        f"script-src 'self' {script_hash(GOVUK_BODY_SCRIPT)}",
        # Vega-Embed's tooltip and htmx's indicator add small <style> elements; no inline script is allowed.
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


class CookieNames:
    """``__Host-`` names bind a cookie to this exact origin over HTTPS; plain names for local HTTP."""

    def __init__(self, secure: bool) -> None:
        prefix = "__Host-" if secure else ""
        self.session = f"{prefix}forewarn_session"
        self.pre_session = f"{prefix}forewarn_presession"
        self.second_step = f"{prefix}forewarn_second_step"


SECOND_STEP_SECONDS = 300
"""How long after a correct password its code may be entered."""


def _second_step_mac(secret_key: str, payload: str) -> str:
    return hmac.new(
        secret_key.encode("utf-8"), b"second-step:" + payload.encode("utf-8"), hashlib.sha256
    ).hexdigest()


def second_step_cookie(secret_key: str, user_id: int, now: float) -> str:
    """The cookie that stands between a correct password and its code: the account and an expiry, signed with
    the app's secret key (a session starts only when the code is right)."""
    payload = f"{user_id}.{int(now) + SECOND_STEP_SECONDS}.{secrets.token_urlsafe(8)}"
    return f"{payload}.{_second_step_mac(secret_key, payload)}"


def second_step_user(secret_key: str, cookie: str | None, now: float) -> int | None:
    """The account a second-step cookie was issued for, if it is genuine and not expired."""
    if not cookie or len(cookie) > 200:
        return None
    payload, _, mac = cookie.rpartition(".")
    if not hmac.compare_digest(_second_step_mac(secret_key, payload), mac):
        return None
    user, expires, _nonce = [*payload.split("."), "", "", ""][:3]
    if not (user.isdigit() and expires.isdigit()) or int(expires) <= now:
        return None
    return int(user)


def anonymous_csrf_token(secret_key: str, pre_session: str) -> str:
    return hmac.new(
        secret_key.encode("utf-8"), b"csrf:" + pre_session.encode("utf-8"), hashlib.sha256
    ).hexdigest()


def new_pre_session() -> str:
    return secrets.token_urlsafe(24)


def fetch_metadata_problem(request: Request) -> str | None:
    """Why a state-changing request looks cross-site, or None when it does not."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return None if site == "same-origin" else f"cross-site request refused (Sec-Fetch-Site: {site})"
    origin = request.headers.get("origin")
    if origin is None:
        return None
    expected = f"{request.url.scheme}://{request.headers.get('host', request.url.netloc)}"
    if origin != expected:
        return "cross-site request refused (Origin does not match this site)"
    return None


def tokens_match(expected: str | None, given: str | None) -> bool:
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))


class SecurityHeadersMiddleware:
    """Adds the content security policy and related headers to every response, static files included."""

    def __init__(self, app: ASGIApp, hsts_seconds: int = 0) -> None:
        self.app = app
        # HSTS: browsers use HTTPS only for this host from then on (sent when cookies are secure, see app.py).
        self.hsts = f"max-age={hsts_seconds}; includeSubDomains" if hsts_seconds > 0 else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("X-Frame-Options", "DENY")
                # Survey links carry their token in the path: never send it on to anyone.
                headers.setdefault(
                    "Referrer-Policy", "no-referrer" if path.startswith("/survey/") else "same-origin"
                )
                headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
                headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
                if self.hsts:
                    headers.setdefault("Strict-Transport-Security", self.hsts)
                if not path.startswith("/static/"):
                    headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, send_with_headers)
