"""The as-of features built an indicator at a time equal those of one scan over every indicator's panel at once
(the surveillance scan's own contract: each indicator's results depend on its own series alone, and the funnels'
false-discovery rate is taken across every series), whatever the order the observations come in."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from sqlalchemy import Engine

from forewarn.risk import features, store
from forewarn.risk.features import _SCAN, _known_series, origin_features, surveillance_by_origin
from forewarn.risk.history import StoreHistory, load_history
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


def test_the_store_read_a_batch_at_a_time_equals_the_history_held_in_memory(
    history: StoreHistory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The history read from the store keeps no observations: each batch of indicators is a query with the
    as-of filter in it, and one pass scans every origin. Its features equal those of the same observations held
    in memory and scanned an origin at a time (the reference: the frame filtered to each origin), to the bit."""
    assert history.reader is not None and history.held_observations.is_empty()
    monkeypatch.setattr(features, "_SCAN_ROWS", 30_000)  # several batches of a few indicators
    held = replace(history, held_observations=history.observations, reader=None)
    assert held.observations.height == history.reader.summary["rows"].sum() > 0
    origins = [dt.date(2020, 1, 1), ORIGIN, dt.date(2023, 1, 1)]
    together = surveillance_by_origin(history, origins)
    for origin in origins:
        alone = origin_features(held, origin)
        assert alone.frame.height > 0
        assert_frame_equal(origin_features(history, origin, together[origin]).frame, alone.frame)
    assert history.first_period() == held.first_period() == dt.date(2019, 1, 1)
    assert history.last_period() == held.last_period()
    assert history.latest_known() == held.latest_known()


def test_the_data_version_summed_a_batch_at_a_time_equals_the_whole_frame(
    history: StoreHistory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stored data version digests the observations' row hashes summed modulo 2**64: summed a batch of
    indicators at a time from the store it equals the sum over the whole frame held in memory at once."""
    held = replace(history, held_observations=history.observations, reader=None)
    monkeypatch.setattr(store, "_DIGEST_ROWS", 10**9)  # one batch: every observation at once
    whole = store.data_version(held)
    monkeypatch.setattr(store, "_DIGEST_ROWS", 10_000)  # a few indicators a query
    assert store.data_version(history) == whole
    assert store.data_version(replace(held, held_observations=held.observations[:-1])) != whole


def test_a_history_of_named_datasets_reads_the_same_observations_by_series(
    engine: Engine, history: StoreHistory
) -> None:
    """Named datasets: the reader's summary is grouped by series and kept for their organisations (not by
    indicator over the whole table); the observations, the periods and the latest known date are those of the
    whole history's rows of those organisations."""
    code = history.organisations["dataset_code"].drop_nulls()[0]
    with engine.connect() as conn:
        some = load_history(conn, datasets=[code])
    chosen = history.organisations.filter(pl.col("dataset_code") == code)["organisation_id"]
    expected = history.observations.filter(pl.col("organisation_id").is_in(chosen.implode()))
    key = ["indicator_id", "organisation_id", "period_start"]
    assert expected.height > 0
    assert_frame_equal(some.observations.sort(key), expected.sort(key))
    assert some.reader is not None and some.reader.summary["rows"].sum() == expected.height
    assert some.first_period() == expected["period_start"].min()
    assert some.last_period() == expected["period_start"].max()
    assert some.latest_known() == max(expected["known_on"].max(), some.events["known_on"].max())  # type: ignore[type-var]


