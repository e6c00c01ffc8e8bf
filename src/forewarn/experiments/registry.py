"""The experiments registry: register, edit, start (which locks the registration), read one (the list is in
:mod:`~forewarn.experiments.catalogue`). Designing and allocating
are in :mod:`~forewarn.experiments.design`, analysing in :mod:`~forewarn.experiments.analysis`.

An experiment is a ``draft`` until it starts. While a draft, anything may be edited (each edit is kept in the audit
trail). Starting locks the registration: its SHA-256 over the registered fields is stored, and any later change
needs a reason and is recorded as a ``deviation``. Allocation is allowed only before the start, with a seed; the
whole allocation and its checksum are kept (:mod:`forewarn.stats.experiments.allocation` says how to redo it).

Analysis reads the outcome indicator's observations for the experiment's organisations: periods before the
planned start are the baseline, periods from it on the outcome. The pre-registered method is the default; any other
is stored as not pre-registered. Every result carries its padlock rating (:mod:`forewarn.experiments.padlocks`).
"""

from __future__ import annotations

import datetime as dt
import getpass
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from forewarn.store.database import read_connection, transaction
from forewarn.store.models import Indicator, Organisation
from forewarn.store.models_experiments import (
    EXPERIMENT_DESIGNS,
    UNIT_KINDS,
    Experiment,
    ExperimentAllocation,
    ExperimentEvent,
    ExperimentResult,
    ExperimentUnit,
)
from forewarn.store.models_peers import LibraryDocument

ANALYSES = (
    "difference_in_means",
    "cluster_robust",
    "its",
    "synthetic_control",
    "staggered_did",
    "hussey_hughes",
)
RANDOMISED = ("individual", "cluster", "stepped_wedge")
MATCHED_ANALYSES = {
    "individual": ("difference_in_means", "cluster_robust", "its"),
    "cluster": ("difference_in_means", "cluster_robust", "its"),
    "stepped_wedge": ("hussey_hughes", "cluster_robust", "its"),
    "its": ("its",),
    "synthetic_control": ("synthetic_control", "its"),
    "staggered_did": ("staggered_did", "its"),
}
"""Which analyses each design may pre-register (a randomised design's arms, a non-randomised one's comparison)."""
REGISTERED_FIELDS = (
    "code",
    "title",
    "hypothesis",
    "adapted_practice",
    "unit_kind",
    "outcome_indicator",
    "design",
    "analysis_plan",
    "minimum_effect",
    "owner",
    "planned_start",
    "planned_end",
    "units",
)
EDITABLE = (
    "title",
    "hypothesis",
    "adapted_practice",
    "analysis_plan",
    "minimum_effect",
    "owner",
    "planned_start",
    "planned_end",
    "practice_document_id",
)

__all__ = [
    "ANALYSES",
    "ExperimentError",
    "ExperimentInfo",
    "ExperimentNotFoundError",
    "ExperimentSpec",
    "create_experiment",
    "edit_experiment",
    "get_experiment",
    "start_experiment",
]


class ExperimentError(Exception):
    """A request the registry refuses; the message says why, and ``fields`` which field each problem is in."""

    def __init__(self, message: str, fields: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.fields = dict(fields or {})


class ExperimentNotFoundError(ExperimentError):
    """No experiment has this code or id."""


@dataclass(frozen=True)
class ExperimentSpec:
    """What a person registers."""

    code: str
    title: str
    hypothesis: str
    outcome_indicator: str
    design: str
    units: Sequence[str]
    analysis: str
    minimum_effect: float
    planned_start: dt.date
    planned_end: dt.date
    owner: str
    owner_organisation: str | None = None
    adapted_practice: str | None = None
    practice_document_id: int | None = None
    """The practice library's document of the practice it adapts."""
    unit_kind: str = "organisation"
    strata_by: str | None = None
    treated: Sequence[str] = ()
    adoption: Mapping[str, dt.date] = field(default_factory=dict)
    """Non-randomised designs: the units that adopt the practice (the others are the comparison), and when each
    adopts it (default: the planned start)."""


@dataclass(frozen=True)
class ExperimentInfo:
    """An experiment as the registry shows it, with its units, audit trail and results."""

    id: int
    code: str
    title: str
    hypothesis: str
    adapted_practice: str | None
    unit_kind: str
    outcome_indicator: str
    design: str
    analysis_plan: dict[str, Any]
    minimum_effect: float
    owner: str
    owner_organisation: str | None
    status: str
    planned_start: dt.date
    planned_end: dt.date
    design_calculation: dict[str, Any] | None
    registration_checksum: str | None
    created_by: str
    created_at: dt.datetime
    started_at: dt.datetime | None
    practice_document_id: int | None = None
    units: dict[str, str | None] = field(default_factory=dict)  # organisation code -> arm
    strata: dict[str, str | None] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    allocation: dict[str, Any] | None = None
    results: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "code": self.code,
            "title": self.title,
            "hypothesis": self.hypothesis,
            "adapted_practice": self.adapted_practice,
            "practice_document_id": self.practice_document_id,
            "unit_kind": self.unit_kind,
            "outcome_indicator": self.outcome_indicator,
            "design": self.design,
            "analysis_plan": self.analysis_plan,
            "minimum_effect": self.minimum_effect,
            "owner": self.owner,
            "owner_organisation": self.owner_organisation,
            "status": self.status,
            "planned_start": self.planned_start.isoformat(),
            "planned_end": self.planned_end.isoformat(),
            "design_calculation": self.design_calculation,
            "registration_checksum": self.registration_checksum,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "units": self.units,
            "strata": self.strata,
            "events": self.events,
            "allocation": self.allocation,
            "results": self.results,
        }


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def who_acts(by: str | None) -> str:
    return by or getpass.getuser()


