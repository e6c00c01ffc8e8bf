"""Experiments (issue 15) as pages: the list, one experiment, and the forms to register, edit, design, allocate,
start, analyse and publish. Each form re-renders with the GOV.UK error summary, every message naming its field;
what is done, and who may do it, is :mod:`forewarn.web.routes.experiment_actions` (the API's too,
:mod:`forewarn.web.routes.experiments_api`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import Connection

from forewarn.access.policy import Visibility
from forewarn.experiments.registry import ANALYSES, ExperimentError
from forewarn.library.documents import AUDIENCE_LABELS
from forewarn.store.models_experiments import EXPERIMENT_DESIGNS, UNIT_KINDS
from forewarn.views.experiments import experiment, experiments, may_register
from forewarn.web.deps import CurrentUser, ReadConnection, Viewer, WriteConnection
from forewarn.web.errors import ForbiddenError, NotFoundError
from forewarn.web.forms import FormModel, Text, codes
from forewarn.web.rendering import render
from forewarn.web.routes import experiment_actions as act
from forewarn.web.routes import experiments_api

pages = APIRouter(include_in_schema=False)
CODE = Path(pattern=act.CODE_PATTERN)

DESIGN_LABELS = {
    "individual": "Individually randomised",
    "cluster": "Cluster randomised",
    "stepped_wedge": "Stepped wedge",
    "its": "Interrupted time series",
    "synthetic_control": "Synthetic control",
    "staggered_did": "Staggered adoption (difference in differences)",
}
ANALYSIS_LABELS = {
    "difference_in_means": "Difference in means",
    "cluster_robust": "Cluster-robust regression",
    "its": "Interrupted time series (segmented regression)",
    "synthetic_control": "Synthetic control with placebos",
    "staggered_did": "Callaway & Sant'Anna",
    "hussey_hughes": "Mixed model with period effects (Hussey & Hughes)",
}


class RegisterForm(FormModel):
    code: Text = ""
    title: Text = ""
    hypothesis: Text = ""
    adapted_practice: Text = ""
    practice_document_id: Text = ""
    unit_kind: Text = "organisation"
    outcome_indicator: Text = ""
    design: Text = ""
    analysis: Text = ""
    units: Text = ""
    treated: Text = ""
    strata_by: Text = ""
    owner_organisation: Text = ""
    minimum_effect: Text = ""
    planned_start: Text = ""
    planned_end: Text = ""
    owner: Text = ""


class EditForm(FormModel):
    title: Text = ""
    hypothesis: Text = ""
    adapted_practice: Text = ""
    practice_document_id: Text = ""
    minimum_effect: Text = ""
    owner: Text = ""
    planned_start: Text = ""
    planned_end: Text = ""
    reason: Text = ""


class DesignForm(FormModel):
    cluster_size: Text = ""
    icc: Text = ""
    steps: Text = ""
    tau2: Text = ""
    alpha: Text = "0.05"


class AllocateForm(FormModel):
    seed: Text = ""
    allocate_steps: Text = ""


class AnalyseForm(FormModel):
    method: Text = ""
    publish: Text = ""
    audience: Text = "everyone"


class PublishForm(FormModel):
    result_id: Text = ""
    publish_audience: Text = "everyone"


def _date(text: str, field: str, errors: dict[str, str]) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        errors[field] = "Enter the date as YYYY-MM-DD, for example 2026-04-01"
        return None


def _number(text: str, field: str, errors: dict[str, str], kind: type = float) -> Any:
    if not text:
        return None
    try:
        return kind(text)
    except ValueError:
        errors[field] = "Enter a whole number" if kind is int else "Enter a number, for example 0.3"
        return None


def _pydantic_errors(exc: ValidationError, fields: dict[str, str] | None = None) -> dict[str, str]:
    out: dict[str, str] = {}
    for problem in exc.errors():
        name = str(problem["loc"][0]) if problem["loc"] else "code"
        out.setdefault((fields or {}).get(name, name), problem["msg"])
    return out


def _sentence(errors: dict[str, str]) -> dict[str, str]:
    return {k: v[:1].upper() + v[1:] for k, v in errors.items()}


def _choices(labels: dict[str, str], keys: Any) -> list[tuple[str, str]]:
    return [(k, labels.get(k, k)) for k in keys]


def _form_page(
    request: Request, viewer: Visibility, values: dict[str, str], errors: dict[str, str], status: int = 200
) -> Response:
    return render(
        request,
        "experiment_new.html",
        {
            "title": "Register an experiment",
            "values": values,
            "errors": _sentence(errors),
            "staff": viewer.all_organisations,
            "designs": _choices(DESIGN_LABELS, EXPERIMENT_DESIGNS),
            "analyses": _choices(ANALYSIS_LABELS, ANALYSES),
            "unit_kinds": [(k, k.capitalize() + "s") for k in UNIT_KINDS],
        },
        status_code=status,
    )


@pages.get("/experiments")
def experiments_page(
    request: Request, principal: CurrentUser, viewer: Viewer, conn: ReadConnection
) -> Response:
    return render(request, "experiments.html", {"title": "Experiments", "view": experiments(conn, viewer)})


@pages.get("/experiments/new")
def new_experiment_page(request: Request, principal: CurrentUser, viewer: Viewer) -> Response:
    if not may_register(viewer):
        raise ForbiddenError(
            "Your account does not belong to an organisation, so it cannot register experiments."
        )
    return _form_page(request, viewer, {"unit_kind": "organisation", "minimum_effect": "0.3"}, {})


@pages.post("/experiments/new")
def new_experiment_form(
    request: Request,
    principal: CurrentUser,
    viewer: Viewer,
    form: Annotated[RegisterForm, Form()],
    conn: WriteConnection,
) -> Response:
    if not may_register(viewer):
        raise ForbiddenError(
            "Your account does not belong to an organisation, so it cannot register experiments."
        )
    errors: dict[str, str] = {}
    start = _date(form.planned_start, "planned_start", errors)
    end = _date(form.planned_end, "planned_end", errors)
    effect = _number(form.minimum_effect, "minimum_effect", errors)
    document = _number(form.practice_document_id, "practice_document_id", errors, int)
    for name in ("title", "hypothesis", "outcome_indicator", "design", "analysis", "owner"):
        if not getattr(form, name):
            errors.setdefault(name, "This is needed")
    if effect is None:
        errors.setdefault("minimum_effect", "Enter the smallest effect worth finding, for example 0.3")
    if not errors:
        try:
            data = act.RegisterIn(
                code=form.code or None,
                title=form.title,
                hypothesis=form.hypothesis,
                outcome_indicator=form.outcome_indicator,
                design=form.design,
                analysis=form.analysis,
                units=codes(form.units),
                minimum_effect=effect,
                planned_start=start,
                planned_end=end,
                owner=form.owner,
                adapted_practice=form.adapted_practice or None,
                practice_document_id=document,
                unit_kind=form.unit_kind,
                strata_by=(form.strata_by or None) if viewer.all_organisations else None,
                owner_organisation=form.owner_organisation or None,
                treated=codes(form.treated),
            )
        except ValidationError as exc:
            errors = _pydantic_errors(exc)
        else:
            try:
                code = act.register(conn, request, principal, viewer, data)
            except ExperimentError as exc:
                conn.rollback()
                errors = exc.fields or {"code": str(exc)}
            else:
                return RedirectResponse(f"/experiments/{code}", status_code=303)
    values = form.model_dump()
    if not viewer.all_organisations and {"units", "treated"} & set(errors):
        values["units"] = values["treated"] = ""  # not echoed (see experiment_actions.register)
    return _form_page(request, viewer, values, errors, 400)


def _experiment_page(
    request: Request,
    conn: Connection,
    viewer: Visibility,
    code: str,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    found = experiment(conn, viewer, code)
    if found is None:
        raise NotFoundError(act.NOT_THERE)
    return render(
        request,
        "experiment.html",
        {
            "title": found.title,
            "e": found,
            "errors": _sentence(errors or {}),
            "values": values or {},
            "design_labels": DESIGN_LABELS,
            "analysis_labels": ANALYSIS_LABELS,
            "analyses": _choices(ANALYSIS_LABELS, found.analyses),
            "audiences": list(AUDIENCE_LABELS.items()),
        },
        status_code=400 if errors else 200,
    )


@pages.get("/experiments/{code}")
def experiment_page(
    request: Request, principal: CurrentUser, viewer: Viewer, conn: ReadConnection, code: str = CODE
) -> Response:
    return _experiment_page(request, conn, viewer, code)


def _edit_values(e: Any) -> dict[str, str]:
    return {
        "title": e.title,
        "hypothesis": e.hypothesis,
        "adapted_practice": e.adapted_practice or "",
        "practice_document_id": str(e.practice_document.id) if e.practice_document else "",
        "minimum_effect": str(e.minimum_effect),
        "owner": e.owner,
        "planned_start": e.planned_start.isoformat(),
        "planned_end": e.planned_end.isoformat(),
    }


def _edit_page(
    request: Request, e: Any, values: dict[str, str], errors: dict[str, str], status: int = 200
) -> Response:
    return render(
        request,
        "experiment_edit.html",
        {"title": f"Change {e.title}", "e": e, "values": values, "errors": _sentence(errors)},
        status_code=status,
    )


@pages.get("/experiments/{code}/edit")
def edit_experiment_page(
    request: Request, principal: CurrentUser, viewer: Viewer, conn: ReadConnection, code: str = CODE
) -> Response:
    e = act.changeable(conn, viewer, code)
    return _edit_page(request, e, _edit_values(e), {})


@pages.post("/experiments/{code}/edit")
def edit_experiment_form(
    request: Request,
    principal: CurrentUser,
    viewer: Viewer,
    form: Annotated[EditForm, Form()],
    conn: WriteConnection,
    code: str = CODE,
) -> Response:
    e = act.changeable(conn, viewer, code)
    current = _edit_values(e)
    errors: dict[str, str] = {}
    changes: dict[str, Any] = {}
    for name, value in form.model_dump(exclude={"reason"}).items():
        if value == current[name]:
            continue
        if name in ("planned_start", "planned_end"):
            changes[name] = _date(value, name, errors)
        elif name == "minimum_effect":
            changes[name] = _number(value, name, errors)
        elif name == "practice_document_id":
            changes[name] = _number(value, name, errors, int) or 0
        else:
            changes[name] = value or None
    if not errors and not changes:
        errors["title"] = "Nothing has changed"
    if not errors:
        try:
            act.edit(
                conn, request, principal, viewer, code, act.EditIn(**changes, reason=form.reason or None)
            )
        except ValidationError as exc:
            errors = _pydantic_errors(exc)
        except ExperimentError as exc:
            conn.rollback()
            errors = exc.fields or {"title": str(exc)}
        else:
            return RedirectResponse(f"/experiments/{code}", status_code=303)
    return _edit_page(request, e, form.model_dump(), errors, 400)


def _act(
    request: Request,
    conn: Connection,
    viewer: Visibility,
    code: str,
    errors: dict[str, str],
    values: dict[str, str],
    action: Callable[[], object],
    anchor: str,
    fields: dict[str, str] | None = None,
) -> Response:
    """Run an action from the experiment page; on a refusal, the page again with the problems by field."""
    if not errors:
        try:
            action()
        except ValidationError as exc:
            errors = _pydantic_errors(exc, fields)
        except (
            ExperimentError,
            ValueError,
        ) as exc:  # ValueError: the statistics refuse the data as it stands
            conn.rollback()
            named = getattr(exc, "fields", None) or {anchor: str(exc)}
            errors = {(fields or {}).get(k, k): v for k, v in named.items()}
        else:
            return RedirectResponse(f"/experiments/{code}#{anchor}", status_code=303)
    return _experiment_page(request, conn, viewer, code, errors, values)


@pages.post("/experiments/{code}/design")
def design_form(
    request: Request,
    principal: CurrentUser,
    viewer: Viewer,
    form: Annotated[DesignForm, Form()],
    conn: WriteConnection,
    code: str = CODE,
) -> Response:
    act.changeable(conn, viewer, code)
    errors: dict[str, str] = {}
    numbers = {
        "cluster_size": _number(form.cluster_size, "cluster_size", errors),
        "icc": _number(form.icc, "icc", errors),
        "steps": _number(form.steps, "steps", errors, int),
        "tau2": _number(form.tau2, "tau2", errors),
        "alpha": _number(form.alpha or "0.05", "alpha", errors),
    }
    return _act(
        request,
        conn,
        viewer,
        code,
        errors,
        form.model_dump(),
        lambda: act.design(conn, request, principal, viewer, code, act.DesignIn(**numbers)),
        "design",
        {"cluster_size": "cluster_size"},
    )


@pages.post("/experiments/{code}/allocate")
def allocate_form(
    request: Request,
    principal: CurrentUser,
    viewer: Viewer,
    form: Annotated[AllocateForm, Form()],
    conn: WriteConnection,
    code: str = CODE,
) -> Response:
    act.changeable(conn, viewer, code)
    errors: dict[str, str] = {}
    seed = _number(form.seed, "seed", errors, int)
    steps = _number(form.allocate_steps, "allocate_steps", errors, int)
    if seed is None:
        errors.setdefault("seed", "Enter a whole number as the seed, for example 20260401")
    return _act(
        request,
        conn,
        viewer,
        code,
        errors,
        form.model_dump(),
        lambda: act.allocate(conn, request, principal, viewer, code, act.AllocateIn(seed=seed, steps=steps)),
        "allocation",
        {"steps": "allocate_steps"},
    )


@pages.post("/experiments/{code}/start")
def start_form(
    request: Request, principal: CurrentUser, viewer: Viewer, conn: WriteConnection, code: str = CODE
) -> Response:
    act.changeable(conn, viewer, code)
    return _act(
        request,
        conn,
        viewer,
        code,
        {},
        {},
        lambda: act.start(conn, request, principal, viewer, code),
        "start",
    )


@pages.post("/experiments/{code}/analyse")
def analyse_form(
    request: Request,
    principal: CurrentUser,
    viewer: Viewer,
    form: Annotated[AnalyseForm, Form()],
    conn: WriteConnection,
    code: str = CODE,
) -> Response:
    act.changeable(conn, viewer, code)
    data = {"method": form.method or None, "publish": form.publish == "yes", "audience": form.audience}
    return _act(
        request,
        conn,
        viewer,
        code,
        {},
        form.model_dump(),
        lambda: act.analyse(conn, request, principal, viewer, code, act.AnalyseIn(**data)),
        "results",
        {"publish": "publish"},
    )


@pages.post("/experiments/{code}/publish")
def publish_form(
    request: Request,
    principal: CurrentUser,
    viewer: Viewer,
    form: Annotated[PublishForm, Form()],
    conn: WriteConnection,
    code: str = CODE,
) -> Response:
    act.changeable(conn, viewer, code)
    errors: dict[str, str] = {}
    result_id = _number(form.result_id, "results", errors, int)
    return _act(
        request,
        conn,
        viewer,
        code,
        errors,
        {},
        lambda: act.publish(
            conn,
            request,
            principal,
            viewer,
            code,
            act.PublishIn(result_id=result_id, audience=form.publish_audience),
        ),
        "results",
        {"publish": "results", "audience": "results", "result_id": "results"},
    )


router = APIRouter()
router.include_router(pages)
router.include_router(experiments_api.router)
