"""The experiments in brief, for lists: every experiment, or those an organisation owns or takes part in, each
with the padlock rating of its latest result (one experiment in full: :func:`forewarn.experiments.registry.get_experiment`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Engine, select

from forewarn.store.database import read_connection
from forewarn.store.models_experiments import Experiment, ExperimentResult, ExperimentUnit


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
