"""Case files in the web app (docs/interventions.md): analysts open, edit, record interventions and close cases;
an organisation's members see their own organisation's cases and add progress notes; nobody else sees them (404,
as for anything one may not see). Every change is audited by the cases service in the request's transaction."""

from __future__ import annotations

import contextlib
import datetime as dt
import math
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import Connection

from forewarn.access.policy import Permission, Visibility, allowed
from forewarn.access.principal import Principal
from forewarn.cases import interventions, outcomes, reading, service
from forewarn.store.models_cases import CaseSupport
from forewarn.views.soft import case_soft_measures
from forewarn.web.deps import AppState, CurrentUser, ReadConnection, Viewer, WriteConnection, require
from forewarn.web.errors import BadRequestError, NotFoundError
from forewarn.web.forms import FormModel, Text, codes
from forewarn.web.pages.cached import kept_closed_results
from forewarn.web.rendering import render

router = APIRouter(include_in_schema=False)
Staff = Annotated[Principal, Depends(require(Permission.VIEW_ALL_ORGANISATIONS))]
SUPPORTS = [s.value for s in CaseSupport]


class OpenCaseForm(FormModel):
    organisation_code: Text = ""
    support: Text = ""
    owner: Text = ""
    concern: Text = ""


class EditCaseForm(FormModel):
    support: Text = ""
    owner: Text = ""
    concern: Text = ""
    withdrawal_date: Text = ""


class NoteForm(FormModel):
    body: Text = ""


class InterventionForm(FormModel):
    start: Text = ""
    indicators: Text = ""
    rebase_reason: Text = ""


class WithdrawForm(FormModel):
    end: Text = ""


class CloseForm(FormModel):
    note: Text = ""


class MilestoneForm(FormModel):
    title: Text = ""
    due: Text = ""


class MilestoneDoneForm(FormModel):
    done_on: Text = ""


class ExitCriterionForm(FormModel):
    indicator_code: Text = ""
    comparison: Text = ""
    threshold: Text = ""
    months: Text = "3"


COMPARISONS = [("at_least", "at least"), ("at_most", "at most")]
Errors = dict[str, str]


def _day(text: str, label: str, *, required: bool = True) -> dt.date | None:
    if not text and not required:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise BadRequestError(f"{label} must be a date (YYYY-MM-DD)") from None


def visible_case(conn: Connection, viewer: Visibility, case_id: int) -> reading.CaseFile:
    """The case, if this viewer may open its organisation (members: their own); else 404."""
    try:
        case = reading.get_case(conn, case_id)
    except service.CaseNotFound:
        raise NotFoundError() from None
    if not viewer.may_open(case.organisation_id):
        raise NotFoundError()
    return case


def _changed(case_id: int) -> Response:
    return RedirectResponse(f"/cases/{case_id}", status_code=303)


@router.get("/cases")
def cases_page(request: Request, principal: CurrentUser, viewer: Viewer, conn: ReadConnection) -> Response:
    mine = None if viewer.all_organisations else [viewer.own] if viewer.own is not None else []
    cases = reading.list_cases(conn, organisation_ids=mine)
    return render(
        request,
        "cases/list.html",
        {
            "title": "Cases",
            "cases": cases,
            "staff": allowed(principal, Permission.VIEW_ALL_ORGANISATIONS),
            "supports": SUPPORTS,
        },
    )


@router.post("/cases")
def open_case(
    request: Request,
    state: AppState,
    principal: Staff,
    form: Annotated[OpenCaseForm, Form()],
    conn: WriteConnection,
) -> Response:
    try:
        case_id = service.open_case(
            conn,
            form.organisation_code,
            support=form.support,
            owner=form.owner,
            concern=form.concern,
            actor=principal,
            channel="web",
            soft_measures_of=case_soft_measures(
                min_group_size=state.settings.min_group_size, results_of=kept_closed_results
            ),
        )
    except service.CaseError as exc:
        raise BadRequestError(str(exc)) from None
    return _changed(case_id)


@router.get("/cases/{case_id}")
def case_page(
    request: Request, principal: CurrentUser, viewer: Viewer, conn: ReadConnection, case_id: int
) -> Response:
    return _case_response(request, principal, viewer, conn, case_id)


