"""Jinja2 templates in GOV.UK Frontend style, and the one helper every HTML route renders through."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from pydantic_core import to_json

from forewarn.access.policy import Permission, allowed
from forewarn.access.principal import Principal
from forewarn.charts.display import (
    compared_text,
    event_label,
    grade_label,
    kind_label,
    measure_text,
    measure_with_unit,
    number_text,
    signal_text,
)
from forewarn.domain import higher_is_better
from forewarn.surveillance.questions import METHOD_QUESTIONS
from forewarn.web.security import GOVUK_BODY_SCRIPT, anonymous_csrf_token, new_pre_session
from forewarn.web.state import WebState

TEMPLATES_DIR = Path(__file__).parent / "templates"

NOTICES = {
    "signed-out": "You have signed out.",
    "user-created": "The account was created.",
    "user-updated": "The account was updated.",
    "password-changed": "The password was changed. Other sessions of this account were signed out.",
    "token-revoked": "The API token was revoked.",
    "grants-updated": "Peer access was updated.",
    "wave-created": "The survey wave was created as a draft.",
    "wave-opened": "The survey wave is open for answers.",
    "wave-closed": "The survey wave is closed.",
    "two-step-on": "Two-step sign-in is on: signing in now asks for a code from your authenticator app.",
    "two-step-off": "Two-step sign-in is off.",
}


def _date(value: object, fmt: str = "%-d %B %Y") -> str:
    if value is None:
        return "–"
    if isinstance(value, dt.datetime):
        return value.strftime(fmt + " %H:%M")
    if isinstance(value, dt.date):
        return value.strftime(fmt)
    if isinstance(value, str):
        try:
            return _date(dt.date.fromisoformat(value[:10]), fmt)
        except ValueError:
            return value
    return str(value)


def _month(value: object) -> str:
    return _date(value, "%B %Y")


def _humanise(value: object) -> str:
    """``special_cause_concern`` -> ``Special cause concern``; text that is already words stays as it is."""
    if value is None:
        return "–"
    text = str(value)
    if "_" not in text and " " in text:
        return text
    text = text.replace("_", " ")
    return text[:1].upper() + text[1:]


def _json_script(value: object) -> Markup:
    """JSON safe to place inside <script type="application/json">."""
    if isinstance(value, EncodedSpec):
        return value.json
    # pydantic-core's encoder (Rust) is ten times faster than json.dumps on a page of chart specs.
    text = to_json(value, fallback=str, inf_nan_mode="null").decode("utf-8")
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return Markup(text)


@dataclass(frozen=True, slots=True)
class EncodedSpec:
    """A chart spec serialised once, for pages that are cached.

    A cached spec as nested dicts is hundreds of containers the garbage collector walks on every full
    collection (with a few hundred cached pages, full collections took a third of the server's time and stalled
    every request); as one string it costs nothing. Templates use it as they use a spec: ``spec.description``
    and ``spec|json_script``.
    """

    description: str
    json: Markup

    @classmethod
    def of(cls, spec: dict[str, Any]) -> EncodedSpec:
        return cls(description=str(spec.get("description", "")), json=_json_script(spec))


def _zip_self(values: list[str]) -> list[tuple[str, str]]:
    return [(v, v) for v in values]


def _dataset_options(datasets: list[Any]) -> list[tuple[str, str]]:
    return [(d.code, d.name + (" (SIMULATED)" if d.simulated else "")) for d in datasets]


def _page_query(filters: Any) -> str:
    """The current filters as a query string ending in '&', for pagination links."""
    pairs = [(k, getattr(filters, k)) for k in ("type", "region", "dataset")]
    query = urlencode([(k, v) for k, v in pairs if v])
    if getattr(filters, "concern_only", False):
        query = (query + "&" if query else "") + "concern=true"
    return query + "&" if query else ""


def build_environment(*, auto_reload: bool = True) -> Environment:
    """Templates; ``auto_reload`` re-reads changed files (development), at the cost of a file check a render."""
    env = Environment(
        auto_reload=auto_reload,
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        number=number_text,
        measure=measure_text,
        measure_with_unit=measure_with_unit,
        compared=compared_text,
        signal_value=signal_text,
        event_label=event_label,
        grade_label=grade_label,
        kind_label=kind_label,
        date=_date,
        month=_month,
        humanise=_humanise,
        json_script=_json_script,
        zip_self=_zip_self,
        dataset_options=_dataset_options,
        better=_better,
    )
    env.globals.update(
        govuk_body_script=Markup(GOVUK_BODY_SCRIPT),
        Permission=Permission,
        page_query=_page_query,
        method_questions=METHOD_QUESTIONS,
    )
    return env


def _better(polarity: str) -> str:
    """Which way is better, in the indicator list's words."""
    higher = higher_is_better(polarity)
    return "Neither (neutral)" if higher is None else "Higher" if higher else "Lower"


