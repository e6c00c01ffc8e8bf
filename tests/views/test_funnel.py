"""An indicator's funnel as the scan left it: the stored points are the windowed totals the scan compared (derived
here from the CSV), its z-scores, limits and estimates are funnel_statistics (FunnelPlotR-checked) of those
totals, and the drawn limit curves pass through every drawn organisation's own limits, so each flag lies outside
them, and span the drawn organisations' denominators alone."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sqlalchemy import Engine, select

from forewarn.ingest.importer import import_file
from forewarn.stats.funnel import FunnelOptions, funnel_denominator_grid, funnel_statistics
from forewarn.store.models import Indicator, Organisation
from forewarn.surveillance.options import ScanOptions
from forewarn.surveillance.scan import ScanResult, run_scan
from forewarn.views.funnel import (
    GRID_POINTS,
    IndicatorFunnel,
    drawn_denominator_range,
    funnel_window_start,
    indicator_funnel,
)
from tests.surveillance.test_scan import MAPPING, _panel_csv

# A rate over the same counts: compared as a ratio to the pooled rate of the organisations in its funnel.
MAPPING_WITH_RATE = (
    MAPPING
    + "  - {code: deathrate, name: Deaths per 1000 attendances, kind: rate, polarity: lower_is_better,\n"
    + "     multiplier: 1000, numerator: deaths, denominator: attendances}\n"
)
LATEST = dt.date(2021, 12, 1)
# The latest 365 days of monthly data up to LATEST: the twelve months of 2021.
WINDOW = [dt.date(2021, m, 1) for m in range(1, 13)]
MISSES_LATEST = "ORG03"  # no observation at the latest period: not in the funnel
MISSES_ONE_MONTH = "ORG04"  # no June 2021: its totals are over eleven months


@pytest.fixture
def scanned(engine: Engine, tmp_path: Path) -> tuple[Engine, pl.DataFrame, ScanResult]:
    path = _panel_csv(tmp_path)
    frame = pl.read_csv(path, try_parse_dates=True).filter(
        ~((pl.col("org") == MISSES_LATEST) & (pl.col("period") == LATEST))
        & ~((pl.col("org") == MISSES_ONE_MONTH) & (pl.col("period") == dt.date(2021, 6, 1)))
    )
    frame.write_csv(path)
    import_file(engine, path, mapping_text=MAPPING_WITH_RATE)
    return engine, frame, run_scan(engine)


def _window_totals(frame: pl.DataFrame, window: list[dt.date] = WINDOW) -> pl.DataFrame:
    """Each organisation observed at the latest period, with its sums over the window, by organisation code."""
    at_latest = frame.filter(pl.col("period") == LATEST)["org"].to_list()
    return (
        frame.filter(pl.col("period").is_in(window) & pl.col("org").is_in(at_latest))
        .group_by("org")
        .agg(
            pl.col("seen", "attendances", "deaths", "expected").sum().cast(pl.Float64),
            pl.len().alias("months"),
        )
        .sort("org")
    )


def _funnel(engine: Engine, code: str, organisation_ids: set[int] | None = None) -> IndicatorFunnel:
    with engine.connect() as conn:
        indicator_id = conn.execute(select(Indicator.id).where(Indicator.code == code)).scalar_one()
        funnel = indicator_funnel(conn, indicator_id, organisation_ids)
    assert funnel is not None
    return funnel


def _codes(engine: Engine) -> dict[int, str]:
    with engine.connect() as conn:
        return {int(i): str(c) for i, c in conn.execute(select(Organisation.id, Organisation.code))}


def _expected_points(
    frame: pl.DataFrame, code: str, window: list[dt.date] = WINDOW
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Organisation codes, observed counts and denominators of the funnel the scan should have compared."""
    totals = _window_totals(frame, window)
    orgs = totals["org"].to_list()
    if code == "perf":
        return orgs, totals["seen"].to_numpy(), totals["attendances"].to_numpy()
    if code == "mort":
        return orgs, totals["deaths"].to_numpy(), totals["expected"].to_numpy()
    pooled_rate = totals["deaths"].sum() / totals["attendances"].sum()
    return orgs, totals["deaths"].to_numpy(), totals["attendances"].to_numpy() * pooled_rate