def _case_response(
    request: Request,
    principal: Principal,
    viewer: Visibility,
    conn: Connection,
    case_id: int,
    *,
    errors: Errors | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    """The case page; with ``errors`` (by field name) the page again with the form as typed, answered 400."""
    case = visible_case(conn, viewer, case_id)
    staff = allowed(principal, Permission.VIEW_ALL_ORGANISATIONS)
    # The effect estimate compares with named other organisations: the regulator's view only.
    outcome = outcomes.case_outcome(conn, case_id) if staff and case.interventions else None
    return render(
        request,
        "cases/case.html",
        {
            "title": ("Error: " if errors else "") + f"Case {case.id}: {case.organisation_name}",
            "case": case,
            "outcome": outcome,
            "staff": staff,
            "supports": SUPPORTS,
            "comparisons": COMPARISONS,
            "running": next((i for i in case.interventions if i["end_date"] is None), None),
            "errors": errors or {},
            "values": values or {},
            "today": dt.date.today().isoformat(),
        },
        status_code=400 if errors else 200,
    )


def _apply(conn: Connection, case_id: int, change: object) -> Response:
    try:
        change()  # type: ignore[operator]
    except service.CaseError as exc:
        raise BadRequestError(str(exc)) from None
    except service.CaseNotFound:
        raise NotFoundError() from None
    return _changed(case_id)


@router.post("/cases/{case_id}/notes")
def add_note(
    request: Request,
    principal: CurrentUser,
    viewer: Viewer,
    form: Annotated[NoteForm, Form()],
    conn: WriteConnection,
    case_id: int,
) -> Response:
    """Analysts add notes; members of the case's organisation add progress notes."""
    visible_case(conn, viewer, case_id)
    kind = "note" if allowed(principal, Permission.VIEW_ALL_ORGANISATIONS) else "progress"
    return _apply(
        conn,
        case_id,
        lambda: service.add_note(conn, case_id, body=form.body, kind=kind, actor=principal, channel="web"),
    )


@router.post("/cases/{case_id}/edit")
def edit_case(
    request: Request,
    principal: Staff,
    form: Annotated[EditCaseForm, Form()],
    conn: WriteConnection,
    case_id: int,
) -> Response:
    withdrawal = _day(form.withdrawal_date, "The withdrawal date", required=False)
    return _apply(
        conn,
        case_id,
        lambda: service.update_case(
            conn,
            case_id,
            actor=principal,
            channel="web",
            support=form.support or None,
            owner=form.owner or None,
            concern=form.concern or None,
            withdrawal_date=withdrawal,
        ),
    )


@router.post("/cases/{case_id}/interventions")
def start_intervention(
    request: Request,
    principal: Staff,
    form: Annotated[InterventionForm, Form()],
    conn: WriteConnection,
    case_id: int,
) -> Response:
    start = _day(form.start, "The start")
    targeted = codes(form.indicators)
    if not targeted:
        raise BadRequestError("Name at least one targeted indicator")
    return _apply(
        conn,
        case_id,
        lambda: interventions.start_intervention(
            conn,
            case_id,
            start=start,  # type: ignore[arg-type]
            indicators=targeted,
            rebase_reason=form.rebase_reason or None,
            actor=principal,
            channel="web",
        ),
    )


@router.post("/cases/{case_id}/withdraw")
def withdraw(
    request: Request,
    principal: Staff,
    form: Annotated[WithdrawForm, Form()],
    conn: WriteConnection,
    case_id: int,
) -> Response:
    end = _day(form.end, "The end")
    return _apply(
        conn,
        case_id,
        lambda: interventions.end_intervention(conn, case_id, end=end, actor=principal, channel="web"),  # type: ignore[arg-type]
    )


@router.post("/cases/{case_id}/close")
def close(
    request: Request,
    principal: Staff,
    form: Annotated[CloseForm, Form()],
    conn: WriteConnection,
    case_id: int,
) -> Response:
    return _apply(
        conn,
        case_id,
        lambda: service.close_case(conn, case_id, note=form.note, actor=principal, channel="web"),
    )


def _date_error(text: str, label: str, *, required: bool) -> str | None:
    if not text:
        return f"Enter {label.lower()} (YYYY-MM-DD)" if required else None
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return f"{label} must be a date, as YYYY-MM-DD"
    return None


def _form_change(
    request: Request,
    principal: Principal,
    viewer: Visibility,
    conn: Connection,
    case_id: int,
    errors: Errors,
    values: dict[str, str],
    change: object,
) -> Response:
    """Run ``change`` unless the form has errors; a service refusal naming a field becomes that field's error.
    Either way the case must be one this viewer may open (404 first)."""
    visible_case(conn, viewer, case_id)
    if not errors:
        try:
            change()  # type: ignore[operator]
        except service.CaseError as exc:
            errors = {exc.field or "form": str(exc)[:1].upper() + str(exc)[1:]}
        except service.CaseNotFound:
            raise NotFoundError() from None
        else:
            return _changed(case_id)
    return _case_response(request, principal, viewer, conn, case_id, errors=errors, values=values)


@router.post("/cases/{case_id}/milestones")
def add_milestone(
    request: Request,
    principal: Staff,
    viewer: Viewer,
    form: Annotated[MilestoneForm, Form()],
    conn: WriteConnection,
    case_id: int,
) -> Response:
    """A milestone with an optional due date (analysts and administrators)."""
    errors: Errors = {}
    if not form.title:
        errors["title"] = "Enter the title of the milestone"
    elif len(form.title) > 300:
        errors["title"] = "The title must be 300 characters or fewer"
    if message := _date_error(form.due, "The due date", required=False):
        errors["due"] = message
    return _form_change(
        request,
        principal,
        viewer,
        conn,
        case_id,
        errors,
        form.model_dump(),
        lambda: service.add_milestone(
            conn,
            case_id,
            title=form.title,
            due=dt.date.fromisoformat(form.due) if form.due else None,
            actor=principal,
            channel="web",
        ),
    )


@router.post("/cases/{case_id}/milestones/{milestone_id}/done")
def milestone_done(
    request: Request,
    principal: Staff,
    viewer: Viewer,
    form: Annotated[MilestoneDoneForm, Form()],
    conn: WriteConnection,
    case_id: int,
    milestone_id: int,
) -> Response:
    """Mark one of the case's milestones done on a date (a milestone of another case is 404)."""
    errors: Errors = {}
    if message := _date_error(form.done_on, "The date it was done", required=True):
        errors[f"done_on-{milestone_id}"] = message
    return _form_change(
        request,
        principal,
        viewer,
        conn,
        case_id,
        errors,
        {f"done_on-{milestone_id}": form.done_on},
        lambda: service.complete_milestone(
            conn,
            milestone_id,
            done_on=dt.date.fromisoformat(form.done_on),
            actor=principal,
            channel="web",
            of_case=case_id,
        ),
    )


@router.post("/cases/{case_id}/exit-criteria")
def add_exit_criterion(
    request: Request,
    principal: Staff,
    viewer: Viewer,
    form: Annotated[ExitCriterionForm, Form()],
    conn: WriteConnection,
    case_id: int,
) -> Response:
    """An exit criterion: the mean of an indicator's latest N values at least (at most) a threshold."""
    errors: Errors = {}
    if not form.indicator_code:
        errors["indicator_code"] = "Enter the indicator's code"
    if form.comparison not in dict(COMPARISONS):
        errors["comparison"] = "Choose at least or at most"
    threshold = math.nan
    with contextlib.suppress(ValueError):
        threshold = float(form.threshold)
    if not math.isfinite(threshold):
        errors["threshold"] = "The threshold must be a number, such as 0.8"
    months = 0
    with contextlib.suppress(ValueError):
        months = int(form.months)
    if not 1 <= months <= 120:
        errors["months"] = "The number of latest values must be a whole number from 1 to 120"
    return _form_change(
        request,
        principal,
        viewer,
        conn,
        case_id,
        errors,
        form.model_dump(),
        lambda: service.add_exit_criterion(
            conn,
            case_id,
            indicator_code=form.indicator_code,
            comparison=form.comparison,
            threshold=threshold,
            months=months,
            actor=principal,
            channel="web",
        ),
    )
