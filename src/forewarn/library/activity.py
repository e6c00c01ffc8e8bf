"""Learning activity as a soft signal (issue 13): how much an organisation's members look for knowledge from
others, per organisation and month. The research behind Forewarn found that organisations which avoid failure
seek knowledge from peers before they are in trouble; this counts the traces of it that Forewarn itself sees:

- ``search``: a library search (a query, not the list of latest notes);
- ``note_read``: a library document opened;
- ``neighbours``: an organisation's neighbours page opened (``deviants`` when with an indicator: who to learn
  from);
- ``experiment``: an experiment registered with the organisation as its owner (read from ``experiments``,
  not logged twice).

Only members' acts are logged (:func:`log_activity`, one small insert in the request's own transaction): the
regulator's analysts act for no organisation. The month is stored, not the moment.

**k-anonymous in every output** (:func:`activity_counts`): an organisation-month is shown only when at least
``min_group_size`` distinct accounts (the survey's minimum group size, default 5) did something in it; otherwise
every count of it is suppressed (None, with ``suppressed`` true), so nobody's searches or reading can be singled
out within a small organisation. The risk model may read the counts as features (a later helper's work).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import polars as pl
from sqlalchemy import Connection, insert, select

from forewarn.store.models_experiments import Experiment
from forewarn.store.models_peers import LearningActivity

KINDS = ("search", "note_read", "neighbours", "deviants", "experiment")
LOGGED_KINDS = frozenset(KINDS) - {"experiment"}

COUNTS_SCHEMA = {
    "organisation_id": pl.Int64,
    "month": pl.Date,
    "accounts": pl.Int64,
    "suppressed": pl.Boolean,
    **dict.fromkeys(KINDS, pl.Int64),
}


def month_of(day: dt.date | dt.datetime) -> dt.date:
    return dt.date(day.year, day.month, 1)


def log_activity(
    conn: Connection,
    organisation_id: int | None,
    user_id: int | None,
    kind: str,
    *,
    when: dt.date | None = None,
) -> bool:
    """Log one act of a member of ``organisation_id`` in the caller's transaction; nothing without an
    organisation (an analyst, an administrator). True when a row was written."""
    if kind not in LOGGED_KINDS:
        raise ValueError(f"kind must be one of {', '.join(sorted(LOGGED_KINDS))}, not {kind!r}")
    if organisation_id is None:
        return False
    month = month_of(when or dt.datetime.now(dt.UTC).date())
    conn.execute(
        insert(LearningActivity).values(
            organisation_id=int(organisation_id), user_id=user_id, month=month, kind=kind
        )
    )
    return True


def activity_counts(
    conn: Connection,
    *,
    min_group_size: int,
    organisation_ids: Sequence[int] | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
) -> pl.DataFrame:
    """Counts of each kind of learning activity per organisation and month (``month`` its first day), with the
    number of distinct accounts behind them; organisation-months of fewer than ``min_group_size`` accounts have
    every count suppressed (None) and ``suppressed`` true. ``since``/``until``: months from/before these dates
    (point in time for a model: ``until`` excludes the month it falls in if it is that month's first day)."""
    logged = select(
        LearningActivity.organisation_id,
        LearningActivity.month,
        LearningActivity.user_id,
        LearningActivity.kind,
    )
    experiments = select(
        Experiment.owner_organisation_id, Experiment.created_at, Experiment.created_by
    ).where(Experiment.owner_organisation_id.is_not(None))
    if organisation_ids is not None:
        ids = [int(i) for i in organisation_ids]
        logged = logged.where(LearningActivity.organisation_id.in_(ids))
        experiments = experiments.where(Experiment.owner_organisation_id.in_(ids))
    rows = [(int(o), m, f"user:{u}", str(k)) for o, m, u, k in conn.execute(logged)]
    rows += [
        (int(o), month_of(at), f"actor:{by}", "experiment")
        for o, at, by in conn.execute(experiments)
        if o is not None
    ]
    return k_anonymous_counts(
        pl.DataFrame(
            rows,
            schema={"organisation_id": pl.Int64, "month": pl.Date, "account": pl.String, "kind": pl.String},
            orient="row",
        ),
        min_group_size=min_group_size,
        since=since,
        until=until,
    )


def k_anonymous_counts(
    acts: pl.DataFrame, *, min_group_size: int, since: dt.date | None = None, until: dt.date | None = None
) -> pl.DataFrame:
    """The counting rule over a frame of acts (organisation_id, month, account, kind)."""
    if since is not None:
        acts = acts.filter(pl.col("month") >= month_of(since))
    if until is not None:
        acts = acts.filter(pl.col("month") < until)
    if acts.is_empty():
        return pl.DataFrame(schema=COUNTS_SCHEMA)
    counts = (
        acts.group_by("organisation_id", "month")
        .agg(
            pl.col("account").n_unique().alias("accounts"),
            *[(pl.col("kind") == kind).sum().cast(pl.Int64).alias(kind) for kind in KINDS],
        )
        .with_columns((pl.col("accounts") < min_group_size).alias("suppressed"))
    )
    hidden = pl.col("suppressed")
    return (
        counts.with_columns(
            *[pl.when(hidden).then(None).otherwise(pl.col(kind)).alias(kind) for kind in KINDS],
            pl.when(hidden).then(None).otherwise(pl.col("accounts")).alias("accounts"),
        )
        .select(list(COUNTS_SCHEMA))
        .cast(COUNTS_SCHEMA)  # type: ignore[arg-type]
        .sort("organisation_id", "month")
    )


__all__ = ["COUNTS_SCHEMA", "KINDS", "activity_counts", "k_anonymous_counts", "log_activity", "month_of"]
