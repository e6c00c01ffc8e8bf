"""The portfolio page and its JSON."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Connection

from forewarn.access.policy import Permission, Visibility, allowed
from forewarn.access.principal import Principal
from forewarn.views.follow_up import portfolio_with_follow_up
from forewarn.views.portfolio import PortfolioFilters, PortfolioOut, portfolio
from forewarn.views.soft import with_soft_status
from forewarn.web.deps import AppState, ReadConnection, Viewer, record_view, require
from forewarn.web.pages.cached import (
    kept_closed_results,
    kept_follow_up_flags,
    kept_latest_scan,
    kept_portfolio,
    kept_ranking,
)
from forewarn.web.rendering import render, render_block, templates_of
from forewarn.web.routes.helpers import is_htmx
from forewarn.web.state import WebState

router = APIRouter()
PortfolioViewer = Annotated[Principal, Depends(require(Permission.VIEW_PORTFOLIO))]


def _filters(
    type: Annotated[str | None, Query(max_length=100)] = None,
    region: Annotated[str | None, Query(max_length=100)] = None,
    dataset: Annotated[str | None, Query(max_length=64)] = None,
    concern: Annotated[bool, Query(description="Only organisations with a signal of concern")] = False,
) -> PortfolioFilters:
    return PortfolioFilters(
        type=type or None, region=region or None, dataset=dataset or None, concern_only=concern
    )


Filters = Annotated[PortfolioFilters, Depends(_filters)]


def _portfolio(
    state: WebState,
    conn: Connection,
    principal: Principal,
    viewer: Viewer,
    filters: PortfolioFilters,
    page: int,
) -> PortfolioOut:
    may_filter = allowed(principal, Permission.FILTER_PORTFOLIO)
    found = portfolio(
        conn, viewer, filters, may_filter=may_filter, page=page, ranked=kept_ranking, scan=kept_latest_scan
    )
    shown = with_soft_status(
        found, conn, min_group_size=state.settings.min_group_size, results_of=kept_closed_results
    )
    return portfolio_with_follow_up(shown, found.ids, kept_follow_up_flags(conn))


def _seen(viewer: Visibility) -> tuple[object, ...]:
    """What a portfolio page depends on of who looks: which organisations, and each peer's pseudonym."""
    if viewer.all_organisations:
        return ("all",)
    return (viewer.own, tuple(sorted(viewer.peers.items())))


@router.get("/", include_in_schema=False)
def home(principal: PortfolioViewer) -> Response:
    return RedirectResponse("/portfolio", status_code=303)


@router.get("/portfolio", include_in_schema=False)
def portfolio_page(
    request: Request,
    state: AppState,
    principal: PortfolioViewer,
    viewer: Viewer,
    filters: Filters,
    conn: ReadConnection,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    # The rows are the same for everyone who sees the same organisations: built and rendered once per data
    # version (a wave closing is in it), then only the frame around them per request.
    results_only = is_htmx(request, "portfolio-results")
    template, block = ("portfolio_results.html", "results") if results_only else ("portfolio.html", "content")
    may_filter = allowed(principal, Permission.FILTER_PORTFOLIO)
    may_report = allowed(principal, Permission.VIEW_ALL_ORGANISATIONS)  # the portfolio report's link
    content = kept_portfolio(
        conn,
        (template, _seen(viewer), may_filter, may_report, filters, page, state.settings.min_group_size),
        lambda: render_block(
            templates_of(request),
            template,
            block,
            {"view": _portfolio(state, conn, principal, viewer, filters, page), "may_report": may_report},
        ),
    )
    record_view(state, conn, request, principal, "portfolio", detail={"page": page})
    if results_only:
        return HTMLResponse(content)
    return render(request, "kept_page.html", {"title": "Portfolio", "content": content})


@router.get("/api/v1/portfolio", response_model=PortfolioOut, tags=["pages"])
def portfolio_api(
    request: Request,
    state: AppState,
    principal: PortfolioViewer,
    viewer: Viewer,
    filters: Filters,
    conn: ReadConnection,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> PortfolioOut:
    """The portfolio: organisations you may see with their current signals, ordered by strength of evidence."""
    view = _portfolio(state, conn, principal, viewer, filters, page)
    record_view(state, conn, request, principal, "portfolio", detail={"page": page})
    return view
