"""Small helpers the routes share."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import Request


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