def _jsonable(value: object) -> object:
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def record_event(
    conn: Connection,
    experiment_id: int,
    by: str,
    kind: str,
    *,
    field_name: str | None = None,
    old: object = None,
    new: object = None,
    reason: str | None = None,
) -> None:
    conn.execute(
        insert(ExperimentEvent).values(
            experiment_id=experiment_id,
            at=now_utc(),
            by=by,
            kind=kind,
            field=field_name,
            old_value=_jsonable(old),
            new_value=_jsonable(new),
            reason=reason,
        )
    )


def _organisation_ids(conn: Connection, codes: Sequence[str]) -> dict[str, int]:
    wanted = list(dict.fromkeys(c.strip() for c in codes if c.strip()))
    known: dict[str, int] = {}
    for start in range(0, len(wanted), 5000):
        chunk = wanted[start : start + 5000]
        known.update(
            {
                str(c): int(i)
                for c, i in conn.execute(
                    select(Organisation.code, Organisation.id).where(Organisation.code.in_(chunk))
                )
            }
        )
    unknown = [c for c in wanted if c not in known]
    if unknown:
        message = f"unknown organisation code(s): {', '.join(unknown[:20])}"
        raise ExperimentError(message, {"units": message})
    return {c: known[c] for c in wanted}


def _check_practice_document(conn: Connection, document_id: int | None) -> None:
    if document_id is None:
        return
    if conn.execute(select(LibraryDocument.id).where(LibraryDocument.id == document_id)).first() is None:
        message = f"there is no library document {document_id}"
        raise ExperimentError(message, {"practice_document_id": message})


def experiment_row(conn: Connection, ref: int | str) -> Any:
    query = select(Experiment)
    query = (
        query.where(Experiment.id == int(ref))
        if isinstance(ref, int) or str(ref).isdigit()
        else query.where(Experiment.code == str(ref))
    )
    row = conn.execute(query).first()
    if row is None:
        raise ExperimentNotFoundError(f"no experiment {ref!r}; `forewarn experiment list` shows them")
    return row


