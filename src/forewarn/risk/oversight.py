"""The regulator's own commitments at an origin, from the events it published: who it has just intervened in and
not yet inspected, who is inside an intervention, and how long since an intervention ended (issue 11's accuracy
bar).

A failure is only found by an inspection, and a regulator's inspections are not only those of its schedule: it
inspects soon after it intervenes on what its surveillance picked out (a responsive inspection), and an
organisation already inside an intervention, or just out of one, is usually not picked again for a while. The
schedule features (the last grade, the months since it) cannot say either. So, per organisation and from the
events known at the origin only (``known.events``, every event known by its date):

- ``intervention_since_inspection``: 1 when an intervention started after the last inspection (or with none
  before it), i.e. a responsive inspection is still to come; 0 otherwise;
- ``in_intervention``: 1 while the latest intervention started has not ended (no ``intervention_end`` on or
  after its start);
- ``months_since_intervention_end``: months since the latest intervention ended, at most
  :data:`MONTHS_CAP` (also for organisations with none: "long ago" and "never" read alike to a model whose other
  features carry the history).

The simulator's regulator works this way (docs/simulator.md, "Surveillance and interventions": an organisation
picked by the screen is inspected within a few months, and is not eligible again until a cool-off after its
intervention ends); so do real ones (CQC's responsive inspections after information of concern; Ofsted's
monitoring of schools causing concern). Chosen on development seeds 31, 71 and 23 (docs/risk.md, "Every seed,
fourth pass").
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from forewarn.risk.history import DAYS_A_MONTH, StoreHistory

MONTHS_CAP = 24.0  # two years, as the other history features count recent events
OVERSIGHT_COLUMNS = ("intervention_since_inspection", "in_intervention", "months_since_intervention_end")


def oversight_features(known: StoreHistory, origin: dt.date) -> pl.DataFrame:
    """``organisation_id`` and :data:`OVERSIGHT_COLUMNS` for every organisation of ``known`` (a history as of
    ``origin``: :meth:`StoreHistory.as_of`), from its events dated on or before the origin."""
    events = known.events.filter(pl.col("date") <= origin)

    def latest(kind: str, name: str) -> pl.DataFrame:
        return (
            events.filter(pl.col("kind") == kind)
            .group_by("organisation_id")
            .agg(pl.col("date").max().alias(name))
        )

    frame = known.organisations.select("organisation_id")
    for part in (
        latest("inspection", "inspected"),
        latest("intervention_start", "started"),
        latest("intervention_end", "ended"),
    ):
        frame = frame.join(part, on="organisation_id", how="left")
    started, inspected, ended = pl.col("started"), pl.col("inspected"), pl.col("ended")
    return frame.select(
        "organisation_id",
        (started.is_not_null() & (inspected.is_null() | (started > inspected)))
        .cast(pl.Float64)
        .alias("intervention_since_inspection"),
        (started.is_not_null() & (ended.is_null() | (ended < started)))
        .cast(pl.Float64)
        .alias("in_intervention"),
        ((pl.lit(origin) - ended).dt.total_days() / DAYS_A_MONTH)
        .clip(upper_bound=MONTHS_CAP)
        .fill_null(MONTHS_CAP)
        .alias("months_since_intervention_end"),
    )


__all__ = ["MONTHS_CAP", "OVERSIGHT_COLUMNS", "oversight_features"]
