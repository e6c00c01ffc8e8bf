"""The risk watchlist page and its JSON (issue 11): stored scores, the whole list for analysts, a member's own
organisation only."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from forewarn.access.policy import Permission
from forewarn.access.principal import Principal
from forewarn.views.follow_up import watchlist_with_follow_up
from forewarn.views.risk import BacktestOut, WatchlistOut, backtest, feature_label, watchlist
from forewarn.web.deps import AppState, ReadConnection, Viewer, record_view, require
from forewarn.web.pages.cached import kept_follow_up_flags
from forewarn.web.rendering import render

router = APIRouter()
RiskViewer = Annotated[Principal, Depends(require(Permission.VIEW_PORTFOLIO))]


@router.get("/risk", include_in_schema=False)
def watchlist_page(
    request: Request, state: AppState, principal: RiskViewer, viewer: Viewer, conn: ReadConnection
) -> Response:
    view = watchlist_with_follow_up(watchlist(conn, viewer), kept_follow_up_flags(conn))
    record_view(state, conn, request, principal, "risk_watchlist")
    return render(request, "risk/watchlist.html", {"title": "Risk watchlist", "view": view})


@router.get("/api/v1/risk/watchlist", response_model=WatchlistOut, tags=["pages"])
def watchlist_api(
    request: Request, state: AppState, principal: RiskViewer, viewer: Viewer, conn: ReadConnection
) -> WatchlistOut:
    """The latest stored risk scores: every organisation for analysts (with the places they could hold given the
    intervals), a member's own organisation only."""
    view = watchlist_with_follow_up(watchlist(conn, viewer), kept_follow_up_flags(conn))
    record_view(state, conn, request, principal, "risk_watchlist")
    return view


BacktestViewer = Annotated[Principal, Depends(require(Permission.VIEW_ALL_ORGANISATIONS))]


@router.get("/risk/backtest", include_in_schema=False)
def backtest_page(
    request: Request, state: AppState, principal: BacktestViewer, conn: ReadConnection
) -> Response:
    view = backtest(conn)
    record_view(state, conn, request, principal, "risk_backtest")
    context = {"title": "Risk backtest", "view": view, "feature_label": feature_label}
    return render(request, "risk/backtest.html", context)


@router.get("/api/v1/risk/backtest", response_model=BacktestOut, tags=["pages"])
def backtest_api(
    request: Request, state: AppState, principal: BacktestViewer, conn: ReadConnection
) -> BacktestOut:
    """The latest stored backtest of the risk model (analysts): every figure, its baselines, whether soft measures
    help, and the Vega-Lite specs of its calibration and lead-time charts."""
    view = backtest(conn)
    record_view(state, conn, request, principal, "risk_backtest")
    return view
