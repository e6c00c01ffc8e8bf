"""The store as it stood on any date: what had been published by then, and nothing after.

Every feature of the risk model at an origin date is built from this view only. An observation is known from its
publication date: the end of its period plus its dataset's publication lag, as the dataset's mapping sets it
(``dataset.publication_lag_days``, stored with the dataset), or a default lag (30 days) for a dataset whose
mapping sets none: NHS England's monthly A&E figures, for example, appear on the second Thursday of the next
month, Fingertips' annual public-health indicators a year or more after theirs. An event is known on its date; a survey
wave's organisation results when its last answers came in (the month after its fieldwork). Learning activity
(practice-library documents an organisation wrote, experiments it registered, started or analysed) is known on
its date (:mod:`forewarn.risk.activity`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field

import polars as pl
from sqlalchemy import Connection

from forewarn.risk.activity import ACTIVITY_SCHEMA, learning_activity
from forewarn.store.columnar import read_frame
from forewarn.surveillance.panel import INDICATOR_SCHEMA, OBSERVATION_SCHEMA

DEFAULT_PUBLICATION_LAG_DAYS = 30

_EVENT_SCHEMA = {"organisation_id": pl.Int64, "date": pl.Date, "kind": pl.String, "grade": pl.String}
_ORGANISATION_SCHEMA = {
    "organisation_id": pl.Int64,
    "code": pl.String,
    "name": pl.String,
    "type": pl.String,
    "dataset_code": pl.String,
    "simulated": pl.Boolean,
}
SOFT_SCHEMA = {
    "organisation_id": pl.Int64,
    "dimension": pl.String,
    "mean": pl.Float64,
    "sd": pl.Float64,
    "n": pl.Int64,
    "known_on": pl.Date,
}
"""Published survey cells as the risk model reads them (:func:`forewarn.risk.soft.survey_cells`)."""
_ATTRIBUTE_SCHEMA = {
    "organisation_id": pl.Int64,
    "name": pl.String,
    "valid_from": pl.Date,
    "value_number": pl.Float64,
}


@dataclass(frozen=True)
class StoreHistory:
    """Everything the risk model reads, each row with the date it became known (``known_on``)."""

    observations: (
        pl.DataFrame
    )  # OBSERVATION_SCHEMA + period_end, known_on (from the store: sorted by indicator)
    indicators: pl.DataFrame  # INDICATOR_SCHEMA
    events: pl.DataFrame  # organisation_id, date, kind, grade, known_on
    organisations: pl.DataFrame  # organisation_id, code, name, type, dataset_code, simulated
    attributes: pl.DataFrame  # organisation_id, name, valid_from, value_number, known_on
    soft: pl.DataFrame  # organisation_id, dimension, mean, sd, n, known_on (published survey cells)
    # organisation_id, kind, known_on: learning activity (library documents, experiments), one row an act
    activity: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=ACTIVITY_SCHEMA))

    def as_of(self, origin: dt.date, *, observations: bool = True) -> StoreHistory:
        """The history as it stood at ``origin``: only what was known on or before it.

        Without ``observations`` the view holds none (an empty frame of their schema): for readers that take
        the observations an indicator at a time (:meth:`observations_by_indicator`) or need none, so the whole
        history's observations are not copied at every origin."""
        known = pl.col("known_on") <= origin
        return StoreHistory(
            observations=self.observations.filter(known) if observations else self.observations.clear(),
            indicators=self.indicators,
            events=self.events.filter(known),
            organisations=self.organisations,
            attributes=self.attributes.filter(known),
            soft=self.soft.filter(known),
            activity=self.activity.filter(known),
        )

    def observations_by_indicator(self) -> Iterator[tuple[int, pl.DataFrame]]:
        """Each indicator's observations (of every date), in ascending ``indicator_id``: slices without a copy
        when the observations are sorted by indicator (as :func:`load_history` reads them), else filtered."""
        ids = self.observations["indicator_id"]
        ordered = ids.is_sorted()
        for indicator_id in ids.unique().sort().to_list():  # indicators: tens
            if ordered:
                first = int(ids.search_sorted(indicator_id, side="left"))
                end = int(ids.search_sorted(indicator_id, side="right"))
                yield indicator_id, self.observations.slice(first, end - first)
            else:
                yield indicator_id, self.observations.filter(pl.col("indicator_id") == indicator_id)

    def latest_known(self) -> dt.date | None:
        dates = [f["known_on"].max() for f in (self.observations, self.events) if f.height]
        known = [d for d in dates if isinstance(d, dt.date)]
        return max(known) if known else None


