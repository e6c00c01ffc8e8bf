"""Experiments (issue 15) in the JSON API: list, read, register, change, design, allocate, start, analyse and
publish, through the same actions as the pages (:mod:`forewarn.web.routes.experiment_actions`). A refusal is 400
with each problem after its field's name (``{"detail": "units: an experiment needs at least two units; ..."}``),
answered after the transaction has rolled back; an experiment one may not see is 404, one one may read but not
change 403."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Path, Request
from sqlalchemy import Connection

from forewarn.access.policy import Visibility
from forewarn.experiments.registry import ExperimentError
from forewarn.views.experiments import ExperimentOut, ExperimentsOut, experiment, experiments
from forewarn.web.deps import CurrentUser, ReadConnection, Viewer, WriteConnection
from forewarn.web.errors import BadRequestError, NotFoundError
from forewarn.web.routes import experiment_actions as act

router = APIRouter(tags=["experiments"])
CODE = Path(pattern=act.CODE_PATTERN)
REFUSED: dict[int | str, dict[str, object]] = {
    400: {"description": "Refused: `detail` names each problem's field and says what is wrong"}
}


class Refused(BadRequestError):
    """A refusal of the registry, each problem after its field's name."""

    def __init__(self, error: ExperimentError) -> None:
        fields = getattr(error, "fields", {})
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()) if fields else str(error))


def _done(
    conn: Connection, viewer: Visibility, code: str | Callable[[], str], action: Callable[[], object]
) -> ExperimentOut:
    try:
        action()
    except ExperimentError as exc:
        raise Refused(exc) from None
    except ValueError as exc:  # the statistics refuse the data or the design as they stand
        raise Refused(ExperimentError(str(exc))) from None
    found = experiment(conn, viewer, code if isinstance(code, str) else code())
    if found is None:  # pragma: no cover - the action has just checked the viewer may see it
        raise NotFoundError(act.NOT_THERE)
    return found


@router.get("/api/v1/experiments", response_model=ExperimentsOut)
def experiments_api(principal: CurrentUser, viewer: Viewer, conn: ReadConnection) -> ExperimentsOut:
    """The experiments you may see: all for staff; for a member, those their organisation owns or takes part in."""
    return experiments(conn, viewer)


@router.post("/api/v1/experiments", response_model=ExperimentOut, status_code=201, responses=REFUSED)
def register_api(
    request: Request, principal: CurrentUser, viewer: Viewer, body: act.RegisterIn, conn: WriteConnection
) -> ExperimentOut:
    """Register a draft experiment. A member's is their organisation's; they name its units by their own
    organisation's code and their peers' pseudonyms ("Peer 1")."""
    made: list[str] = []
    return _done(
        conn,
        viewer,
        lambda: made[0],
        lambda: made.append(act.register(conn, request, principal, viewer, body)),
    )


@router.get("/api/v1/experiments/{code}", response_model=ExperimentOut)
def experiment_api(
    principal: CurrentUser, viewer: Viewer, conn: ReadConnection, code: str = CODE
) -> ExperimentOut:
    """One experiment: its registration, units (others under pseudonyms), design, allocation, audit trail and rated
    results."""
    found = experiment(conn, viewer, code)
    if found is None:
        raise NotFoundError(act.NOT_THERE)
    return found


@router.patch("/api/v1/experiments/{code}", response_model=ExperimentOut, responses=REFUSED)
def edit_api(
    request: Request,
    principal: CurrentUser,
    viewer: Viewer,
    body: act.EditIn,
    conn: WriteConnection,
    code: str = CODE,
) -> ExperimentOut:
    """Change the registration: freely while a draft; after the start each change is a deviation and needs a
    ``reason``."""
    return _done(conn, viewer, code, lambda: act.edit(conn, request, principal, viewer, code, body))


@router.post("/api/v1/experiments/{code}/design", response_model=ExperimentOut, responses=REFUSED)
def design_api(
    request: Request,
    principal: CurrentUser,
    viewer: Viewer,
    body: act.DesignIn,
    conn: WriteConnection,
    code: str = CODE,
) -> ExperimentOut:
    """The design's power for the minimum effect of interest (a cluster design's ICC from the store when not
    given), stored on the experiment."""
    return _done(conn, viewer, code, lambda: act.design(conn, request, principal, viewer, code, body))


@router.post("/api/v1/experiments/{code}/allocate", response_model=ExperimentOut, responses=REFUSED)
def allocate_api(
    request: Request,
    principal: CurrentUser,
    viewer: Viewer,
    body: act.AllocateIn,
    conn: WriteConnection,
    code: str = CODE,
) -> ExperimentOut:
    """Randomise the units with the seed (stratified as registered); only before the start."""
    return _done(conn, viewer, code, lambda: act.allocate(conn, request, principal, viewer, code, body))


@router.post("/api/v1/experiments/{code}/start", response_model=ExperimentOut, responses=REFUSED)
def start_api(
    request: Request, principal: CurrentUser, viewer: Viewer, conn: WriteConnection, code: str = CODE
) -> ExperimentOut:
    """Start the experiment, which locks its registration (its SHA-256 is kept)."""
    return _done(conn, viewer, code, lambda: act.start(conn, request, principal, viewer, code))


@router.post("/api/v1/experiments/{code}/analyse", response_model=ExperimentOut, responses=REFUSED)
def analyse_api(
    request: Request,
    principal: CurrentUser,
    viewer: Viewer,
    body: act.AnalyseIn,
    conn: WriteConnection,
    code: str = CODE,
) -> ExperimentOut:
    """Run the pre-registered analysis (or ``method``, kept as not pre-registered), rated in padlocks; with
    ``publish``, publish the result to the practice library in the same transaction."""
    return _done(conn, viewer, code, lambda: act.analyse(conn, request, principal, viewer, code, body))


@router.post("/api/v1/experiments/{code}/publish", response_model=ExperimentOut, responses=REFUSED)
def publish_api(
    request: Request,
    principal: CurrentUser,
    viewer: Viewer,
    body: act.PublishIn,
    conn: WriteConnection,
    code: str = CODE,
) -> ExperimentOut:
    """Publish a result (the latest by default) to the practice library as an experiment document."""
    return _done(conn, viewer, code, lambda: act.publish(conn, request, principal, viewer, code, body))
