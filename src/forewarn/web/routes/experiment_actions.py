"""What the experiment pages and the API both do (issue 15): check who may act, call the registry's services in the
request's transaction, and write the audit entry with the change. The pages send typed-in text, parsed by
:mod:`forewarn.web.routes.experiments`; the API sends the JSON models below. Both end here, so a page and the API
refuse and accept the same things, with the same messages, each naming its field.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from fastapi import Request
from pydantic import BaseModel, Field, field_validator
from sqlalchemy import Connection

from forewarn.access.policy import Visibility
from forewarn.access.principal import Principal
from forewarn.experiments.analysis import analyse_experiment
from forewarn.experiments.design import allocate_experiment, design_experiment
from forewarn.experiments.publish import publish_result
from forewarn.experiments.registry import (
    ANALYSES,
    ExperimentError,
    ExperimentSpec,
    create_experiment,
    edit_experiment,
    start_experiment,
)
from forewarn.views.experiments import (
    ExperimentOut,
    experiment,
    free_code,
    may_change,
    may_register,
    owner_organisation_id,
    resolve_units,
)
from forewarn.views.library import library_document
from forewarn.views.lookup import organisation_codes
from forewarn.web.deps import record
from forewarn.web.errors import ForbiddenError, NotFoundError

CODE_PATTERN = r"^[A-Za-z0-9_.\-]{1,64}$"
RESERVED = {"new"}
NOT_THERE = "There is no experiment at this address."


class Body(BaseModel):
    """A request body: no text holds a NUL character (PostgreSQL cannot store one; the views' models refuse them
    on the way out, these on the way in)."""

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: object) -> object:
        texts = value if isinstance(value, list) else [value]
        if any(isinstance(t, str) and "\x00" in t for t in texts):
            raise ValueError("must not contain NUL characters")
        return value


class RegisterIn(Body):
    """An experiment to register (the API's body; the form's fields have the same names)."""

    code: str | None = Field(
        default=None,
        pattern=CODE_PATTERN,
        description="Omit for one made from the title (huddles, huddles-2...)",
    )
    title: str = Field(min_length=1, max_length=300)
    hypothesis: str = Field(min_length=1, max_length=5000)
    outcome_indicator: str = Field(min_length=1, max_length=100)
    design: str
    analysis: str
    units: list[str] = Field(max_length=5000)
    minimum_effect: float = Field(gt=0, le=10)
    planned_start: dt.date
    planned_end: dt.date
    owner: str = Field(min_length=1, max_length=200)
    adapted_practice: str | None = Field(default=None, max_length=5000)
    practice_document_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    unit_kind: str = "organisation"
    strata_by: str | None = Field(default=None, description="Staff only: 'region' or 'type'")
    owner_organisation: str | None = Field(
        default=None, description="Staff only: the owning organisation's code. A member's is their own."
    )
    treated: list[str] = Field(default_factory=list, max_length=5000)


class EditIn(Body):
    """Changes to a registration; after the start each is a deviation and needs a reason."""

    title: str | None = Field(default=None, min_length=1, max_length=300)
    hypothesis: str | None = Field(default=None, min_length=1, max_length=5000)
    adapted_practice: str | None = Field(default=None, max_length=5000)
    practice_document_id: int | None = Field(
        default=None, ge=0, le=2**31 - 1, description="0 removes the link"
    )
    minimum_effect: float | None = Field(default=None, gt=0, le=10)
    owner: str | None = Field(default=None, min_length=1, max_length=200)
    planned_start: dt.date | None = None
    planned_end: dt.date | None = None
    reason: str | None = Field(default=None, max_length=2000)


class DesignIn(Body):
    cluster_size: float | None = Field(default=None, gt=0, le=1e7)
    icc: float | None = Field(default=None, ge=0, le=1, description="Omit to estimate it from the store")
    steps: int | None = Field(default=None, ge=1, le=1000)
    tau2: float | None = Field(default=None, ge=0, le=1e6)
    alpha: float = Field(default=0.05, gt=0, lt=1)


class AllocateIn(Body):
    seed: int = Field(ge=0, le=2**62)
    steps: int | None = Field(default=None, ge=2, le=1000, description="A stepped wedge's number of steps")


class AnalyseIn(Body):
    method: str | None = Field(default=None, description="Omit for the pre-registered analysis")
    publish: bool = Field(default=False, description="Publish the result to the practice library")
    audience: str = "everyone"


class PublishIn(Body):
    result_id: int | None = Field(default=None, ge=1, le=2**31 - 1, description="Omit for the latest")
    audience: str = "everyone"


def refuse(field: str, message: str) -> ExperimentError:
    return ExperimentError(message, {field: message})


def _visible(conn: Connection, viewer: Visibility, code: str) -> ExperimentOut:
    found = experiment(conn, viewer, code) if re.match(CODE_PATTERN, code) else None
    if found is None:
        raise NotFoundError(NOT_THERE)
    return found


def changeable(conn: Connection, viewer: Visibility, code: str) -> ExperimentOut:
    """The experiment, if this viewer may change it: 404 when they may not see it, 403 when they may only read it."""
    found = _visible(conn, viewer, code)
    if not may_change(viewer, owner_organisation_id(conn, code)):
        raise ForbiddenError(
            "Only the experiment's own organisation and the regulator's analysts may change it."
        )
    return found


def _readable_document(conn: Connection, viewer: Visibility, document_id: int | None) -> None:
    if document_id is not None and library_document(conn, viewer, document_id) is None:
        raise refuse("practice_document_id", f"There is no library document {document_id} you may read")


def register(
    conn: Connection, request: Request, principal: Principal, viewer: Visibility, data: RegisterIn
) -> str:
    """Register a draft; its code. A member's experiment is their organisation's, its units theirs or their peers'."""
    if not may_register(viewer):
        raise ForbiddenError(
            "Your account does not belong to an organisation, so it cannot register experiments."
        )
    code = data.code or free_code(conn, data.title)
    if code.lower() in RESERVED:
        raise refuse("code", f"'{data.code}' cannot be a code: choose another")
    units, unknown = resolve_units(conn, viewer, data.units)
    treated, unknown_treated = resolve_units(conn, viewer, data.treated)
    if unknown or unknown_treated:
        # Not echoed: a member is never shown a code of an organisation they may not see, even one they typed.
        raise refuse(
            "units" if unknown else "treated",
            f"{len(unknown) + len(unknown_treated)} of the units given are not organisations you may include: use "
            "your organisation's code, or a peer's name as Forewarn shows it (for example Peer 1)",
        )
    owner_organisation = data.owner_organisation or None
    if not viewer.all_organisations and viewer.own is not None:
        owner_organisation = organisation_codes(conn, [viewer.own]).get(viewer.own)
    _readable_document(conn, viewer, data.practice_document_id)
    if data.analysis not in ANALYSES:
        raise refuse("analysis", f"The analysis must be one of {', '.join(ANALYSES)}")
    create_experiment(
        conn,
        ExperimentSpec(
            code=code,
            title=data.title,
            hypothesis=data.hypothesis,
            outcome_indicator=data.outcome_indicator,
            design=data.design,
            units=units,
            analysis=data.analysis,
            minimum_effect=data.minimum_effect,
            planned_start=data.planned_start,
            planned_end=data.planned_end,
            owner=data.owner,
            owner_organisation=owner_organisation,
            adapted_practice=data.adapted_practice or None,
            practice_document_id=data.practice_document_id,
            unit_kind=data.unit_kind,
            # Strata by region or type are the regulator's: a member's peers' regions and types are not theirs to use.
            strata_by=(data.strata_by or None) if viewer.all_organisations else None,
            treated=treated,
        ),
        by=principal.actor,
    )
    record(conn, request, principal, "create", "experiment", code, organisation_id=viewer.own)
    return code


