"""Learning activity as the risk model reads it (issue 11 with issue 13 item 5): what the store holds of an
organisation's own efforts to learn, each act dated, so that the point-in-time history can count them as of an
origin.

- ``library_document``: a practice-library document the organisation wrote (its own date, or when it was added).
- ``experiment_registered``: an experiment it owns, on the day it was registered.
- ``experiment_started``: an experiment it owns or takes part in, on the day it started.
- ``experiment_analysed``: an analysis of an experiment it owns, on the day it was run.
- ``search``, ``note_read``, ``neighbours``, ``deviants``: its members' library searches, documents read and
  neighbours or who-to-learn-from pages opened, as logged per month (:func:`logged_activity`, from
  :func:`forewarn.library.activity.activity_counts`): k-anonymous, so a month with fewer than the minimum group
  size of distinct accounts is left out (its counts are suppressed in every output, the model's included); each
  act is known on the first day of the month after it, when the month's count is complete.

The features (:func:`activity_features`) count each kind in the two years before the origin. They are soft
features (their names start ``soft_``), so the backtest's "do soft measures help?" question includes them; and
they exist only when the store holds some learning activity, so a store without any (the simulator's regions,
unless activity is loaded) gets exactly the features it had before.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
from sqlalchemy import Connection, func, select

from forewarn.library.activity import LOGGED_KINDS, activity_counts
from forewarn.store.models_experiments import Experiment, ExperimentResult, ExperimentUnit
from forewarn.store.models_peers import LibraryDocument

ACTIVITY_SCHEMA = {"organisation_id": pl.Int64, "kind": pl.String, "known_on": pl.Date}
FEATURES = {
    "library_document": "soft_library_documents_2y",
    "experiment_registered": "soft_experiments_registered_2y",
    "experiment_started": "soft_experiments_started_2y",
    "experiment_analysed": "soft_experiments_analysed_2y",
    "search": "soft_library_searches_2y",
    "note_read": "soft_library_notes_read_2y",
    "neighbours": "soft_neighbours_visits_2y",
    "deviants": "soft_deviants_visits_2y",
}
WINDOW_DAYS = 730
MIN_ACCOUNTS = 5
"""The k of the logged counts when the caller gives none: ``FOREWARN_MIN_GROUP_SIZE``'s default, the surveys'
minimum group size (the model reads the store, not the settings)."""


def _day(value: dt.date | dt.datetime | str | None) -> dt.date | None:
    """A stored date or time as a date (SQLite may return either as text)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.date() if isinstance(value, dt.datetime) else value


def learning_activity(conn: Connection) -> pl.DataFrame:
    """Every dated act of learning the store holds, one row each (ACTIVITY_SCHEMA)."""
    rows: list[tuple[int | None, str, dt.date | None]] = []
    documents = select(
        LibraryDocument.organisation_id, LibraryDocument.date, LibraryDocument.created_at
    ).where(LibraryDocument.organisation_id.is_not(None))
    rows += [(o, "library_document", _day(d) or _day(c)) for o, d, c in conn.execute(documents)]
    rows += _experiment_rows(conn, None)
    dated = pl.DataFrame(rows, schema=ACTIVITY_SCHEMA, orient="row").drop_nulls("known_on")
    return pl.concat([dated, logged_activity(conn)])


def experiment_activity(conn: Connection, experiment_id: int) -> pl.DataFrame:
    """The acts of learning one experiment gives its organisations (ACTIVITY_SCHEMA): the rows
    :func:`learning_activity` counts for it, by the same rules, so an experiment's page can say which features it
    feeds, for whom and from when."""
    rows = _experiment_rows(conn, experiment_id)
    return pl.DataFrame(rows, schema=ACTIVITY_SCHEMA, orient="row").drop_nulls("known_on")


def _experiment_rows(
    conn: Connection, experiment_id: int | None
) -> list[tuple[int | None, str, dt.date | None]]:
    """Experiments' acts of learning: every experiment's, or only ``experiment_id``'s."""
    one = [] if experiment_id is None else [Experiment.id == experiment_id]
    rows: list[tuple[int | None, str, dt.date | None]] = []
    owned = select(Experiment.owner_organisation_id, Experiment.created_at, Experiment.started_at).where(
        Experiment.owner_organisation_id.is_not(None), *one
    )
    for owner, created, started in conn.execute(owned):
        rows.append((owner, "experiment_registered", _day(created)))
        if started is not None:
            rows.append((owner, "experiment_started", _day(started)))
    taking_part = (
        select(ExperimentUnit.organisation_id, Experiment.started_at)
        .join(Experiment, Experiment.id == ExperimentUnit.experiment_id)
        .where(
            Experiment.started_at.is_not(None),
            func.coalesce(Experiment.owner_organisation_id, -1) != ExperimentUnit.organisation_id,
            *one,
        )
    )
    rows += [(o, "experiment_started", _day(s)) for o, s in conn.execute(taking_part)]
    analysed = (
        select(Experiment.owner_organisation_id, ExperimentResult.analysed_at)
        .join(Experiment, Experiment.id == ExperimentResult.experiment_id)
        .where(Experiment.owner_organisation_id.is_not(None), *one)
    )
    rows += [(o, "experiment_analysed", _day(a)) for o, a in conn.execute(analysed)]
    return rows


def logged_activity(conn: Connection, *, min_group_size: int = MIN_ACCOUNTS) -> pl.DataFrame:
    """The members' logged acts (searches, documents read, neighbours and deviants pages) one row each
    (ACTIVITY_SCHEMA), from the k-anonymous monthly counts: suppressed organisation-months are left out, and
    each act is known on the first day of the following month."""
    kinds = sorted(LOGGED_KINDS)
    counts = activity_counts(conn, min_group_size=min_group_size).filter(~pl.col("suppressed"))
    if counts.is_empty():
        return pl.DataFrame(schema=ACTIVITY_SCHEMA)
    return (
        counts.unpivot(on=kinds, index=["organisation_id", "month"], variable_name="kind", value_name="n")
        .filter(pl.col("n") > 0)
        .select(
            pl.col("organisation_id").repeat_by("n").explode(),
            pl.col("kind").repeat_by("n").explode(),
            pl.col("month").dt.offset_by("1mo").repeat_by("n").explode().alias("known_on"),
        )
        .cast(ACTIVITY_SCHEMA)  # type: ignore[arg-type]
    )


def activity_features(activity: pl.DataFrame, organisations: pl.DataFrame, origin: dt.date) -> pl.DataFrame:
    """Per organisation (every one in ``organisations``), the acts of each kind in the two years up to
    ``origin`` among those known by then (``activity`` already cut at the origin), zero when none."""
    since = origin - dt.timedelta(days=WINDOW_DAYS)
    recent = activity.filter((pl.col("known_on") > since) & (pl.col("known_on") <= origin))
    counts = recent.group_by("organisation_id").agg(
        (pl.col("kind") == kind).sum().cast(pl.Float64).alias(name) for kind, name in FEATURES.items()
    )
    return (
        organisations.select("organisation_id")
        .join(counts, on="organisation_id", how="left")
        .with_columns(pl.col(name).fill_null(0.0) for name in FEATURES.values())
    )


__all__ = [
    "ACTIVITY_SCHEMA",
    "FEATURES",
    "WINDOW_DAYS",
    "activity_features",
    "experiment_activity",
    "learning_activity",
    "logged_activity",
]