def load_history(
    conn: Connection,
    *,
    datasets: list[str] | None = None,
    publication_lag_days: int = DEFAULT_PUBLICATION_LAG_DAYS,
    soft: pl.DataFrame | None = None,
) -> StoreHistory:
    """Read the store's observations, events, organisations and attributes (of ``datasets``, or all).

    Each observation is known from its period's end plus its indicator's dataset's publication lag, or
    ``publication_lag_days`` for a dataset without one.

    ``soft`` holds published survey cells (organisation_id, dimension, mean, sd, n, known_on), from
    :func:`forewarn.risk.soft.survey_cells`.
    """
    lags = read_frame(
        conn,
        "SELECT i.id, d.publication_lag_days FROM indicators i LEFT JOIN datasets d ON d.id = i.dataset_id",
        {"indicator_id": pl.Int64, "lag_days": pl.Int64},
    )
    lag = pl.duration(days=pl.col("lag_days").fill_null(publication_lag_days))
    organisations = read_frame(
        conn,
        "SELECT o.id, o.code, o.name, o.type, d.code, COALESCE(d.simulated, FALSE) "
        "FROM organisations o LEFT JOIN datasets d ON d.id = o.dataset_id",
        _ORGANISATION_SCHEMA,
    )
    if datasets is not None:
        organisations = organisations.filter(pl.col("dataset_code").is_in(datasets))
    chosen = organisations.select("organisation_id")
    observations = _observations(conn, chosen, lags, lag)
    indicators = read_frame(conn, "SELECT id, code, kind, polarity, target FROM indicators", INDICATOR_SCHEMA)
    indicators = indicators.join(observations.select("indicator_id").unique(), on="indicator_id", how="semi")
    events = (
        read_frame(conn, "SELECT organisation_id, date, kind, grade FROM events", _EVENT_SCHEMA)
        .join(chosen, on="organisation_id", how="semi")
        .with_columns(pl.col("date").alias("known_on"))
    )
    attributes = (
        read_frame(
            conn,
            "SELECT organisation_id, name, valid_from, value_number FROM organisation_attributes "
            "WHERE value_number IS NOT NULL",
            _ATTRIBUTE_SCHEMA,
        )
        .join(chosen, on="organisation_id", how="semi")
        .with_columns(pl.col("valid_from").alias("known_on"))
    )
    soft_cells = (
        soft.join(chosen, on="organisation_id", how="semi")
        if soft is not None
        else pl.DataFrame(schema=SOFT_SCHEMA)
    )
    activity = learning_activity(conn).join(chosen, on="organisation_id", how="semi")
    return StoreHistory(observations, indicators, events, organisations, attributes, soft_cells, activity)


def _observations(conn: Connection, chosen: pl.DataFrame, lags: pl.DataFrame, lag: pl.Expr) -> pl.DataFrame:
    """Every observation of the ``chosen`` organisations with the date it became known, sorted by indicator (so
    :meth:`StoreHistory.observations_by_indicator` slices it without copies). Read through the store's
    columnar bulk reader (ADBC on a SQLite file), the largest read of the risk model."""
    schema = {**OBSERVATION_SCHEMA, "period_end": pl.Date}
    return (
        read_frame(conn, f"SELECT {', '.join(schema)} FROM observations", schema, bulk=True)
        .join(chosen, on="organisation_id", how="semi")
        .join(lags, on="indicator_id", how="left")
        .with_columns((pl.col("period_end") + lag).alias("known_on"))
        .drop("lag_days")
        .sort("indicator_id")
    )


__all__ = ["DEFAULT_PUBLICATION_LAG_DAYS", "SOFT_SCHEMA", "StoreHistory", "load_history"]
