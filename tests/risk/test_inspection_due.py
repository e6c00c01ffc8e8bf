"""The chance of an inspection within the horizon (:func:`forewarn.risk.features.inspection_due`), against the
Kaplan-Meier estimate worked out by hand (Kaplan & Meier 1958: ``S(t)`` is the product over closed gaps of
``1 - closed / at risk``)."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from forewarn.risk.features import inspection_due
from forewarn.risk.history import StoreHistory

ORIGIN = dt.date(2022, 1, 1)


def _history() -> StoreHistory:
    rows = [
        # organisation, date, grade
        (1, dt.date(2019, 1, 1), "good"),  # a gap after good closed at 304 days (9.99 months)
        (1, dt.date(2019, 11, 1), "good"),  # a gap after good closed at 608 days (19.97 months)
        (1, dt.date(2021, 7, 1), "requires_improvement"),  # open at the origin: 184 days (6.04 months)
        (2, dt.date(2020, 1, 1), "good"),  # open: 731 days (24.01 months)
        (3, dt.date(2021, 3, 1), "good"),  # open: 306 days (10.05 months)
        (4, dt.date(2020, 1, 1), "requires_improvement"),  # closed at 517 days (16.98 months)
        (4, dt.date(2021, 6, 1), "good"),  # open: 214 days (7.03 months)
        (6, dt.date(2021, 1, 1), "outstanding"),  # open, and no gap after outstanding has closed
        (3, dt.date(2022, 3, 1), "inadequate"),  # after the origin: unknown then
    ]
    events = pl.DataFrame(
        {
            "organisation_id": [r[0] for r in rows],
            "date": [r[1] for r in rows],
            "kind": ["inspection"] * len(rows),
            "grade": [r[2] for r in rows],
            "known_on": [r[1] for r in rows],
        }
    )
    leadership = pl.DataFrame(
        {
            "organisation_id": [5],
            "date": [dt.date(2020, 5, 1)],
            "kind": ["leadership_change"],
            "grade": [None],
            "known_on": [dt.date(2020, 5, 1)],
        },
        schema=events.schema,
    )
    empty = pl.DataFrame()
    return StoreHistory(empty, empty, pl.concat([events, leadership]), empty, empty, empty)


@pytest.mark.parametrize(
    ("horizon", "expected"),
    [
        # After good, the gaps in months: 7.03 open, 9.99 closed, 10.05 open, 19.97 closed, 24.01 open, so
        # S = 1 before 9.99, 3/4 from 9.99 (4 at risk, 1 closed), 3/8 from 19.97 (2 at risk, 1 closed).
        # After requires improvement: 6.04 open, 16.98 closed (1 at risk): S = 0 from 16.98.
        # 12 months: org 1 1 - S(18.04) / S(6.04) = 1 - 0 / 1; org 2 1 - (3/8) / (3/8); org 3 1 - (3/8) / (3/4);
        # org 4 1 - (3/4) / 1; org 6 0 (no gap after outstanding closed); org 5 never inspected.
        (12, {1: 1.0, 2: 0.0, 3: 0.5, 4: 0.25, 6: 0.0}),
        # 6 months: org 1 S(12.04) = 1; org 3 S(16.05) / S(10.05) = 1; org 4 1 - S(13.03) = 1/4.
        (6, {1: 0.0, 2: 0.0, 3: 0.0, 4: 0.25, 6: 0.0}),
    ],
)
def test_inspection_due_is_the_kaplan_meier_chance_of_an_inspection_within_the_horizon(
    horizon: int, expected: dict[int, float]
) -> None:
    # The function reads inspections dated by the origin (the caller passes the history as of the origin).
    due = inspection_due(_history(), ORIGIN, horizon).sort("organisation_id")
    assert due["organisation_id"].to_list() == sorted(expected)
    assert due["inspection_due"].to_list() == pytest.approx(
        [expected[k] for k in sorted(expected)], abs=1e-12
    )


def test_no_inspections_give_no_rows() -> None:
    empty = pl.DataFrame()
    events = _history().events.clear()
    none = inspection_due(StoreHistory(empty, empty, events, empty, empty, empty), ORIGIN, 12)
    assert none.is_empty() and none.columns == ["organisation_id", "inspection_due"]