def test_the_features_pass_over_every_observation_gives_the_data_version_of_a_read_of_its_own(
    engine: Engine, history: StoreHistory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The backtest's pass reads every observation (not only those known by its last origin) and keeps their
    row count and hash sum, so the data version needs no second read: the features equal those of a pass that
    stops at the last origin, and the data version equals that of a fresh history summing its own read."""
    monkeypatch.setattr(features, "_SCAN_ROWS", 30_000)
    origins = [dt.date(2020, 1, 1), ORIGIN]
    assert history.reader is not None and not history.reader.whole
    stopped = surveillance_by_origin(history, origins)
    assert not history.reader.whole  # a pass that stops at the last origin has not seen every row
    every = surveillance_by_origin(history, origins, read_all=True)
    for origin in origins:  # (a group-by's rows come in any order)
        assert_frame_equal(every[origin].sort("organisation_id"), stopped[origin].sort("organisation_id"))
    assert history.reader.whole["rows"] == history.reader.summary["rows"].sum()
    with engine.connect() as conn:
        fresh = load_history(conn, soft=history.soft)
    assert fresh.reader is not None and not fresh.reader.whole
    assert store.data_version(history) == store.data_version(fresh)


def test_a_history_read_while_an_import_commits_stops_instead_of_mixing_two_states(
    engine: Engine, history: StoreHistory
) -> None:
    """The observations are read after the history is loaded, on other connections: a read that follows a
    commit changing an indicator's observations (the importer moves the indicator's data version on in the same
    transaction, as here) stops with HistoryChanged, a ValueError the CLI reports, rather than mixing the store
    before and after it. Without a commit every read goes through."""
    from forewarn.risk.history import HistoryChanged

    origins = [ORIGIN]
    assert surveillance_by_origin(history, origins)[ORIGIN].height > 0
    assert history.indicator_observations([1]).height > 0
    with engine.begin() as conn:  # an import's commit: a changed value and its indicator's version moved on
        conn.exec_driver_sql(
            "UPDATE observations SET value = value + 1 WHERE id = (SELECT MIN(id) FROM observations)"
        )
        conn.exec_driver_sql(
            "UPDATE indicator_data_versions SET version = version + 1 WHERE indicator_id = "
            "(SELECT indicator_id FROM observations WHERE id = (SELECT MIN(id) FROM observations))"
        )
    with pytest.raises(HistoryChanged, match="changed while they were read"):
        surveillance_by_origin(history, origins)
    with pytest.raises(HistoryChanged):
        history.indicator_observations([1])
    with engine.connect() as conn:  # a history loaded after the commit reads it
        later = load_history(conn, soft=history.soft)
    assert surveillance_by_origin(later, origins)[ORIGIN].height > 0


def test_the_scans_without_rank_intervals_change_no_feature(
    history: StoreHistory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The as-of scans leave the league tables' rank intervals out (ranks are not features): the scan's status
    is that of a scan with them but for the ranks' columns, and every feature equals that of scans computing
    them, by either method (the conditional expected rank, or a simulation)."""
    from forewarn.surveillance.compute import compute_partition

    known = history.as_of(ORIGIN)
    panel = build_panel(known.observations.select(list(OBSERVATION_SCHEMA)), known.indicators)
    full = compute_partition(panel, _SCAN).status
    skipped = compute_partition(panel, _SCAN, rank_intervals=False).status
    ranks = [c for c in full.columns if c == "rank" or c.startswith("rank_")]
    assert ranks and full.select(ranks).drop_nulls().height > 0  # there were ranks to leave out
    assert_frame_equal(skipped, full.drop(ranks))

    origins = [dt.date(2020, 1, 1), ORIGIN]
    assert features._SCAN.rank_simulation_max_units == 0
    fast = surveillance_by_origin(history, origins, workers=0)

    def with_ranks(panel: object, options: object, **_: object) -> object:
        return compute_partition(panel, options, rank_intervals=True)  # type: ignore[arg-type]

    monkeypatch.setattr(features, "compute_partition", with_ranks)
    for scan in (features._SCAN, replace(features._SCAN, rank_simulation_max_units=10**9)):
        monkeypatch.setattr(features, "_SCAN", scan)
        ranked = surveillance_by_origin(history, origins, workers=0)
        for origin in origins:
            assert_frame_equal(fast[origin].sort("organisation_id"), ranked[origin].sort("organisation_id"))


