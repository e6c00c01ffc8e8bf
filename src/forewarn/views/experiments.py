"""Experiments as the API serves them, cut to what the viewer may see (issue 15).

An organisation member sees only the experiments their organisation owns or takes part in; in them, the other
organisations appear under the viewer's pseudonyms for peers, or as "another organisation". Results keep the
estimate, its interval, the method and the padlock rating, and leave out anything keyed by organisation (a
synthetic control's weights and placebos), which only staff see, through the command line.

Who may change an experiment (register, edit, design, allocate, start, analyse, publish): the regulator's analysts
and administrators any; an organisation's members those their organisation owns (:func:`may_change`). A member
names the units of an experiment they register by their own organisation's code and their granted peers'
pseudonyms (:func:`resolve_units`), never by codes they cannot see.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from pydantic import Field
from sqlalchemy import Connection, select

from forewarn.access.policy import Visibility
from forewarn.experiments.analysis import crossover_dates
from forewarn.experiments.catalogue import list_experiments
from forewarn.experiments.registry import (
    MATCHED_ANALYSES,
    ExperimentNotFoundError,
    get_experiment,
)
from forewarn.store.models import Organisation
from forewarn.views.library import library_document
from forewarn.views.model import Model
from forewarn.views.risk import feature_label

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
    can_register: bool = False


class UnitOut(Model):
    label: str
    arm: str | None


class EventOut(Model):
    at: dt.datetime
    by: str
    kind: str
    field: str | None
    old: str | None = None
    new: str | None = None
    reason: str | None


class AllocationOut(Model):
    seed: int
    method: str
    method_version: int
    checksum: str
    created_by: str


class DocumentLinkOut(Model):
    id: int
    title: str
    url: str


class ResultOut(Model):
    id: int
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
    published: DocumentLinkOut | None = None


class LearningActivityOut(Model):
    """One act of learning this experiment gives an organisation, as the risk model counts it."""

    organisation: str = Field(description="The organisation's code (only organisations the viewer may open)")
    url: str = Field(description="Its page, at why it is on the risk watchlist")
    feature: str = Field(description="The risk model's column the act is counted in")
    label: str = Field(description="The column in plain words")
    known_on: dt.date = Field(description="The day it counts from, for two years (the features' window)")
    in_current_model: bool = Field(description="Whether the latest fitted risk model uses this column")


class ExperimentOut(Model):
    code: str
    title: str
    hypothesis: str
    adapted_practice: str | None
    practice_document: DocumentLinkOut | None
    unit_kind: str
    outcome_indicator: str
    design: str
    analysis: str
    minimum_effect: float
    owner: str
    status: str
    planned_start: dt.date
    planned_end: dt.date
    registration_checksum: str | None
    strata_by: str | None
    design_calculation: dict[str, Any] | None
    allocation: AllocationOut | None
    crossover: dict[str, dt.date]
    analyses: list[str]
    may_change: bool
    units: list[UnitOut]
    events: list[EventOut]
    results: list[ResultOut]
    learning_activity: list[LearningActivityOut] = Field(
        default_factory=list, description="What this experiment feeds into the risk model's learning activity"
    )


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
        ],
        can_register=may_register(viewer),
    )


def may_register(viewer: Visibility) -> bool:
    """Analysts and administrators, and members of an organisation (for their own organisation)."""
    return viewer.all_organisations or viewer.own is not None


def may_change(viewer: Visibility, owner_organisation_id: int | None) -> bool:
    """Analysts and administrators change any experiment; members those their own organisation owns."""
    return viewer.all_organisations or (viewer.own is not None and owner_organisation_id == viewer.own)


def owner_organisation_id(conn: Connection, code: str) -> int | None:
    """The id of the organisation that owns the experiment ``code`` (None: the regulator's own)."""
    from forewarn.store.models_experiments import Experiment

    found = conn.execute(select(Experiment.owner_organisation_id).where(Experiment.code == code)).first()
    return None if found is None or found[0] is None else int(found[0])


def free_code(conn: Connection, title: str) -> str:
    """A code for an experiment registered without one: its title in lower case, words joined by dashes (at most
    40 characters), then ``-2``, ``-3``... if taken."""
    import re

    from forewarn.store.models_experiments import Experiment

    base = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")[:40].strip("-") or "experiment"
    taken = set(conn.execute(select(Experiment.code).where(Experiment.code.like(f"{base}%"))).scalars())
    if base not in taken and base != "new":
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


def resolve_units(conn: Connection, viewer: Visibility, labels: Sequence[str]) -> tuple[list[str], list[str]]:
    """Organisation codes for the units a person typed, and the labels that name nothing they may include.

    Staff type codes. A member types their own organisation's code, or a granted peer's pseudonym as Forewarn shows
    it ("Peer 2"); any other code is refused as if it did not exist (so no code is confirmed to a member)."""
    wanted = [label.strip() for label in labels if label.strip()]
    if viewer.all_organisations:
        return wanted, []
    by_pseudonym = {name.casefold(): oid for oid, name in viewer.peers.items()}
    ids: dict[str, int] = {}
    own_code = None
    if viewer.own is not None:
        own_code = conn.execute(select(Organisation.code).where(Organisation.id == viewer.own)).scalar()
    unknown = []
    for label in wanted:
        if own_code is not None and label == own_code:
            ids[label] = viewer.own  # type: ignore[assignment]
        elif label.casefold() in by_pseudonym:
            ids[label] = by_pseudonym[label.casefold()]
        else:
            unknown.append(label)
    codes = {
        int(i): str(c)
        for i, c in conn.execute(
            select(Organisation.id, Organisation.code).where(Organisation.id.in_(list(ids.values())))
        )
    }
    return [str(codes[i]) for i in ids.values()], unknown


def _document_link(conn: Connection, viewer: Visibility, document_id: int | None) -> DocumentLinkOut | None:
    """A library document's link when this viewer may read it, else None."""
    if document_id is None:
        return None
    found = library_document(conn, viewer, document_id)
    return (
        None if found is None else DocumentLinkOut(id=found.id, title=found.title, url=f"/library/{found.id}")
    )


def _shown(value: object) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return text if len(text) <= 300 else text[:299] + "…"


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
    # What each event changed: fields of the registration, a design's calculation, an allocation's seed, checksum
    # and counts by arm, an analysis's method and rating; none of them names an organisation.
    events = [
        EventOut(
            at=dt.datetime.fromisoformat(e["at"]),
            by=e["by"],
            kind=e["kind"],
            field=e["field"],
            old=_shown(e["old"]),
            new=_shown(e["new"]),
            reason=e["reason"],
        )
        for e in info.events
    ]
    results = [
        ResultOut(
            id=r["id"],
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
            published=_document_link(conn, viewer, r.get("library_document_id")),
        )
        for r in info.results
    ]
    owner_id = owner_organisation_id(conn, info.code)
    allocation = info.allocation
    return ExperimentOut(
        code=info.code,
        title=info.title,
        hypothesis=info.hypothesis,
        adapted_practice=info.adapted_practice,
        practice_document=_document_link(conn, viewer, info.practice_document_id),
        unit_kind=info.unit_kind,
        outcome_indicator=info.outcome_indicator,
        design=info.design,
        analysis=str(info.analysis_plan.get("method")),
        minimum_effect=info.minimum_effect,
        owner=info.owner,
        status=info.status,
        planned_start=info.planned_start,
        planned_end=info.planned_end,
        registration_checksum=info.registration_checksum,
        strata_by=info.analysis_plan.get("strata_by"),
        design_calculation=info.design_calculation,
        allocation=None
        if allocation is None
        else AllocationOut(**{k: allocation[k] for k in AllocationOut.model_fields}),
        crossover=crossover_dates(info.units.values(), info.planned_start, info.planned_end)
        if info.design == "stepped_wedge"
        else {},
        analyses=list(MATCHED_ANALYSES.get(info.design, ())),
        may_change=may_change(viewer, owner_id),
        units=units,
        events=events,
        results=results,
        learning_activity=learning_activity(conn, viewer, info.code),
    )


def learning_activity(conn: Connection, viewer: Visibility, code: str) -> list[LearningActivityOut]:
    """What the experiment ``code`` feeds into the risk model's learning-activity features
    (:mod:`forewarn.risk.activity`, by its own rules): for each organisation the viewer may open, each act with
    its feature and the day it counts from (for the features' two years); and whether the latest fitted
    model uses that feature (it is fitted with them only when the store held learning activity)."""
    from forewarn.risk.activity import FEATURES, experiment_activity
    from forewarn.store.models_experiments import Experiment
    from forewarn.store.models_risk import RiskModel

    found = conn.execute(select(Experiment.id).where(Experiment.code == code)).scalar()
    if found is None:
        return []
    acts = experiment_activity(conn, int(found))
    acts = acts.filter(
        acts["organisation_id"].is_in([o for o in acts["organisation_id"] if viewer.may_open(o)])
    )
    if acts.is_empty():
        return []
    codes = dict(
        conn.execute(
            select(Organisation.id, Organisation.code).where(
                Organisation.id.in_(acts["organisation_id"].to_list())
            )
        ).all()
    )
    latest = conn.execute(select(RiskModel.features).order_by(RiskModel.trained_at.desc()).limit(1)).scalar()
    used = set(latest or ())
    return [
        LearningActivityOut(
            organisation=str(codes[row["organisation_id"]]),
            url=f"/organisations/{row['organisation_id']}#watchlist-why",
            feature=FEATURES[row["kind"]],
            label=feature_label(FEATURES[row["kind"]]),
            known_on=row["known_on"],
            in_current_model=FEATURES[row["kind"]] in used,
        )
        for row in acts.sort("known_on", "organisation_id", "kind").iter_rows(named=True)
    ]
