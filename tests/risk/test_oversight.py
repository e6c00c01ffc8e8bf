"""The regulator's own commitments (forewarn.risk.oversight) against a derivation by hand, as of an origin."""

from __future__ import annotations

import datetime as dt
import math

import polars as pl

from forewarn.risk.history import StoreHistory
from forewarn.risk.oversight import MONTHS_CAP, OVERSIGHT_COLUMNS, oversight_features
from forewarn.risk.reasons import meaning

ORIGIN = dt.date(2022, 1, 1)


def _history() -> StoreHistory:
    rows = [
        # organisation, date, kind
        (1, dt.date(2020, 1, 1), "inspection"),
        (1, dt.date(2021, 10, 1), "intervention_start"),  # after its last inspection, still running
        (2, dt.date(2021, 3, 1), "inspection"),
        (2, dt.date(2021, 3, 1), "intervention_start"),  # started at the inspection (special measures)
        (3, dt.date(2019, 6, 1), "intervention_start"),
        (3, dt.date(2020, 6, 1), "inspection"),  # the responsive inspection came
        (3, dt.date(2020, 12, 1), "intervention_end"),  # ended 396 days before the origin
        (4, dt.date(2018, 1, 1), "intervention_start"),
        (4, dt.date(2019, 1, 1), "intervention_end"),  # ended long ago: capped
        (5, dt.date(2021, 11, 1), "intervention_start"),  # never inspected
        (1, dt.date(2022, 2, 1), "inspection"),  # after the origin: unknown then
        (3, dt.date(2022, 2, 1), "intervention_start"),  # after the origin
    ]
    events = pl.DataFrame(
        {
            "organisation_id": [r[0] for r in rows],
            "date": [r[1] for r in rows],
            "kind": [r[2] for r in rows],
            "grade": [None] * len(rows),
            "known_on": [r[1] for r in rows],
        },
        schema={
            "organisation_id": pl.Int64,
            "date": pl.Date,
            "kind": pl.String,
            "grade": pl.String,
            "known_on": pl.Date,
        },
    )
    organisations = pl.DataFrame({"organisation_id": [1, 2, 3, 4, 5, 6]})
    empty = pl.DataFrame()
    return StoreHistory(empty, empty, events, organisations, empty, empty)


def test_commitments_as_of_the_origin() -> None:
    known = _history()
    known = StoreHistory(
        known.held_observations,
        known.indicators,
        known.events.filter(pl.col("known_on") <= ORIGIN),
        known.organisations,
        known.attributes,
        known.soft,
    )
    out = oversight_features(known, ORIGIN).sort("organisation_id")
    assert out.columns == ["organisation_id", *OVERSIGHT_COLUMNS]
    # 1: intervened after its last inspection, not ended; 2: intervened at its inspection (not after it);
    # 3: inspected after its intervention, which ended 396 days (13.01 months) before; 4: ended 36 months ago,
    # never inspected since it started;
    # 5: intervened, never inspected; 6: nothing.
    assert out["intervention_since_inspection"].to_list() == [1.0, 0.0, 0.0, 1.0, 1.0, 0.0]
    assert out["in_intervention"].to_list() == [1.0, 1.0, 0.0, 0.0, 1.0, 0.0]
    months = out["months_since_intervention_end"].to_list()
    assert math.isclose(months[2], 396 / 30.44, rel_tol=1e-12)
    assert months[:2] + months[3:] == [MONTHS_CAP] * 5
    assert all(meaning(c) is not None for c in OVERSIGHT_COLUMNS)


def test_events_after_the_origin_are_not_read() -> None:
    # The function itself keeps to events dated on or before the origin, even when given more.
    later = oversight_features(_history(), ORIGIN).sort("organisation_id")
    assert later["intervention_since_inspection"].to_list() == [1.0, 0.0, 0.0, 1.0, 1.0, 0.0]
    assert later["in_intervention"].to_list() == [1.0, 1.0, 0.0, 0.0, 1.0, 0.0]