def edit(
    conn: Connection, request: Request, principal: Principal, viewer: Visibility, code: str, data: EditIn
) -> None:
    changeable(conn, viewer, code)
    changes: dict[str, Any] = data.model_dump(exclude_unset=True, exclude={"reason"})
    for name in ("title", "hypothesis", "minimum_effect", "owner", "planned_start", "planned_end"):
        if name in changes and changes[name] is None:
            raise refuse(name, "This cannot be removed: give a new value")
    if "practice_document_id" in changes:
        changes["practice_document_id"] = changes["practice_document_id"] or None
        _readable_document(conn, viewer, changes["practice_document_id"])
    if not changes:
        raise refuse("title", "Nothing to change")
    edit_experiment(conn, code, changes, by=principal.actor, reason=data.reason or None)
    record(conn, request, principal, "update", "experiment", code, organisation_id=viewer.own)


def design(
    conn: Connection, request: Request, principal: Principal, viewer: Visibility, code: str, data: DesignIn
) -> None:
    changeable(conn, viewer, code)
    design_experiment(conn, code, by=principal.actor, **data.model_dump())
    record(conn, request, principal, "design", "experiment", code, organisation_id=viewer.own)


def allocate(
    conn: Connection, request: Request, principal: Principal, viewer: Visibility, code: str, data: AllocateIn
) -> None:
    changeable(conn, viewer, code)
    allocate_experiment(conn, code, seed=data.seed, steps=data.steps, by=principal.actor)
    record(
        conn,
        request,
        principal,
        "allocate",
        "experiment",
        code,
        organisation_id=viewer.own,
        detail={"seed": data.seed},
    )


def start(conn: Connection, request: Request, principal: Principal, viewer: Visibility, code: str) -> None:
    changeable(conn, viewer, code)
    start_experiment(conn, code, by=principal.actor)
    record(conn, request, principal, "start", "experiment", code, organisation_id=viewer.own)


def analyse(
    conn: Connection, request: Request, principal: Principal, viewer: Visibility, code: str, data: AnalyseIn
) -> None:
    """The analysis (the pre-registered one by default), and its publication when asked, in one transaction."""
    changeable(conn, viewer, code)
    if data.method is not None and data.method not in ANALYSES:
        raise refuse("method", f"The analysis must be one of {', '.join(ANALYSES)}")
    analyse_experiment(conn, code, method=data.method or None, by=principal.actor)
    record(
        conn,
        request,
        principal,
        "analyse",
        "experiment",
        code,
        organisation_id=viewer.own,
        detail={"method": data.method},
    )
    if data.publish:
        publish(conn, request, principal, viewer, code, PublishIn(audience=data.audience), checked=True)


def publish(
    conn: Connection,
    request: Request,
    principal: Principal,
    viewer: Visibility,
    code: str,
    data: PublishIn,
    *,
    checked: bool = False,
) -> int:
    if not checked:
        changeable(conn, viewer, code)
    document_id = publish_result(
        conn, code, principal.actor, result_id=data.result_id, audience=data.audience
    )
    record(conn, request, principal, "create", "library_document", document_id, organisation_id=viewer.own)
    record(
        conn,
        request,
        principal,
        "publish",
        "experiment",
        code,
        organisation_id=viewer.own,
        detail={"library_document": document_id},
    )
    return document_id