DATA_TYPES = {"perf": "PR", "mort": "SR", "deathrate": "SR"}


def test_the_window_is_the_latest_year(scanned: tuple[Engine, pl.DataFrame, ScanResult]) -> None:
    _, frame, _ = scanned
    totals = _window_totals(frame)
    assert MISSES_LATEST not in totals["org"].to_list()
    months = dict(zip(totals["org"], totals["months"], strict=True))
    assert months.pop(MISSES_ONE_MONTH) == 11 and set(months.values()) == {12}


@pytest.mark.parametrize("code", ["perf", "mort", "deathrate"])
def test_stored_points_are_the_windowed_totals_the_scan_compared(
    scanned: tuple[Engine, pl.DataFrame, ScanResult], code: str
) -> None:
    """Exact: ratio = O / denominator with O and the denominator (N, E, or attendances x pooled rate) summed
    over the window, for exactly the organisations observed at the latest period."""
    engine, frame, _ = scanned
    funnel = _funnel(engine, code)
    codes = _codes(engine)
    orgs, observed, denominator = _expected_points(frame, code)
    by_code = {codes[p.organisation_id]: p for p in funnel.points}
    assert sorted(by_code) == orgs
    stored_denominator = np.array([by_code[o].denominator for o in orgs])
    stored_ratio = np.array([by_code[o].ratio for o in orgs])
    np.testing.assert_array_equal(stored_denominator, denominator)
    np.testing.assert_array_equal(stored_ratio, observed / denominator)
    assert funnel.data_type == DATA_TYPES[code]
    assert funnel.period == LATEST
    assert (funnel.window_days, funnel.window_start) == (365, WINDOW[0])


def test_a_shorter_window_is_read_from_the_scan_and_its_start_is_the_first_period_summed(
    scanned: tuple[Engine, pl.DataFrame, ScanResult],
) -> None:
    """90 days before 1 December 2021 is 2 September 2021: the periods summed start on 1 October, 1 November and
    1 December."""
    engine, frame, _ = scanned
    run_scan(engine, ScanOptions(funnel_window_days=90))
    funnel = _funnel(engine, "perf")
    window = [dt.date(2021, 10, 1), dt.date(2021, 11, 1), dt.date(2021, 12, 1)]
    assert (funnel.window_days, funnel.window_start) == (90, window[0])
    codes = _codes(engine)
    orgs, observed, denominator = _expected_points(frame, "perf", window)
    by_code = {codes[p.organisation_id]: p for p in funnel.points}
    assert sorted(by_code) == orgs
    np.testing.assert_array_equal([by_code[o].denominator for o in orgs], denominator)
    np.testing.assert_array_equal([by_code[o].ratio for o in orgs], observed / denominator)


@pytest.mark.parametrize(
    ("period", "days", "start"),
    [
        # The scan sums the periods starting after period - days: 365 days before 1 March 2024 is 2 March 2023
        # (2024 is a leap year), so the first month summed is April 2023.
        (dt.date(2024, 3, 1), 365, dt.date(2023, 4, 1)),
        (dt.date(2021, 12, 1), 365, dt.date(2021, 1, 1)),
        # 1 February is 28 days before 1 March 2021, so not after it: only March is summed.
        (dt.date(2021, 3, 1), 28, dt.date(2021, 3, 1)),
        # 31 January is 29 days before: February and March are summed.
        (dt.date(2021, 3, 1), 29, dt.date(2021, 2, 1)),
        (dt.date(2021, 3, 1), 1, dt.date(2021, 3, 1)),
        # Periods not starting on the 1st: the first day after period - days.
        (dt.date(2021, 12, 15), 365, dt.date(2020, 12, 16)),
    ],
)
def test_the_window_starts_at_the_first_period_start_the_scan_sums(
    period: dt.date, days: int, start: dt.date
) -> None:
    assert funnel_window_start(period, days) == start


