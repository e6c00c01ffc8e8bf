"""Indicators: the list, one indicator across organisations, its charts as SVG, and their JSON."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from forewarn.charts.render import spec_key, svg
from forewarn.web.deps import AppState, CurrentUser, ReadConnection, Viewer, record_view
from forewarn.web.errors import NotFoundError
from forewarn.web.pages.indicator import build_indicator, build_indicators
from forewarn.web.rendering import render
from forewarn.web.schemas import IndicatorOut, IndicatorsOut

router = APIRouter()

CODE = Path(pattern=r"^[A-Za-z0-9_.\-]{1,100}$")
MAX_TABLE_ROWS = 300


@router.get("/indicators", include_in_schema=False)
def indicators_page(request: Request, principal: CurrentUser, conn: ReadConnection) -> Response:
    view = build_indicators(conn)
    return render(request, "indicators.html", {"title": "Indicators", "view": view})


@router.get("/api/v1/indicators", response_model=IndicatorsOut, tags=["pages"])
def indicators_api(principal: CurrentUser, conn: ReadConnection) -> IndicatorsOut:
    """Every indicator in the store."""
    return build_indicators(conn)


@router.get("/indicators/{code}", include_in_schema=False)
def indicator_page(
    request: Request,
    state: AppState,
    principal: CurrentUser,
    viewer: Viewer,
    conn: ReadConnection,
    code: str = CODE,
) -> Response:
    view, specs = build_indicator(conn, viewer, code)
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
    state: AppState,
    principal: CurrentUser,
    viewer: Viewer,
    chart: Literal["funnel", "ranks"],
    conn: ReadConnection,
    code: str = CODE,
) -> Response:
    _, specs = build_indicator(conn, viewer, code)
    spec = specs.get(chart)
    if spec is None:
        raise NotFoundError("This indicator has no such chart.")
    drawn = state.svg_cache.get_or_draw(spec_key(spec), lambda: svg(spec))
    return Response(drawn, media_type="image/svg+xml", headers={"Cache-Control": "private, no-store"})


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
    view, _ = build_indicator(conn, viewer, code)
    record_view(state, conn, request, principal, "indicator", code)
    return view
