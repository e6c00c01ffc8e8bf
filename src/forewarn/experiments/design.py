"""Designing and allocating a registered experiment before it starts: its power or sample size for the design
(:mod:`forewarn.stats.experiments.power`; a cluster design's ICC from the store when not given), and a seeded,
optionally stratified allocation kept with its checksum (:mod:`forewarn.stats.experiments.allocation`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Engine, insert, select, update

from forewarn.experiments.registry import (
    RANDOMISED,
    ExperimentError,
    ExperimentInfo,
    experiment_row,
    get_experiment,
    now_utc,
    record_event,
    who_acts,
)
from forewarn.store.database import transaction
from forewarn.store.models import Observation, Organisation
from forewarn.store.models_experiments import (
    Experiment,
    ExperimentAllocation,
    ExperimentUnit,
)

__all__ = ["allocate_experiment", "design_experiment"]


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
        row = experiment_row(conn, ref)
        n_units = len(
            conn.execute(
                select(ExperimentUnit.organisation_id).where(ExperimentUnit.experiment_id == row.id)
            ).all()
        )
        effect = float(row.minimum_effect)
        try:
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
                        "a cluster design needs --cluster-size (and --icc, or the store's estimate)",
                        {"cluster_size": "a cluster design needs the number of members in each cluster"},
                    )
                source = "given"
                if icc is None:
                    icc, source = _icc_from_store(conn, row)
                result = power.cluster_power(effect, n_units // 2, cluster_size, icc, alpha, test="t")
                result.detail["icc_source"] = source
            elif row.design == "stepped_wedge":
                if cluster_size is None or steps is None or tau2 is None:
                    missing = {
                        "cluster_size": "a stepped wedge needs the members in each cluster-period",
                        "steps": "a stepped wedge needs its number of steps",
                        "tau2": "a stepped wedge needs the between-cluster variance",
                    }
                    given = {"cluster_size": cluster_size, "steps": steps, "tau2": tau2}
                    raise ExperimentError(
                        "a stepped wedge needs --cluster-size, --steps and --tau2",
                        {k: v for k, v in missing.items() if given[k] is None},
                    )
                if n_units % steps:
                    message = f"{n_units} units do not split into {steps} equal steps"
                    raise ExperimentError(message, {"steps": message})
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
        except ValueError as exc:  # the statistics refuse the design as it stands
            raise ExperimentError(str(exc)) from None
        calculation = result.to_dict()
        if row.status != "draft":
            record_event(
                conn,
                row.id,
                who_acts(by),
                "deviation",
                field_name="design_calculation",
                new=calculation,
                reason="design recalculated after start",
            )
        else:
            record_event(conn, row.id, who_acts(by), "design", new=calculation)
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
        raise ExperimentError(
            "the store has too few values before the start to estimate the ICC: give --icc",
            {"icc": "the store has too few values before the start to estimate it: give it"},
        )
    orgs = np.array([r[0] for r in found])
    _, groups = np.unique(orgs, return_inverse=True)
    values = np.array([r[1] for r in found], dtype=float)
    estimate = group_icc(values, groups, group_size="n0")
    icc = float(estimate.icc1[0])
    if not np.isfinite(icc):
        raise ExperimentError(
            "the ICC cannot be estimated from the store (one organisation, or one value each)",
            {"icc": "it cannot be estimated from the store: give it"},
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
    steps: int | None = None,
    by: str | None = None,
) -> ExperimentInfo:
    """Randomise the units (stratified when the plan says so) with ``seed``; only before the start. A stepped
    wedge's arms are its steps: ``steps`` of them, or as many as its design calculation has."""
    from forewarn.stats.experiments.allocation import allocate

    who = who_acts(by)
    with transaction(db) as conn:
        row = experiment_row(conn, ref)
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
        if steps is not None and (steps < 2 or row.design != "stepped_wedge"):
            raise ExperimentError(
                "steps are for a stepped wedge, and it needs at least two", {"steps": "at least two steps"}
            )
        if arms is None and steps is not None:
            arms = [f"step {i}" for i in range(1, steps + 1)]
        if arms is None:
            steps = (row.design_calculation or {}).get("periods")
            if row.design == "stepped_wedge" and not steps:
                raise ExperimentError(
                    "a stepped wedge is allocated to steps: give their number (or design it first)",
                    {"steps": "give the number of steps"},
                )
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
                created_at=now_utc(),
            )
        )
        record_event(
            conn,
            row.id,
            who,
            "allocated",
            new={"seed": seed, "checksum": record["checksum"], "counts": allocation.counts()},
        )
        return get_experiment(conn, row.id)