@pytest.mark.parametrize(
    ("denominators", "expected"),
    [
        # 46,400 = 58,000 / 1.25 rounds down to 46,000; 75,153.75 = 60,123 x 1.25 rounds up to 76,000.
        ([60123.0, 58000.0], (46000.0, 76000.0)),
        # One point: 8 = 10 / 1.25 and 12.5 = 10 x 1.25, rounded out to two significant figures.
        ([10.0], (8.0, 13.0)),
        # 0.296 = 0.37 / 1.25 down to 0.29; 0.4625 up to 0.47.
        ([0.37], (0.29, 0.47)),
    ],
)
def test_the_curves_span_the_drawn_denominators_widened_and_rounded_out(
    denominators: list[float], expected: tuple[float, float]
) -> None:
    assert drawn_denominator_range(denominators) == expected


def test_no_range_without_a_positive_denominator() -> None:
    with pytest.raises(ValueError, match="no denominators"):
        drawn_denominator_range([])
    with pytest.raises(ValueError, match="positive"):
        drawn_denominator_range([0.0, 5.0])


@pytest.mark.parametrize("code", ["perf", "mort", "deathrate"])
def test_stored_limits_and_estimates_are_the_funnel_statistics_of_those_totals(
    scanned: tuple[Engine, pl.DataFrame, ScanResult], code: str
) -> None:
    """Reference: funnel_statistics (checked against FunnelPlotR 0.6.0) of the derived totals, with the scan's
    options: over-dispersion by winsorised z (CQC), 10% trim, 99.8% limits."""
    engine, frame, _ = scanned
    funnel = _funnel(engine, code)
    codes = _codes(engine)
    orgs, observed, denominator = _expected_points(frame, code)
    result = funnel_statistics(
        observed,
        denominator,
        options=FunnelOptions(data_type=funnel.data_type, overdispersion="cqc", limit=99.8, trim=0.1),
    )
    by_code = {codes[p.organisation_id]: p for p in funnel.points}
    points = [by_code[o] for o in orgs]
    np.testing.assert_allclose([p.z for p in points], result.z_adjusted, rtol=1e-12)
    np.testing.assert_allclose([p.lower for p in points], result.lower, rtol=1e-12)
    np.testing.assert_allclose([p.upper for p in points], result.upper, rtol=1e-12)
    assert funnel.target == pytest.approx(result.target[0], rel=1e-12)
    assert funnel.phi == pytest.approx(result.phi[0], rel=1e-12)
    assert funnel.tau2 == pytest.approx(result.tau2_applied[0], rel=1e-12, abs=1e-15)
    assert funnel.limit == 99.8


def _curve_at(funnel: IndicatorFunnel, coverage: float, denominator: float) -> tuple[float, float]:
    curve = next(c for c in funnel.curves if c.coverage == coverage)
    at = curve.denominator.index(denominator)
    return curve.lower[at], curve.upper[at]


@pytest.mark.parametrize("code", ["perf", "mort", "deathrate"])
def test_drawn_curves_pass_through_each_organisations_limits_and_every_flag_is_outside(
    scanned: tuple[Engine, pl.DataFrame, ScanResult], code: str
) -> None:
    engine, _, _ = scanned
    funnel = _funnel(engine, code)
    assert [c.coverage for c in funnel.curves] == [95.0, 99.8]
    for point in funnel.points:
        lower, upper = _curve_at(funnel, funnel.limit, point.denominator)
        assert lower == pytest.approx(point.lower, rel=1e-12, abs=1e-15)
        assert upper == pytest.approx(point.upper, rel=1e-12)
        if point.outlier > 0:
            assert point.ratio > upper
        elif point.outlier < 0:
            assert point.ratio < lower
        narrow_lower, narrow_upper = _curve_at(funnel, 95.0, point.denominator)
        assert lower <= narrow_lower < narrow_upper <= upper
    # The curves span the drawn denominators, widened and rounded out, on a geometric grid plus the points.
    denominators = [p.denominator for p in funnel.points]
    for curve in funnel.curves:
        assert (curve.denominator[0], curve.denominator[-1]) == drawn_denominator_range(denominators)
        assert curve.denominator[0] < min(denominators) and max(denominators) < curve.denominator[-1]
        assert list(curve.denominator) == sorted(set(curve.denominator))
        assert set(denominators) <= set(curve.denominator)