def create_experiment(
    db: Engine | Connection, spec: ExperimentSpec, *, by: str | None = None
) -> ExperimentInfo:
    """Register a draft experiment. Every field is checked before anything is written."""
    problems: dict[str, str] = {}

    def problem(name: str, message: str) -> None:
        problems.setdefault(name, message)

    if not spec.code.strip() or len(spec.code) > 64:
        problem("code", "a code of 1 to 64 characters is needed")
    if not spec.title.strip():
        problem("title", "a title is needed")
    if spec.design not in EXPERIMENT_DESIGNS:
        problem("design", f"design must be one of {', '.join(EXPERIMENT_DESIGNS)}")
    if spec.analysis not in ANALYSES:
        problem("analysis", f"analysis must be one of {', '.join(ANALYSES)}")
    if spec.unit_kind not in UNIT_KINDS:
        problem("unit_kind", f"unit kind must be one of {', '.join(UNIT_KINDS)}")
    if spec.planned_end <= spec.planned_start:
        problem("planned_end", "the planned end must be after the planned start")
    if not spec.hypothesis.strip():
        problem("hypothesis", "a hypothesis is needed")
    if not spec.owner.strip():
        problem("owner", "an owner is needed")
    if spec.minimum_effect <= 0:
        problem(
            "minimum_effect",
            "the minimum effect of interest must be positive (in standard deviations of the outcome)",
        )
    if len(set(spec.units)) < 2:
        problem("units", "an experiment needs at least two units")
    if spec.strata_by not in (None, "region", "type"):
        problem("strata_by", "strata can be by region or type")
    if spec.design in MATCHED_ANALYSES and spec.analysis not in MATCHED_ANALYSES[spec.design]:
        problem(
            "analysis",
            f"a {spec.design} design is analysed by {', '.join(MATCHED_ANALYSES[spec.design])}, not {spec.analysis}",
        )
    if spec.design in RANDOMISED and (spec.treated or spec.adoption):
        problem("treated", "a randomised design's arms come from its allocation: do not name treated units")
    if spec.design not in RANDOMISED and spec.design != "its" and not spec.treated:
        problem("treated", f"a {spec.design} design needs the units that adopt the practice (treated)")
    if set(spec.treated) - set(spec.units) or set(spec.adoption) - set(spec.treated):
        problem("treated", "treated units (and adoption dates) must be among the experiment's units")
    if spec.design == "synthetic_control" and len(set(spec.treated)) != 1:
        problem("treated", "a synthetic control has exactly one treated unit")
    if problems:
        raise ExperimentError("; ".join(problems.values()), problems)
    who = who_acts(by)
    with transaction(db) as conn:
        if conn.execute(select(Experiment.id).where(Experiment.code == spec.code)).first() is not None:
            raise ExperimentError(
                f"an experiment {spec.code!r} exists already",
                {"code": "an experiment with this code exists already"},
            )
        indicator = conn.execute(
            select(Indicator.id).where(Indicator.code == spec.outcome_indicator)
        ).scalar()
        if indicator is None:
            raise ExperimentError(
                f"unknown indicator {spec.outcome_indicator!r}",
                {"outcome_indicator": f"there is no indicator {spec.outcome_indicator!r}"},
            )
        _check_practice_document(conn, spec.practice_document_id)
        ids = _organisation_ids(conn, spec.units)
        owner_org = (
            _organisation_ids(conn, [spec.owner_organisation])[spec.owner_organisation]
            if spec.owner_organisation
            else None
        )
        strata: dict[int, str | None] = dict.fromkeys(ids.values())
        if spec.strata_by is not None:
            column = Organisation.region if spec.strata_by == "region" else Organisation.type
            strata = {
                int(i): (str(v) if v is not None else "unknown")
                for i, v in conn.execute(
                    select(Organisation.id, column).where(Organisation.id.in_(list(ids.values())))
                )
            }
        experiment_id = int(
            conn.execute(
                insert(Experiment)
                .values(
                    code=spec.code,
                    title=spec.title,
                    hypothesis=spec.hypothesis,
                    adapted_practice=spec.adapted_practice,
                    practice_document_id=spec.practice_document_id,
                    unit_kind=spec.unit_kind,
                    outcome_indicator_id=indicator,
                    design=spec.design,
                    analysis_plan={"method": spec.analysis, "strata_by": spec.strata_by},
                    minimum_effect=spec.minimum_effect,
                    owner=spec.owner,
                    owner_organisation_id=owner_org,
                    status="draft",
                    planned_start=spec.planned_start,
                    planned_end=spec.planned_end,
                    created_by=who,
                    created_at=now_utc(),
                )
                .returning(Experiment.id)
            ).scalar_one()
        )
        treated = set(spec.treated)
        declared = spec.design not in RANDOMISED and spec.design != "its"
        conn.execute(
            insert(ExperimentUnit),
            [
                {
                    "experiment_id": experiment_id,
                    "organisation_id": i,
                    "stratum": strata[i],
                    "arm": ("intervention" if code in treated else "comparison") if declared else None,
                    "adopted_on": spec.adoption.get(code, spec.planned_start) if code in treated else None,
                }
                for code, i in ids.items()
            ],
        )
        record_event(conn, experiment_id, who, "created", new=spec.code)
        return get_experiment(conn, experiment_id)


def _registration(info: ExperimentInfo) -> dict[str, Any]:
    body = info.to_dict()
    return {k: body[k] for k in REGISTERED_FIELDS if k != "units"} | {"units": sorted(info.units)}


def registration_checksum(info: ExperimentInfo) -> str:
    """SHA-256 of the registered fields (sorted JSON): what starting the experiment locks."""
    return hashlib.sha256(json.dumps(_registration(info), sort_keys=True, default=str).encode()).hexdigest()


def edit_experiment(
    db: Engine | Connection,
    ref: int | str,
    changes: Mapping[str, Any],
    *,
    by: str | None = None,
    reason: str | None = None,
) -> ExperimentInfo:
    """Change registered fields: freely while a draft (each change kept), after the start only as a deviation."""
    unknown = [k for k in changes if k not in EDITABLE]
    if unknown:
        raise ExperimentError(f"cannot edit {', '.join(unknown)}; editable: {', '.join(EDITABLE)}")
    who = who_acts(by)
    with transaction(db) as conn:
        row = experiment_row(conn, ref)
        if row.status == "completed":
            raise ExperimentError("a completed experiment cannot be changed")
        if "practice_document_id" in changes:
            _check_practice_document(conn, changes["practice_document_id"])
        kind = "edited" if row.status == "draft" else "deviation"
        if kind == "deviation" and not (reason and reason.strip()):
            raise ExperimentError(
                "the experiment has started: a change is a deviation and needs a reason",
                {"reason": "the experiment has started: a change is a deviation and needs a reason"},
            )
        for name, value in changes.items():
            old = getattr(row, name)
            if old == value:
                continue
            conn.execute(update(Experiment).where(Experiment.id == row.id).values({name: value}))
            record_event(conn, row.id, who, kind, field_name=name, old=old, new=value, reason=reason)
        return get_experiment(conn, row.id)


