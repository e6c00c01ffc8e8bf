"""Statistical neighbours of an organisation (issue 13): the page and its JSON."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from forewarn.access.principal import Principal
from forewarn.peers.levels import UnknownIndicator
from forewarn.views.peers import NeighboursOut, neighbours_view
from forewarn.web.deps import CurrentUser, ReadConnection, Viewer, record_learning
from forewarn.web.errors import NotFoundError
from forewarn.web.rendering import render

router = APIRouter()

NOT_VISIBLE = "This organisation does not exist, or your account cannot see it."
IndicatorCode = Annotated[str | None, Query(pattern=r"^[A-Za-z0-9_.\-]{1,100}$")]


def _view(
    conn: ReadConnection, principal: Principal, viewer: Viewer, organisation_id: int, indicator: str | None
) -> NeighboursOut:
    try:
        view = neighbours_view(conn, viewer, organisation_id, indicator=indicator or None)
    except UnknownIndicator:
        raise NotFoundError("There is no indicator with this code.") from None
    if view is None:
        raise NotFoundError(NOT_VISIBLE)
    record_learning(conn, principal, "deviants" if indicator else "neighbours")
    return view


@router.get("/organisations/{organisation_id}/neighbours", include_in_schema=False)
def neighbours_page(
    request: Request,
    principal: CurrentUser,
    viewer: Viewer,
    conn: ReadConnection,
    organisation_id: int,
    indicator: IndicatorCode = None,
) -> Response:
    view = _view(conn, principal, viewer, organisation_id, indicator)
    return render(
        request, "neighbours.html", {"title": f"Statistical neighbours of {view.name}", "view": view}
    )


@router.get(
    "/api/v1/organisations/{organisation_id}/neighbours", response_model=NeighboursOut, tags=["pages"]
)
def neighbours_api(
    principal: CurrentUser,
    viewer: Viewer,
    conn: ReadConnection,
    organisation_id: int,
    indicator: IndicatorCode = None,
) -> NeighboursOut:
    """An organisation's statistical neighbours from its context: CIPFA-style fixed weights and, with
    ``indicator``, weights learnt from that indicator, each neighbour with its bootstrap stability. Neighbours
    you may not see by name are pseudonyms. 404 when the organisation does not exist or you may not open it."""
    return _view(conn, principal, viewer, organisation_id, indicator)
