"""The experiments registry: register, design, allocate, start (which locks the registration), analyse.

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

from forewarn.domain import improvement_side
from forewarn.experiments.padlocks import mdes_from_standard_error, rate
from forewarn.store.database import read_connection, transaction
from forewarn.store.models import Indicator, Observation, Organisation
from forewarn.store.models_experiments import (
    EXPERIMENT_DESIGNS,
    UNIT_KINDS,
    Experiment,
    ExperimentAllocation,
    ExperimentEvent,
    ExperimentResult,
    ExperimentUnit,
)

ANALYSES = ("difference_in_means", "cluster_robust", "its", "synthetic_control", "staggered_did")
RANDOMISED = ("individual", "cluster", "stepped_wedge")
MATCHED_ANALYSES = {
    "individual": ("difference_in_means", "cluster_robust", "its"),
    "cluster": ("difference_in_means", "cluster_robust", "its"),
    "stepped_wedge": ("cluster_robust", "its"),
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
)

__all__ = [
    "ANALYSES",
    "ExperimentError",
    "ExperimentInfo",
    "ExperimentNotFoundError",
    "ExperimentSpec",
    "allocate_experiment",
    "analyse_experiment",
    "create_experiment",
    "design_experiment",
    "edit_experiment",
    "get_experiment",
    "list_experiments",
    "start_experiment",
]


class ExperimentError(Exception):
    """A request the registry refuses; the message says why."""


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


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _who(by: str | None) -> str:
    return by or getpass.getuser()


def _jsonable(value: object) -> object:
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _event(
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
            at=_now(),
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
        raise ExperimentError(f"unknown organisation code(s): {', '.join(unknown[:20])}")
    return {c: known[c] for c in wanted}


def _row(conn: Connection, ref: int | str) -> Any:
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
    problems = []
    if spec.design not in EXPERIMENT_DESIGNS:
        problems.append(f"design must be one of {', '.join(EXPERIMENT_DESIGNS)}")
    if spec.analysis not in ANALYSES:
        problems.append(f"analysis must be one of {', '.join(ANALYSES)}")
    if spec.unit_kind not in UNIT_KINDS:
        problems.append(f"unit kind must be one of {', '.join(UNIT_KINDS)}")
    if spec.planned_end <= spec.planned_start:
        problems.append("the planned end must be after the planned start")
    if not spec.hypothesis.strip():
        problems.append("a hypothesis is needed")
    if spec.minimum_effect <= 0:
        problems.append(
            "the minimum effect of interest must be positive (in standard deviations of the outcome)"
        )
    if len(set(spec.units)) < 2:
        problems.append("an experiment needs at least two units")
    if spec.strata_by not in (None, "region", "type"):
        problems.append("strata can be by region or type")
    if spec.design in MATCHED_ANALYSES and spec.analysis not in MATCHED_ANALYSES[spec.design]:
        problems.append(
            f"a {spec.design} design is analysed by {', '.join(MATCHED_ANALYSES[spec.design])}, not {spec.analysis}"
        )
    if spec.design in RANDOMISED and (spec.treated or spec.adoption):
        problems.append("a randomised design's arms come from its allocation: do not name treated units")
    if spec.design not in RANDOMISED and spec.design != "its" and not spec.treated:
        problems.append(f"a {spec.design} design needs the units that adopt the practice (treated)")
    if set(spec.treated) - set(spec.units) or set(spec.adoption) - set(spec.treated):
        problems.append("treated units (and adoption dates) must be among the experiment's units")
    if spec.design == "synthetic_control" and len(set(spec.treated)) != 1:
        problems.append("a synthetic control has exactly one treated unit")
    if problems:
        raise ExperimentError("; ".join(problems))
    who = _who(by)
    with transaction(db) as conn:
        if conn.execute(select(Experiment.id).where(Experiment.code == spec.code)).first() is not None:
            raise ExperimentError(f"an experiment {spec.code!r} exists already")
        indicator = conn.execute(
            select(Indicator.id).where(Indicator.code == spec.outcome_indicator)
        ).scalar()
        if indicator is None:
            raise ExperimentError(f"unknown indicator {spec.outcome_indicator!r}")
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
                    created_at=_now(),
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
        _event(conn, experiment_id, who, "created", new=spec.code)
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
    who = _who(by)
    with transaction(db) as conn:
        row = _row(conn, ref)
        if row.status == "completed":
            raise ExperimentError("a completed experiment cannot be changed")
        kind = "edited" if row.status == "draft" else "deviation"
        if kind == "deviation" and not (reason and reason.strip()):
            raise ExperimentError("the experiment has started: a change is a deviation and needs a reason")
        for name, value in changes.items():
            old = getattr(row, name)
            if old == value:
                continue
            conn.execute(update(Experiment).where(Experiment.id == row.id).values({name: value}))
            _event(conn, row.id, who, kind, field_name=name, old=old, new=value, reason=reason)
        return get_experiment(conn, row.id)


def design_experiment(
    db: Engine | Connection,
    ref: int | str,
    *,
    alpha: float = 0.05,
    cluster_size: float | None = None,
    icc: float | None = None,
    steps: int | None = None,
    tau2: float | None = None,
    by: str | None = None,
) -> ExperimentInfo:
    """Power of the design for the minimum effect of interest (standardised), stored on the experiment.

    Individual: the units split evenly between two arms (t test). Cluster: organisations are clusters of
    ``cluster_size`` members with ``icc``. Stepped wedge: the units in ``steps`` equal steps, ``cluster_size`` a
    cluster-period, cluster variance ``tau2`` (in units of the outcome's variance, which is taken as 1).
    """
    from forewarn.stats.experiments import power

    with transaction(db) as conn:
        row = _row(conn, ref)
        n_units = len(
            conn.execute(
                select(ExperimentUnit.organisation_id).where(ExperimentUnit.experiment_id == row.id)
            ).all()
        )
        effect = float(row.minimum_effect)
        if row.design == "individual":
            result = power.PowerResult(
                "individual",
                power.individual_power(effect, n_units / 2, alpha),
                alpha,
                effect,
                {"n_per_arm": n_units / 2, "test": "t"},
            )
        elif row.design == "cluster":
            if cluster_size is None:
                raise ExperimentError(
                    "a cluster design needs --cluster-size (and --icc, or the store's estimate)"
                )
            source = "given"
            if icc is None:
                icc, source = _icc_from_store(conn, row)
            result = power.cluster_power(effect, n_units // 2, cluster_size, icc, alpha, test="t")
            result.detail["icc_source"] = source
        elif row.design == "stepped_wedge":
            if cluster_size is None or steps is None or tau2 is None:
                raise ExperimentError("a stepped wedge needs --cluster-size, --steps and --tau2")
            if n_units % steps:
                raise ExperimentError(f"{n_units} units do not split into {steps} equal steps")
            result = power.stepped_wedge_power(
                effect,
                power.stepped_wedge_design([n_units // steps] * steps),
                individual_variance=1.0,
                cluster_period_size=cluster_size,
                tau2=tau2,
                alpha=alpha,
            )
        else:
            raise ExperimentError(
                f"no prospective power calculation for a {row.design} design; its padlock rating uses the "
                "minimum detectable effect of the analysis itself"
            )
        calculation = result.to_dict()
        if row.status != "draft":
            _event(
                conn,
                row.id,
                _who(by),
                "deviation",
                field_name="design_calculation",
                new=calculation,
                reason="design recalculated after start",
            )
        else:
            _event(conn, row.id, _who(by), "design", new=calculation)
        conn.execute(update(Experiment).where(Experiment.id == row.id).values(design_calculation=calculation))
        return get_experiment(conn, row.id)


def _icc_from_store(conn: Connection, row: Any) -> tuple[float, str]:
    """ICC(1) of the outcome's values within the experiment's organisations before the planned start (one-way
    ANOVA with the ``n0`` group size, :func:`forewarn.stats.psychometrics.group_icc.group_icc`)."""
    import numpy as np

    from forewarn.stats.psychometrics.group_icc import group_icc

    members = select(ExperimentUnit.organisation_id).where(ExperimentUnit.experiment_id == row.id)
    found = conn.execute(
        select(Observation.organisation_id, Observation.value).where(
            Observation.indicator_id == row.outcome_indicator_id,
            Observation.organisation_id.in_(members),
            Observation.period_start < row.planned_start,
            Observation.value.is_not(None),
        )
    ).all()
    if len(found) < 3:
        raise ExperimentError("the store has too few values before the start to estimate the ICC: give --icc")
    orgs = np.array([r[0] for r in found])
    _, groups = np.unique(orgs, return_inverse=True)
    values = np.array([r[1] for r in found], dtype=float)
    estimate = group_icc(values, groups, group_size="n0")
    icc = float(estimate.icc1[0])
    if not np.isfinite(icc):
        raise ExperimentError(
            "the ICC cannot be estimated from the store (one organisation, or one value each)"
        )
    icc = min(max(icc, 0.0), 1.0)
    return (
        icc,
        f"store: ICC(1) of {len(values)} values in {int(groups.max()) + 1} organisations before the start",
    )


def allocate_experiment(
    db: Engine | Connection,
    ref: int | str,
    *,
    seed: int,
    arms: Sequence[str] | None = None,
    by: str | None = None,
) -> ExperimentInfo:
    """Randomise the units (stratified when the plan says so) with ``seed``; only before the start."""
    from forewarn.stats.experiments.allocation import allocate

    who = _who(by)
    with transaction(db) as conn:
        row = _row(conn, ref)
        if row.status != "draft":
            raise ExperimentError("the experiment has started: its allocation is fixed")
        if row.design not in RANDOMISED:
            raise ExperimentError(f"a {row.design} design is not randomised; nothing to allocate")
        units = conn.execute(
            select(Organisation.code, ExperimentUnit.stratum, ExperimentUnit.organisation_id)
            .join(Organisation, Organisation.id == ExperimentUnit.organisation_id)
            .where(ExperimentUnit.experiment_id == row.id)
        ).all()
        strata = {u.code: u.stratum for u in units} if row.analysis_plan.get("strata_by") else None
        if arms is None:
            steps = (row.design_calculation or {}).get("periods")
            arms = (
                [f"step {i}" for i in range(1, int(steps))]
                if row.design == "stepped_wedge" and steps
                else ["control", "intervention"]
            )
        allocation = allocate([u.code for u in units], seed=seed, arms=arms, strata=strata)
        record = allocation.to_dict()
        arm_of = allocation.arm_of()
        ids = {u.code: u.organisation_id for u in units}
        for code, arm in arm_of.items():
            conn.execute(
                update(ExperimentUnit)
                .where(ExperimentUnit.experiment_id == row.id, ExperimentUnit.organisation_id == ids[code])
                .values(arm=arm)
            )
        conn.execute(
            insert(ExperimentAllocation).values(
                experiment_id=row.id,
                seed=seed,
                method=allocation.method,
                method_version=allocation.method_version,
                allocation=record,
                checksum=str(record["checksum"]),
                created_by=who,
                created_at=_now(),
            )
        )
        _event(
            conn,
            row.id,
            who,
            "allocated",
            new={"seed": seed, "checksum": record["checksum"], "counts": allocation.counts()},
        )
        return get_experiment(conn, row.id)


def start_experiment(db: Engine | Connection, ref: int | str, *, by: str | None = None) -> ExperimentInfo:
    """Lock the registration (its checksum is stored); a randomised design must be allocated first."""
    who = _who(by)
    with transaction(db) as conn:
        row = _row(conn, ref)
        if row.status != "draft":
            raise ExperimentError(f"the experiment is {row.status} already")
        info = get_experiment(conn, row.id)
        if row.design in RANDOMISED and any(arm is None for arm in info.units.values()):
            raise ExperimentError("allocate the units first (`forewarn experiment allocate CODE --seed N`)")
        checksum = registration_checksum(info)
        conn.execute(
            update(Experiment)
            .where(Experiment.id == row.id)
            .values(status="started", started_at=_now(), registration_checksum=checksum)
        )
        _event(conn, row.id, who, "started", new=checksum)
        return get_experiment(conn, row.id)


def _frames(conn: Connection, row: Any) -> tuple[Any, Any]:
    """Per-observation frame (organisation, arm, period, value, post) for the experiment's units."""
    import pandas as pd  # type: ignore[import-untyped]

    units = pd.DataFrame(
        conn.execute(
            select(
                Organisation.code,
                ExperimentUnit.organisation_id,
                ExperimentUnit.arm,
                ExperimentUnit.adopted_on,
            )
            .join(Organisation, Organisation.id == ExperimentUnit.organisation_id)
            .where(ExperimentUnit.experiment_id == row.id)
            .order_by(Organisation.code)
        ).all(),
        columns=["code", "organisation_id", "arm", "adopted_on"],
    )
    observations = pd.DataFrame(
        conn.execute(
            select(Observation.organisation_id, Observation.period_start, Observation.value)
            .where(
                Observation.indicator_id == row.outcome_indicator_id,
                Observation.organisation_id.in_(units["organisation_id"].tolist()),
                Observation.value.is_not(None),
            )
            # A fixed order, so sums (and the stored result) are the same to the last digit on every database.
            .order_by(Observation.organisation_id, Observation.period_start)
        ).all(),
        columns=["organisation_id", "period_start", "value"],
    )
    frame = observations.merge(units, on="organisation_id")
    frame["post"] = (pd.to_datetime(frame["period_start"]) >= pd.Timestamp(row.planned_start)).astype(int)
    return units, frame


def analyse_experiment(
    db: Engine | Connection, ref: int | str, *, method: str | None = None, by: str | None = None
) -> ExperimentInfo:
    """Run the pre-registered analysis (or ``method``), rate it and store the result."""
    import numpy as np
    import pandas as pd

    from forewarn.stats.experiments.its import segmented_regression
    from forewarn.stats.experiments.means import cluster_robust, difference_in_means

    who = _who(by)
    with transaction(db) as conn:
        row = _row(conn, ref)
        if row.status == "draft":
            raise ExperimentError(
                "start the experiment before analysing it (the analysis plan must be locked first)"
            )
        planned = str(row.analysis_plan.get("method"))
        chosen = method or planned
        if chosen not in ANALYSES:
            raise ExperimentError(f"analysis must be one of {', '.join(ANALYSES)}")
        units, frame = _frames(conn, row)
        if frame.empty:
            raise ExperimentError("no observations of the outcome indicator for these organisations")
        arms = sorted({str(a) for a in units["arm"] if isinstance(a, str)})
        treated_arm = (
            "intervention" if "intervention" in arms or not arms else next(a for a in arms if a != "control")
        )
        frame["treated"] = (frame["arm"] == treated_arm).astype(int)
        pre = frame[frame["post"] == 0].groupby("code")["value"].mean()
        post = frame[frame["post"] == 1].groupby("code")["value"].mean()
        allocated = units["code"].tolist()
        attrition = 1 - len(post) / len(allocated)
        outcome_sd = float(post.std(ddof=1)) if len(post) > 2 else float("nan")
        arm_of = dict(zip(units["code"], units["arm"], strict=True))
        baseline = None
        if len(pre) and row.design in RANDOMISED:
            pre_t = pre[[arm_of[c] == treated_arm for c in pre.index]]
            pre_c = pre[[arm_of[c] != treated_arm for c in pre.index]]
            sd = float(pre.std(ddof=1))
            if len(pre_t) and len(pre_c) and sd > 0:
                baseline = float((pre_t.mean() - pre_c.mean()) / sd)
        if chosen == "difference_in_means":
            t = post[[arm_of[c] == treated_arm for c in post.index]]
            c = post[[arm_of[c] != treated_arm for c in post.index]]
            estimate = difference_in_means(t.to_numpy(), c.to_numpy())
            result: dict[str, Any] = estimate.to_dict()
            se = estimate.std_error
        elif chosen == "cluster_robust":
            data = frame[frame["post"] == 1].copy()
            covariates: list[str] = []
            if len(pre):
                data["baseline"] = data["code"].map(pre)
                data = data.dropna(subset=["baseline"])
                covariates = ["baseline"]
            try:
                estimate = cluster_robust(data, "value", "treated", "code", covariates)
            except ValueError as exc:
                raise ExperimentError(str(exc)) from None
            result = estimate.to_dict() | {"covariates": covariates}
            se = estimate.std_error
        elif chosen == "synthetic_control":
            result, se, outcome_sd = _synthetic(frame, units, row.planned_start)
        elif chosen == "staggered_did":
            result, se, outcome_sd = _staggered(frame, units)
        else:
            series = frame[frame["treated"] == 1] if row.design != "its" else frame
            mean = (
                series.groupby("period_start")
                .agg(value=("value", "mean"), post=("post", "max"))
                .reset_index()
            )
            mean["t"] = np.arange(1, len(mean) + 1)
            its = segmented_regression(
                mean, "value", "t", "post", family="gaussian", autocorrelation="newey-west"
            )
            result = its.to_dict()
            se = its.level_change.std_error
            result["estimate"] = its.level_change.estimate
            result["ci_low"], result["ci_high"] = its.level_change.ci_low, its.level_change.ci_high
            outcome_sd = float(mean.loc[mean["post"] == 0, "value"].std(ddof=1))
        usable = bool(np.isfinite(se) and se > 0 and np.isfinite(outcome_sd) and outcome_sd > 0)
        mdes = mdes_from_standard_error(se, outcome_sd) if usable else None
        rating = rate(row.design, mdes=mdes, attrition=max(0.0, attrition), baseline_difference=baseline)
        polarity = conn.execute(
            select(Indicator.polarity).where(Indicator.id == row.outcome_indicator_id)
        ).scalar_one()
        result |= {
            "outcome_sd": outcome_sd,
            "treated_arm": treated_arm,
            "units_with_outcome": len(post),
            "reading": reading(result, str(getattr(polarity, "value", polarity))),
        }
        conn.execute(
            insert(ExperimentResult).values(
                experiment_id=row.id,
                method=chosen,
                pre_registered=chosen == planned,
                result=json.loads(json.dumps(result, default=float)),
                padlocks=rating.padlocks,
                rating=rating.to_dict(),
                analysed_by=who,
                analysed_at=_now(),
            )
        )
        _event(
            conn,
            row.id,
            who,
            "analysed",
            new={"method": chosen, "padlocks": rating.padlocks},
            reason=None if chosen == planned else "not the pre-registered analysis",
        )
        _ = pd  # the frames above are pandas
        return get_experiment(conn, row.id)


def reading(result: Mapping[str, Any], polarity: str, alpha: float = 0.05) -> str:
    """What the result says in the indicator's own terms (its polarity, :mod:`forewarn.domain`): "improvement" or
    "worsening" when the interval (or, for a synthetic control, the placebo test) rules out no effect, else "no
    clear change"; "change" for an indicator with no better direction."""
    estimate, low, high = result.get("estimate"), result.get("ci_low"), result.get("ci_high")
    if not isinstance(estimate, int | float):
        return "no estimate"
    if isinstance(low, int | float) and isinstance(high, int | float):
        clear = low > 0 or high < 0
    else:
        p = result.get("p_value")
        clear = isinstance(p, int | float) and p < alpha
    if not clear or estimate == 0:
        return "no clear change"
    side = improvement_side(polarity)
    if side == 0:
        return "change"
    return "improvement" if side * estimate > 0 else "worsening"


def _panel(frame: Any) -> Any:
    """Units x periods of the outcome, keeping only the units observed in every period."""
    wide = frame.pivot_table(
        index="period_start", columns="code", values="value", aggfunc="mean"
    ).sort_index()
    return wide.dropna(axis=1)


def _synthetic(frame: Any, units: Any, start: dt.date) -> tuple[dict[str, Any], float, float]:
    """Synthetic control of the one treated unit from the comparison units; lagged outcomes as predictors."""
    import numpy as np
    import pandas as pd

    from forewarn.stats.experiments.synth import Predictor, synthetic_control

    wide = _panel(frame)
    treated = [c for c, a in zip(units["code"], units["arm"], strict=True) if a == "intervention"]
    if not treated or treated[0] not in wide.columns:
        raise ExperimentError("the treated unit has no complete series of the outcome")
    periods = list(range(len(wide.index)))
    pre = [i for i, p in enumerate(wide.index) if pd.Timestamp(p) < pd.Timestamp(start)]
    if len(pre) < 3 or len(pre) == len(periods):
        raise ExperimentError(
            "a synthetic control needs at least three periods before the start and one after"
        )
    long = (
        wide.reset_index(drop=True)
        .rename_axis("t")
        .reset_index()
        .melt(id_vars="t", var_name="unit", value_name="y")
    )
    picks = sorted({pre[0], pre[len(pre) // 2], pre[-1]})
    predictors = [Predictor("y", tuple(pre), label="pre-period mean"), *(Predictor("y", (i,)) for i in picks)]
    fit = synthetic_control(
        long,
        unit="unit",
        time="t",
        outcome="y",
        treated=treated[0],
        intervention=len(pre),
        predictors=predictors,
    )
    placebo_gaps = np.array([g[fit.post].mean() for g in fit.placebo_gaps.values()])
    se = float(placebo_gaps.std(ddof=1)) if len(placebo_gaps) > 1 else float("nan")
    out = fit.to_dict() | {
        "estimate": fit.average_post_gap,
        "ci_low": None,
        "ci_high": None,
        "std_error_from_placebos": se,
    }
    return out, se, float(np.std(wide.iloc[pre].to_numpy(), ddof=1))


def _staggered(frame: Any, units: Any) -> tuple[dict[str, Any], float, float]:
    """Callaway & Sant'Anna with each adopter's adoption period and the comparison units as never treated."""
    import pandas as pd

    from forewarn.stats.experiments.staggered import callaway_santanna

    wide = _panel(frame)
    index = {pd.Timestamp(p): i + 1 for i, p in enumerate(wide.index)}
    first: dict[str, int] = {}
    for code, arm, adopted in zip(units["code"], units["arm"], units["adopted_on"], strict=True):
        if code not in wide.columns:
            continue
        if arm == "intervention" and adopted is not None:
            later = [i for p, i in index.items() if p >= pd.Timestamp(adopted)]
            first[code] = min(later) if later else 0
        else:
            first[code] = 0
    long = (
        wide.reset_index(drop=True)
        .rename_axis("t")
        .reset_index()
        .melt(id_vars="t", var_name="unit", value_name="y")
    )
    long["t"] = long["t"] + 1
    long["g"] = long["unit"].map(first)
    fit = callaway_santanna(long, unit="unit", time="t", outcome="y", group="g")
    simple = fit.simple()
    out = fit.to_dict() | {"estimate": simple.att, "ci_low": simple.ci_low, "ci_high": simple.ci_high}
    pre_values = long[(long["g"] == 0) | (long["t"] < long["g"])]["y"]
    return out, simple.std_error, float(pre_values.std(ddof=1))


def get_experiment(db: Engine | Connection, ref: int | str) -> ExperimentInfo:
    """The experiment with its units, audit trail, allocation and results."""
    if isinstance(db, Engine):
        with read_connection(db) as conn:
            return get_experiment(conn, ref)
    conn = db
    row = _row(conn, ref)
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


def list_experiments(
    db: Engine | Connection, *, organisation_ids: Sequence[int] | None = None
) -> list[dict[str, Any]]:
    """Every experiment in brief; with ``organisation_ids``, only those owned by or including one of them."""
    if isinstance(db, Engine):
        with read_connection(db) as conn:
            return list_experiments(conn, organisation_ids=organisation_ids)
    conn = db
    query = select(
        Experiment.id,
        Experiment.code,
        Experiment.title,
        Experiment.design,
        Experiment.status,
        Experiment.planned_start,
        Experiment.owner,
    ).order_by(Experiment.code)
    if organisation_ids is not None:
        members = select(ExperimentUnit.experiment_id).where(
            ExperimentUnit.organisation_id.in_(list(organisation_ids))
        )
        query = query.where(
            Experiment.id.in_(members) | Experiment.owner_organisation_id.in_(list(organisation_ids))
        )
    out = []
    for r in conn.execute(query).all():
        latest = conn.execute(
            select(ExperimentResult.padlocks)
            .where(ExperimentResult.experiment_id == r.id)
            .order_by(ExperimentResult.id.desc())
        ).scalar()
        out.append(
            {
                "id": r.id,
                "code": r.code,
                "title": r.title,
                "design": r.design,
                "status": r.status,
                "planned_start": r.planned_start.isoformat(),
                "owner": r.owner,
                "padlocks": latest,
            }
        )
    return out