def _navigation(principal: Principal | None, path: str) -> list[dict[str, object]]:
    if principal is None:
        return []
    items = [("Portfolio", "/portfolio", Permission.VIEW_PORTFOLIO), ("Watchlist", "/risk", None)]
    items.append(("Indicators", "/indicators", None))
    items.append(("Cases", "/cases", None))
    items.append(("Library", "/library", None))
    items.append(("Experiments", "/experiments", None))
    items.append(("Surveys", "/surveys", Permission.VIEW_SURVEY_RESULTS))
    items.append(("Import", "/import", Permission.IMPORT_DATA))
    items.append(("Users", "/users", Permission.MANAGE_USERS))
    items.append(("Audit log", "/audit", Permission.VIEW_AUDIT_LOG))
    items.append(("Your account", "/account", None))
    return [
        {"label": label, "href": href, "active": path == href or path.startswith(href + "/")}
        for label, href, needed in items
        if needed is None or allowed(principal, needed)
    ]


def templates_of(request: Request) -> Environment:
    """The app's template environment."""
    env: Environment = request.app.state.jinja
    return env


def render_block(env: Environment, template: str, block: str, context: dict[str, Any]) -> Markup:
    """One block of ``template`` rendered alone, from ``context``, the shared macros and the environment's
    globals and filters only: no request, account or CSRF token, so its text is the same for everyone who may see
    it and can be kept. A block that needs anything else fails (StrictUndefined) rather than keep one viewer's
    text for another."""
    macros = env.get_template("_macros.html").module
    shared = {name: getattr(macros, name) for name in dir(macros) if not name.startswith("_")}
    page = env.get_template(template)
    return Markup("".join(page.blocks[block](page.new_context({**shared, **context}))))


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> HTMLResponse:
    """Render ``template`` with the signed-in account, navigation and CSRF token, as an HTML response."""
    state: WebState = request.app.state.forewarn
    principal: Principal | None = getattr(request.state, "principal", None)
    new_cookie: str | None = None
    if principal is not None and principal.csrf_token:
        csrf = principal.csrf_token
    else:
        pre_session = request.cookies.get(state.cookies.pre_session)
        if not pre_session:
            pre_session = new_cookie = new_pre_session()
        csrf = anonymous_csrf_token(state.settings.secret_key, pre_session)
    notice = NOTICES.get(request.query_params.get("notice", ""))
    values: dict[str, Any] = {
        "request": request,
        "principal": principal,
        "csrf_token": csrf,
        "navigation": _navigation(principal, request.url.path),
        "notice": notice,
        "can": lambda permission: allowed(principal, permission),
        "errors": {},
        "values": {},
        "issued": None,
        "charts": False,
    }
    values.update(context or {})
    html = templates_of(request).get_template(template).render(values)
    response = HTMLResponse(html, status_code=status_code)
    if new_cookie is not None:
        response.set_cookie(
            state.cookies.pre_session,
            new_cookie,
            httponly=True,
            samesite="lax",
            secure=state.options.secure_cookies,
            path="/",
        )
    return response