def test_the_known_outliers_are_flagged(scanned: tuple[Engine, pl.DataFrame, ScanResult]) -> None:
    """ORG00's performance is 10 points down for the whole window; ORG01 has twice the expected deaths."""
    engine, _, _ = scanned
    codes = _codes(engine)
    flags = {
        code: {codes[p.organisation_id]: p.outlier for p in _funnel(engine, code).points if p.outlier}
        for code in DATA_TYPES
    }
    assert flags["perf"].get("ORG00") == -1
    assert flags["mort"].get("ORG01") == 1
    assert flags["deathrate"].get("ORG01") == 1


def test_counts_add_up_to_the_scan_summary(scanned: tuple[Engine, pl.DataFrame, ScanResult]) -> None:
    engine, _, scan = scanned
    funnels = [_funnel(engine, code) for code in DATA_TYPES]
    assert sum(f.compared for f in funnels) == scan.summary["funnel_tests"]
    assert sum(f.outside_limits for f in funnels) == scan.summary["funnel_outside_limits"]
    assert sum(f.flagged for f in funnels) == scan.summary["funnel_flags_after_fdr"]
    assert all(f.flagged <= f.outside_limits for f in funnels)


def test_points_of_some_organisations_keep_the_whole_funnels_counts_and_limits(
    scanned: tuple[Engine, pl.DataFrame, ScanResult],
) -> None:
    engine, _, _ = scanned
    whole = _funnel(engine, "mort")
    chosen = {whole.points[2].organisation_id, whole.points[5].organisation_id}
    some = _funnel(engine, "mort", chosen)
    assert {p.organisation_id for p in some.points} == chosen
    assert (some.compared, some.outside_limits, some.flagged) == (
        whole.compared,
        whole.outside_limits,
        whole.flagged,
    )
    assert (some.target, some.phi, some.tau2) == (whole.target, whole.phi, whole.tau2)
    for point in some.points:
        assert _curve_at(some, some.limit, point.denominator) == (point.lower, point.upper)
    # The curves are drawn over the chosen organisations' denominators alone: a geometric grid across their
    # widened range, plus the points themselves, whatever the other organisations' denominators.
    drawn = sorted(p.denominator for p in some.points)
    grid = funnel_denominator_grid(drawn_denominator_range(drawn), n_points=GRID_POINTS)[0]
    for curve in some.curves:
        assert curve.denominator == tuple(sorted({*grid.tolist(), *drawn}))
    # (Curves over the whole funnel would have reached an organisation not chosen.)
    assert min(p.denominator for p in whole.points) < drawn[0]


def test_a_funnel_with_no_point_drawn_has_no_curves(scanned: tuple[Engine, pl.DataFrame, ScanResult]) -> None:
    engine, _, _ = scanned
    none = _funnel(engine, "mort", set())
    assert none.points == () and none.curves == ()
    assert none.compared == _funnel(engine, "mort").compared


def test_a_rescan_at_95_percent_redraws_the_limits_it_flags_with(
    scanned: tuple[Engine, pl.DataFrame, ScanResult],
) -> None:
    engine, _, _ = scanned
    before = _funnel(engine, "mort")
    run_scan(engine, ScanOptions(funnel_limit=95.0))
    after = _funnel(engine, "mort")
    assert after.limit == 95.0 and [c.coverage for c in after.curves] == [95.0]
    assert after.outside_limits >= before.outside_limits
    for point in after.points:
        lower, upper = _curve_at(after, 95.0, point.denominator)
        assert (lower, upper) == (
            pytest.approx(point.lower, rel=1e-12),
            pytest.approx(point.upper, rel=1e-12),
        )
        assert point.outlier == 0 or (point.ratio > upper if point.outlier > 0 else point.ratio < lower)


def test_an_indicator_the_scan_did_not_compare_has_no_funnel(engine: Engine) -> None:
    with engine.connect() as conn:
        assert indicator_funnel(conn, 1) is None