def start_experiment(db: Engine | Connection, ref: int | str, *, by: str | None = None) -> ExperimentInfo:
    """Lock the registration (its checksum is stored); a randomised design must be allocated first."""
    who = who_acts(by)
    with transaction(db) as conn:
        row = experiment_row(conn, ref)
        if row.status != "draft":
            raise ExperimentError(f"the experiment is {row.status} already")
        info = get_experiment(conn, row.id)
        if row.design in RANDOMISED and any(arm is None for arm in info.units.values()):
            raise ExperimentError("allocate the units first (`forewarn experiment allocate CODE --seed N`)")
        checksum = registration_checksum(info)
        conn.execute(
            update(Experiment)
            .where(Experiment.id == row.id)
            .values(status="started", started_at=now_utc(), registration_checksum=checksum)
        )
        record_event(conn, row.id, who, "started", new=checksum)
        return get_experiment(conn, row.id)


def get_experiment(db: Engine | Connection, ref: int | str) -> ExperimentInfo:
    """The experiment with its units, audit trail, allocation and results."""
    if isinstance(db, Engine):
        with read_connection(db) as conn:
            return get_experiment(conn, ref)
    conn = db
    row = experiment_row(conn, ref)
    indicator = conn.execute(
        select(Indicator.code).where(Indicator.id == row.outcome_indicator_id)
    ).scalar_one()
    owner_org = (
        conn.execute(select(Organisation.code).where(Organisation.id == row.owner_organisation_id)).scalar()
        if row.owner_organisation_id
        else None
    )
    unit_rows = conn.execute(
        select(Organisation.code, ExperimentUnit.arm, ExperimentUnit.stratum)
        .join(Organisation, Organisation.id == ExperimentUnit.organisation_id)
        .where(ExperimentUnit.experiment_id == row.id)
        .order_by(Organisation.code)
    ).all()
    events = [
        {
            "at": e.at.isoformat() if e.at else None,
            "by": e.by,
            "kind": e.kind,
            "field": e.field,
            "old": e.old_value,
            "new": e.new_value,
            "reason": e.reason,
        }
        for e in conn.execute(
            select(ExperimentEvent)
            .where(ExperimentEvent.experiment_id == row.id)
            .order_by(ExperimentEvent.id)
        ).all()
    ]
    allocation = conn.execute(
        select(ExperimentAllocation)
        .where(ExperimentAllocation.experiment_id == row.id)
        .order_by(ExperimentAllocation.id.desc())
    ).first()
    results = [
        {
            "id": r.id,
            "method": r.method,
            "pre_registered": r.pre_registered,
            "padlocks": r.padlocks,
            "rating": r.rating,
            "result": r.result,
            "analysed_by": r.analysed_by,
            "analysed_at": r.analysed_at.isoformat(),
            "library_document_id": r.library_document_id,
        }
        for r in conn.execute(
            select(ExperimentResult)
            .where(ExperimentResult.experiment_id == row.id)
            .order_by(ExperimentResult.id)
        ).all()
    ]
    return ExperimentInfo(
        id=row.id,
        code=row.code,
        title=row.title,
        hypothesis=row.hypothesis,
        adapted_practice=row.adapted_practice,
        unit_kind=row.unit_kind,
        outcome_indicator=indicator,
        design=row.design,
        analysis_plan=dict(row.analysis_plan),
        minimum_effect=row.minimum_effect,
        owner=row.owner,
        owner_organisation=owner_org,
        status=row.status,
        planned_start=row.planned_start,
        planned_end=row.planned_end,
        design_calculation=row.design_calculation,
        registration_checksum=row.registration_checksum,
        created_by=row.created_by,
        created_at=row.created_at,
        started_at=row.started_at,
        practice_document_id=row.practice_document_id,
        units={u.code: u.arm for u in unit_rows},
        strata={u.code: u.stratum for u in unit_rows},
        events=events,
        allocation=None
        if allocation is None
        else {
            "seed": allocation.seed,
            "method": allocation.method,
            "method_version": allocation.method_version,
            "checksum": allocation.checksum,
            "created_by": allocation.created_by,
        },
        results=results,
    )
