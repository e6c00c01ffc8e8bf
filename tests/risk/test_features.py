"""The as-of features built an indicator at a time equal those of one scan over every indicator's panel at once
(the surveillance scan's own contract: each indicator's results depend on its own series alone, and the funnels'
false-discovery rate is taken across every series), whatever the order the observations come in."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from forewarn.risk import features
from forewarn.risk.features import _SCAN, _known_series, origin_features
from forewarn.risk.history import StoreHistory
from forewarn.surveillance.compute import compute_surveillance
from forewarn.surveillance.panel import OBSERVATION_SCHEMA, build_panel

ORIGIN = dt.date(2021, 7, 1)
KEYS = ["organisation_id", "indicator_id"]


@pytest.mark.parametrize("batch_rows", [1, 30_000, 10**9])
def test_series_an_indicator_at_a_time_equal_one_scan_of_every_indicator(
    history: StoreHistory, batch_rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reference is the scan of the whole panel known at the origin (what the features read before):
    funnel z and outliers after the store-wide false-discovery rate, SPC variation and current CUSUM alarms.
    Batches of one indicator, of a few, and of all."""
    monkeypatch.setattr(features, "_SCAN_ROWS", batch_rows)
    known = history.as_of(ORIGIN)
    whole = compute_surveillance(
        build_panel(known.observations.select(list(OBSERVATION_SCHEMA)), known.indicators), _SCAN
    ).status
    columns = ["funnel_z", "funnel_outlier", "spc_variation", "cusum_current"]
    series = _known_series(history, ORIGIN)
    assert series is not None
    assert series.height == whole.height
    # The same rows in the same order (indicator, then organisation): the features' sums add in that order.
    assert_frame_equal(series.select(*KEYS, *columns), whole.select(*KEYS, *columns))
    assert series["funnel_outlier"].drop_nulls().abs().sum() > 0  # some funnel flags to compare
    assert (series["cusum_current"] == 1).sum() > 0


def test_features_do_not_depend_on_the_order_of_the_observations(history: StoreHistory) -> None:
    """The history read from the store is sorted by indicator (sliced without copies); a history in any other
    order is filtered an indicator at a time and gives the same features, to the last bit."""
    assert history.observations["indicator_id"].is_sorted()
    order = np.random.default_rng(5).permutation(history.observations.height)
    shuffled = StoreHistory(
        history.observations[order],
        *(history.indicators, history.events, history.organisations, history.attributes, history.soft),
        history.activity,
    )
    assert not shuffled.observations["indicator_id"].is_sorted()
    assert_frame_equal(origin_features(history, ORIGIN).frame, origin_features(shuffled, ORIGIN).frame)


def test_a_view_without_observations_keeps_everything_else(history: StoreHistory) -> None:
    known = history.as_of(ORIGIN, observations=False)
    assert known.observations.is_empty()
    assert known.observations.schema == history.observations.schema
    assert_frame_equal(known.events, history.as_of(ORIGIN).events)
    assert known.events.height > 0
    assert (known.events["known_on"] <= ORIGIN).all()
    assert known.soft.height == history.soft.filter(pl.col("known_on") <= ORIGIN).height
