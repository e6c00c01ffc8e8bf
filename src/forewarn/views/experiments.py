"""Experiments as the API serves them, cut to what the viewer may see (issue 15).

An organisation member sees only the experiments their organisation owns or takes part in; in them, the other
organisations appear under the viewer's pseudonyms for peers, or as "another organisation". Results keep the
estimate, its interval, the method and the padlock rating, and leave out anything keyed by organisation (a
synthetic control's weights and placebos), which only staff see, through the command line.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, select

from forewarn.access.policy import Visibility
from forewarn.experiments.registry import ExperimentNotFoundError, get_experiment, list_experiments
from forewarn.store.models import Organisation
from forewarn.views.model import Model

OTHER = "another organisation"


class ExperimentSummaryOut(Model):
    code: str
    title: str
    design: str
    status: str
    planned_start: dt.date
    owner: str
    padlocks: int | None


class ExperimentsOut(Model):
    experiments: list[ExperimentSummaryOut]


class UnitOut(Model):
    label: str
    arm: str | None


class EventOut(Model):
    at: dt.datetime
    kind: str
    field: str | None
    reason: str | None


class ResultOut(Model):
    method: str
    pre_registered: bool
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    reading: str | None
    padlocks: int
    rating: dict[str, Any]
    analysed_at: dt.datetime


class ExperimentOut(Model):
    code: str
    title: str
    hypothesis: str
    adapted_practice: str | None
    outcome_indicator: str
    design: str
    analysis: str
    minimum_effect: float
    owner: str
    status: str
    planned_start: dt.date
    planned_end: dt.date
    registration_checksum: str | None
    units: list[UnitOut]
    events: list[EventOut]
    results: list[ResultOut]


def _own_ids(viewer: Visibility) -> list[int] | None:
    if viewer.all_organisations:
        return None
    return [viewer.own] if viewer.own is not None else []


def experiments(conn: Connection, viewer: Visibility) -> ExperimentsOut:
    """Every experiment the viewer may see, in brief."""
    rows = list_experiments(conn, organisation_ids=_own_ids(viewer))
    return ExperimentsOut(
        experiments=[
            ExperimentSummaryOut(**{k: r[k] for k in ExperimentSummaryOut.model_fields}) for r in rows
        ]
    )


def _float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def experiment(conn: Connection, viewer: Visibility, code: str) -> ExperimentOut | None:
    """One experiment, or None when it is not there or not the viewer's to see (the two look the same)."""
    visible = {r["code"] for r in list_experiments(conn, organisation_ids=_own_ids(viewer))}
    if code not in visible:
        return None
    try:
        info = get_experiment(conn, code)
    except ExperimentNotFoundError:
        return None
    ids = dict(
        conn.execute(
            select(Organisation.code, Organisation.id).where(Organisation.code.in_(list(info.units)))
        ).all()
    )
    units = []
    for unit_code, arm in sorted(info.units.items()):
        org = int(ids[unit_code])
        if viewer.may_open(org):
            label = unit_code
        elif viewer.is_anonymised(org):
            label = viewer.peers[org]
        else:
            label = OTHER
        units.append(UnitOut(label=label, arm=arm))
    units.sort(key=lambda u: (u.label == OTHER, u.label))
    events = [
        EventOut(at=dt.datetime.fromisoformat(e["at"]), kind=e["kind"], field=e["field"], reason=e["reason"])
        for e in info.events
    ]
    results = [
        ResultOut(
            method=r["method"],
            pre_registered=r["pre_registered"],
            estimate=_float(r["result"].get("estimate")),
            ci_low=_float(r["result"].get("ci_low")),
            ci_high=_float(r["result"].get("ci_high")),
            p_value=_float(r["result"].get("p_value")),
            reading=r["result"].get("reading"),
            padlocks=r["padlocks"],
            rating=r["rating"],
            analysed_at=dt.datetime.fromisoformat(r["analysed_at"]),
        )
        for r in info.results
    ]
    return ExperimentOut(
        code=info.code,
        title=info.title,
        hypothesis=info.hypothesis,
        adapted_practice=info.adapted_practice,
        outcome_indicator=info.outcome_indicator,
        design=info.design,
        analysis=str(info.analysis_plan.get("method")),
        minimum_effect=info.minimum_effect,
        owner=info.owner,
        status=info.status,
        planned_start=info.planned_start,
        planned_end=info.planned_end,
        registration_checksum=info.registration_checksum,
        units=units,
        events=events,
        results=results,
    )
