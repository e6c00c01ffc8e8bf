"""Indicators: the list, one indicator across organisations, its charts as SVG, and their JSON."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response
from sqlalchemy import Connection

from forewarn.access.policy import Visibility
from forewarn.charts.render import svg
from forewarn.views.indicator import IndicatorOut, IndicatorsOut, IndicatorView, indicator, indicators
from forewarn.web.deps import AppState, CurrentUser, ReadConnection, Viewer, record_view
from forewarn.web.errors import NotFoundError
from forewarn.web.rendering import render

router = APIRouter()

CODE = Path(pattern=r"^[A-Za-z0-9_.\-]{1,100}$")
MAX_TABLE_ROWS = 300


def _indicator(conn: Connection, viewer: Visibility, code: str) -> IndicatorView:
    found = indicator(conn, viewer, code)
    if found is None:
        raise NotFoundError("There is no indicator at this address.")
    return found


@router.get("/indicators", include_in_schema=False)
def indicators_page(request: Request, principal: CurrentUser, conn: ReadConnection) -> Response:
    view = indicators(conn)
    return render(request, "indicators.html", {"title": "Indicators", "view": view})


@router.get("/api/v1/indicators", response_model=IndicatorsOut, tags=["pages"])
def indicators_api(principal: CurrentUser, conn: ReadConnection) -> IndicatorsOut:
    """Every indicator in the store."""
    return indicators(conn)


@router.get("/indicators/{code}", include_in_schema=False)
def indicator_page(
    request: Request,
    state: AppState,
    principal: CurrentUser,
    viewer: Viewer,
    conn: ReadConnection,
    code: str = CODE,
) -> Response:
    found = _indicator(conn, viewer, code)
    view, specs = found.page, found.specs
    record_view(state, conn, request, principal, "indicator", code)
    return render(
        request,
        "indicator.html",
        {
            "title": view.indicator.name,
            "view": view,
            "specs": specs,
            "charts": True,
            "max_rows": MAX_TABLE_ROWS,
        },
    )


@router.get("/indicators/{code}/{chart}.svg", include_in_schema=False)
def indicator_chart(
    principal: CurrentUser,
    viewer: Viewer,
    conn: ReadConnection,
    chart: Literal["funnel", "ranks"],
    code: str = CODE,
) -> Response:
    spec = _indicator(conn, viewer, code).specs.get(chart)
    if spec is None:
        raise NotFoundError("This indicator has no such chart.")
    return Response(svg(spec), media_type="image/svg+xml", headers={"Cache-Control": "private, no-store"})


@router.get("/api/v1/indicators/{code}", response_model=IndicatorOut, tags=["pages"])
def indicator_api(
    request: Request,
    state: AppState,
    principal: CurrentUser,
    viewer: Viewer,
    conn: ReadConnection,
    code: str = CODE,
) -> IndicatorOut:
    """One indicator across the organisations you may see: funnel position, rank with interval, outliers,
    and how many flags chance alone would give."""
    view = _indicator(conn, viewer, code).page
    record_view(state, conn, request, principal, "indicator", code)
    return view
