"""Small helpers the routes share."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from fastapi import Request

from forewarn.web.errors import NotFoundError


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


def form_text(form: Mapping[str, object], name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def positive_id(value: int) -> int:
    if value < 1:
        raise NotFoundError()
    return value