def test_the_scans_in_a_pool_of_processes_equal_those_of_one_process(
    history: StoreHistory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pool of two (the command line's ``FOREWARN_SCHEDULER=pool:2``): each batch's origins split between two
    worker processes give the scans, the one-factor estimates and the data version's digest of one process, to
    the bit and in the same order, over several batches."""
    monkeypatch.setattr(features, "_SCAN_ROWS", 30_000)
    origins = [dt.date(2020, 1, 1), ORIGIN, dt.date(2023, 1, 1)]
    one = features.features_by_origin(history, origins, workers=0)
    assert history.reader is not None
    history.reader.whole.clear()
    pooled = features.features_by_origin(history, origins, read_all=True, workers=2)
    assert history.reader.whole["rows"] == history.reader.summary["rows"].sum()
    for origin in origins:
        assert one[0][origin].height > 0 and one[1][origin].height > 0
        for got, expected in zip(pooled, one, strict=True):  # (a group-by's rows come in any order)
            assert_frame_equal(got[origin].sort("organisation_id"), expected[origin].sort("organisation_id"))
    # And the series before they are summarised, row for row in the same order.
    serial, _ = features._series_by_origin(history, origins, workers=0)
    parallel, _ = features._series_by_origin(history, origins, workers=2)
    for origin in origins:
        assert serial[origin] is not None
        assert_frame_equal(parallel[origin], serial[origin])  # type: ignore[arg-type]


def test_origins_are_shared_between_workers_by_the_rows_they_know() -> None:
    """Largest first, each to the lightest worker so far: 8 origins whose known rows grow by one a year split
    into two groups of 18 rows each (8+5+4+1 and 7+6+3+2), each in ascending order; one worker takes all."""
    origins = [dt.date(2015 + i, 1, 1) for i in range(8)]
    batch = pl.DataFrame({"known_on": [dt.date(2015 + i, 1, 1) for i in range(8)]})
    groups = features._origin_groups(batch, origins, 2)
    assert groups == [
        [origins[0], origins[3], origins[4], origins[7]],
        [origins[1], origins[2], origins[5], origins[6]],
    ]
    assert features._origin_groups(batch, origins, 1) == [origins]
    assert features._origin_groups(batch, origins[:1], 2) == [origins[:1]]


def test_one_pass_gives_the_scans_and_the_one_factor_windows_of_two_passes(
    history: StoreHistory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The backtest reads the observations once for the as-of scans and the one-factor model's windows
    (:func:`features.features_by_origin`): both equal those of the two passes made apart (each with its own
    batches), to the bit, and the store's observations are read in one pass, not two."""
    from forewarn.risk.history import ObservationReader
    from forewarn.risk.latent import latent_by_origin

    monkeypatch.setattr(features, "_SCAN_ROWS", 30_000)  # other batches than the one-factor pass's own
    origins = [dt.date(2020, 1, 1), ORIGIN, dt.date(2023, 1, 1)]
    apart = surveillance_by_origin(history, origins), latent_by_origin(history, origins)
    passes: list[dt.date | None] = []
    batches = ObservationReader.batches

    def counted(self: ObservationReader, until: dt.date | None, max_rows: int):  # type: ignore[no-untyped-def]
        passes.append(until)
        return batches(self, until, max_rows)

    monkeypatch.setattr(ObservationReader, "batches", counted)
    together = features.features_by_origin(history, origins, read_all=True)
    assert passes == [None]
    for origin in origins:
        assert apart[1][origin].height > 0 and apart[1][origin].width == 4
        for got, expected in zip(together, apart, strict=True):  # (a group-by's rows come in any order)
            assert_frame_equal(got[origin].sort("organisation_id"), expected[origin].sort("organisation_id"))
    passes.clear()
    alone = origin_features(history, ORIGIN)  # one origin, as the watchlist scores: one pass too
    assert passes == [ORIGIN]
    assert_frame_equal(
        alone.frame, origin_features(history, ORIGIN, apart[0][ORIGIN], apart[1][ORIGIN]).frame
    )


def test_the_soft_interactions_are_products_and_annual_waves_give_no_trend(history: StoreHistory) -> None:
    """``soft_change_x_factor`` and ``soft_mean_x_factor`` are the soft change and level times the one-factor
    estimate of lasting performance, organisation by organisation; the trend needs three waves within a year,
    which one wave a year never gives (the fixture's design)."""
    frame = origin_features(history, ORIGIN).frame
    both = frame.filter(pl.col("soft_change").is_not_null() & pl.col("factor_level").is_not_null())
    assert both.height > 50
    assert both["soft_change_x_factor"].to_list() == (both["soft_change"] * both["factor_level"]).to_list()
    assert both["soft_mean_x_factor"].to_list() == (both["soft_mean"] * both["factor_level"]).to_list()
    assert frame["soft_trend"].null_count() == frame.height
