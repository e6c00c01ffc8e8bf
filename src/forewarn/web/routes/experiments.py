"""Experiments (issue 15): the registry's list and one experiment, as pages and JSON, cut to what the viewer may
see. Read-only: experiments are registered and run with ``forewarn experiment``."""

from __future__ import annotations

from fastapi import APIRouter, Path, Request
from fastapi.responses import Response

from forewarn.views.experiments import ExperimentOut, ExperimentsOut, experiment, experiments
from forewarn.web.deps import CurrentUser, ReadConnection, Viewer
from forewarn.web.errors import NotFoundError
from forewarn.web.rendering import render

router = APIRouter()
CODE = Path(pattern=r"^[A-Za-z0-9_.\-]{1,64}$")


@router.get("/experiments", include_in_schema=False)
def experiments_page(
    request: Request, principal: CurrentUser, viewer: Viewer, conn: ReadConnection
) -> Response:
    return render(request, "experiments.html", {"title": "Experiments", "view": experiments(conn, viewer)})


@router.get("/experiments/{code}", include_in_schema=False)
def experiment_page(
    request: Request, principal: CurrentUser, viewer: Viewer, conn: ReadConnection, code: str = CODE
) -> Response:
    found = experiment(conn, viewer, code)
    if found is None:
        raise NotFoundError("There is no experiment at this address.")
    return render(request, "experiment.html", {"title": found.title, "e": found})


@router.get("/api/v1/experiments", response_model=ExperimentsOut, tags=["experiments"])
def experiments_api(principal: CurrentUser, viewer: Viewer, conn: ReadConnection) -> ExperimentsOut:
    """The experiments you may see: all for staff; for a member, those their organisation owns or takes part in."""
    return experiments(conn, viewer)


@router.get("/api/v1/experiments/{code}", response_model=ExperimentOut, tags=["experiments"])
def experiment_api(
    principal: CurrentUser, viewer: Viewer, conn: ReadConnection, code: str = CODE
) -> ExperimentOut:
    """One experiment: its registration, units (others under pseudonyms), audit trail and rated results."""
    found = experiment(conn, viewer, code)
    if found is None:
        raise NotFoundError("There is no experiment at this address.")
    return found
