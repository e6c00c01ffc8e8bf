"""The surveillance scan over a store: status and signals agree with derivations written here, and a rescan
changes only what changed."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sqlalchemy import Engine, insert, select

from forewarn.ingest.importer import import_file
from forewarn.store.models import Indicator, Organisation
from forewarn.store.models_surveillance import ScanRun, SeriesStatus, SpcBaseline
from forewarn.store.signals import read_signals
from forewarn.surveillance.options import ScanOptions
from forewarn.surveillance.scan import run_scan

MAPPING = """
version: 1
dataset: {code: scan_test, name: Scan test}
columns: {period: date, org: text, seen: number, attendances: number, deaths: number, expected: number}
organisation: {code: org}
period: {column: period, format: iso, frequency: month}
indicators:
  - {code: perf, name: Performance, kind: proportion, polarity: higher_is_better, target: 0.9,
     numerator: seen, denominator: attendances}
  - {code: mort, name: Mortality O/E, kind: ratio_oe, polarity: lower_is_better, numerator: deaths, expected: expected}
"""
MONTHS = 24


def _months() -> list[dt.date]:
    return [dt.date(2020 + m // 12, m % 12 + 1, 1) for m in range(MONTHS)]


def _panel_csv(tmp_path: Path, shift_org: str = "ORG00", seed: int = 3) -> Path:
    """20 organisations; ORG00's performance drops by 10 points after month 12; ORG01's deaths double then."""
    rng = np.random.default_rng(seed)
    rows = []
    for o in range(20):
        code = f"ORG{o:02d}"
        for m, month in enumerate(_months()):
            attendances = 1000
            p = 0.92 - (0.10 if code == shift_org and m >= 12 else 0.0)
            seen = rng.binomial(attendances, p)
            expected = 20.0
            deaths = rng.poisson(expected * (2.0 if code == "ORG01" and m >= 12 else 1.0))
            rows.append((month.isoformat(), code, seen, attendances, deaths, expected))
    path = tmp_path / "panel.csv"
    pl.DataFrame(
        rows, schema=["period", "org", "seen", "attendances", "deaths", "expected"], orient="row"
    ).write_csv(path)
    return path


@pytest.fixture
def scanned(engine: Engine, tmp_path: Path) -> tuple[Engine, Path]:
    path = _panel_csv(tmp_path)
    import_file(engine, path, mapping_text=MAPPING)
    run_scan(engine)
    return engine, path


def _status(engine: Engine, org: str, indicator: str) -> dict[str, object]:
    with engine.connect() as conn:
        row = (
            conn.execute(
                select(SeriesStatus.__table__)
                .join(Organisation, Organisation.id == SeriesStatus.organisation_id)
                .join(Indicator, Indicator.id == SeriesStatus.indicator_id)
                .where(Organisation.code == org, Indicator.code == indicator)
            )
            .mappings()
            .one()
        )
    return dict(row)


def _signals(engine: Engine, org: str, indicator: str) -> list[dict[str, object]]:
    """The stored signals of one series, through the one reader (``forewarn.store.signals.read_signals``)."""
    with engine.connect() as conn:
        organisation_id = conn.execute(select(Organisation.id).where(Organisation.code == org)).scalar_one()
        indicator_id = conn.execute(select(Indicator.id).where(Indicator.code == indicator)).scalar_one()
        signals = read_signals(conn, organisation_id, indicator_id=indicator_id)
    return [
        {
            "method": s.method,
            "rule": s.rule,
            "direction": s.direction,
            "period_start": s.period_start,
            "value": s.value,
            "scan_id": s.scan_id,
        }
        for s in signals
    ]


def _values(path: Path, org: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    frame = pl.read_csv(path).filter(pl.col("org") == org).sort("period")
    return (
        (frame["seen"] / frame["attendances"]).to_numpy(),
        frame["deaths"].to_numpy().astype(float),
        frame["expected"].to_numpy().astype(float),
    )


def test_every_series_gets_a_status(scanned: tuple[Engine, Path]) -> None:
    engine, _ = scanned
    with engine.connect() as conn:
        rows = conn.execute(select(SeriesStatus.id)).all()
    assert len(rows) == 40


def test_xmr_limits_match_the_making_data_count_formula(scanned: tuple[Engine, Path]) -> None:
    """Mean +- 2.66 x mean moving range (NHS England, Making Data Count), after screening moving ranges above
    3.267 x the mean moving range, as NHSRplotthedots does."""
    engine, path = scanned
    values, _, _ = _values(path, "ORG05")
    moving = np.abs(np.diff(values))
    amr = moving.mean()
    amr = moving[moving < 3.267 * amr].mean()
    status = _status(engine, "ORG05", "perf")
    assert status["spc_mean"] == pytest.approx(values.mean(), rel=1e-12)
    assert status["spc_upl"] == pytest.approx(values.mean() + 2.66 * amr, rel=1e-12)
    assert status["spc_lpl"] == pytest.approx(values.mean() - 2.66 * amr, rel=1e-12)


def test_a_sustained_drop_is_special_cause_concern(scanned: tuple[Engine, Path]) -> None:
    engine, _ = scanned
    status = _status(engine, "ORG00", "perf")
    assert status["spc_variation"] == "special_cause_concern"
    rules = {s["rule"] for s in _signals(engine, "ORG00", "perf") if s["method"] == "spc"}
    assert rules, "the drop must fire SPC rules"
    assert all(
        s["direction"] == "concern"
        for s in _signals(engine, "ORG00", "perf")
        if s["method"] == "spc" and s["period_start"] >= dt.date(2021, 1, 1)
    )


def _scan_summary(engine: Engine) -> dict[str, object]:
    with engine.connect() as conn:
        summary = conn.execute(select(ScanRun.summary).order_by(ScanRun.id.desc())).scalars().first()
    assert isinstance(summary, dict)
    return summary


def test_cusum_follows_its_own_baseline_derivation(scanned: tuple[Engine, Path]) -> None:
    """z_t = (sqrt(O/E) - 1 - b) / sqrt(1/(4E) + tau2 + var b), b the mean of the first 12 months (E is
    constant, so the weights are equal) and var b = (1/(4E) + tau2) / 12; C_t = max(0, C_{t-1} + z_t - k),
    alarm and restart at C >= h (Spiegelhalter 2005b scale; Page 1954). tau2, k and h are the scan's own, from
    its summary; their estimators are checked in tests/stats."""
    engine, path = scanned
    _, deaths, expected = _values(path, "ORG01")
    figures = _scan_summary(engine)["cusum_indicators"]["mort"]  # type: ignore[index]
    tau2, k, h = figures["tau2_within"], figures["k"], figures["h"]
    y = np.sqrt(deaths / expected) - 1.0
    variance = 1.0 / (4.0 * expected) + tau2
    baseline = y[:12].mean()
    z = (y - baseline) / np.sqrt(variance + variance[:12].mean() / 12)
    c, alarms, first, at_first = 0.0, 0, None, None
    for t, value in enumerate(z):
        c = max(0.0, c + value - k)
        if c >= h:
            alarms += 1
            if first is None:
                first, at_first = t, c  # the signal's value: the CUSUM as it crossed h, before the restart
            c = 0.0
    status = _status(engine, "ORG01", "mort")
    assert status["cusum_alarms"] == alarms
    assert first is not None and first >= 12, "doubled deaths from month 12 must alarm, and not before"
    signals = sorted(
        (s for s in _signals(engine, "ORG01", "mort") if s["method"] == "cusum"),
        key=lambda s: str(s["period_start"]),
    )
    assert signals[0]["period_start"] == _months()[first]
    assert signals[0]["value"] == pytest.approx(at_first)
    assert at_first is not None and at_first >= h


def test_organisations_that_always_differ_do_not_alarm(scanned: tuple[Engine, Path]) -> None:
    """Against its own baseline an unchanged organisation has nothing to accumulate, however far it is from
    the national rate: only ORG00 (performance) and ORG01 (mortality), which changed, alarm."""
    engine, _ = scanned
    with engine.connect() as conn:
        alarmed = conn.execute(
            select(Organisation.code, Indicator.code)
            .join(SeriesStatus, SeriesStatus.organisation_id == Organisation.id)
            .join(Indicator, Indicator.id == SeriesStatus.indicator_id)
            .where(SeriesStatus.cusum_alarms > 0)
        ).all()
    assert {tuple(r) for r in alarmed} == {("ORG00", "perf"), ("ORG01", "mort")}
    figures = _scan_summary(engine)["cusum_indicators"]  # type: ignore[index]
    assert figures["perf"]["current"] == 1 and figures["mort"]["current"] == 1  # type: ignore[index]
    # 20 series a indicator with 5% allowed to alarm by chance over the window: one expected by chance.
    assert figures["perf"]["alarming_series_expected"] <= 20 * 0.05 + 1e-9  # type: ignore[index]


def test_funnel_flags_survive_benjamini_hochberg_across_all_pairs(scanned: tuple[Engine, Path]) -> None:
    engine, _ = scanned
    with engine.connect() as conn:
        rows = conn.execute(select(SeriesStatus.funnel_p, SeriesStatus.funnel_q)).all()
    p = np.array([r[0] for r in rows if r[0] is not None])
    q = np.array([r[1] for r in rows if r[1] is not None])
    m = p.size
    order = np.argsort(p)
    expected = np.minimum.accumulate((p[order] * m / np.arange(1, m + 1))[::-1])[::-1]
    bh = np.empty(m)
    bh[order] = np.minimum(expected, 1)
    np.testing.assert_allclose(np.sort(q), np.sort(bh), rtol=1e-12)
    mort = _status(engine, "ORG01", "mort")
    assert mort["funnel_outlier"] == 1
    assert any(
        s["method"] == "funnel" and s["direction"] == "concern" for s in _signals(engine, "ORG01", "mort")
    )


def test_rescan_without_new_data_changes_nothing(scanned: tuple[Engine, Path]) -> None:
    engine, _ = scanned
    again = run_scan(engine)
    assert (again.series_changed, again.signals_written) == (0, 0)


def test_rescan_after_new_data_rewrites_only_what_changed(scanned: tuple[Engine, Path]) -> None:
    engine, path = scanned
    tmp_path = path.parent
    before = _signals(engine, "ORG07", "mort")
    # A revised mortality figure for one organisation in the first month: its own series changes.
    frame = pl.read_csv(path).filter((pl.col("org") == "ORG09") & (pl.col("period") == "2020-01-01"))
    revised = tmp_path / "revised.csv"
    frame.with_columns(pl.col("deaths") + 7).write_csv(revised)
    import_file(engine, revised, mapping_text=MAPPING)
    again = run_scan(engine)
    assert 1 <= again.series_changed < 40
    assert _status(engine, "ORG09", "mort")["scan_id"] == again.scan_id
    assert (
        _signals(engine, "ORG07", "mort") == before
        or _status(engine, "ORG07", "mort")["scan_id"] == again.scan_id
    )


def test_a_rebase_recomputes_limits_from_its_date(scanned: tuple[Engine, Path]) -> None:
    engine, path = scanned
    with engine.begin() as conn:
        org = conn.execute(select(Organisation.id).where(Organisation.code == "ORG00")).scalar_one()
        ind = conn.execute(select(Indicator.id).where(Indicator.code == "perf")).scalar_one()
        conn.execute(
            insert(SpcBaseline).values(
                organisation_id=org,
                indicator_id=ind,
                rebase_from=dt.date(2021, 1, 1),
                reason="new pathway",
                created_by="tester",
                created_at=dt.datetime.now(dt.UTC),
            )
        )
    result = run_scan(engine, ScanOptions())
    assert result.series_changed >= 1
    values, _, _ = _values(path, "ORG00")
    assert _status(engine, "ORG00", "perf")["spc_mean"] == pytest.approx(values[12:].mean(), rel=1e-12)


def test_ranks_carry_intervals_and_only_clear_cases_are_told_apart(scanned: tuple[Engine, Path]) -> None:
    """ORG01 has twice the expected deaths: its rank interval must sit wholly in the worse half of the
    20 organisations (rank 20 = most deaths), and no interval may be wider than the table."""
    engine, _ = scanned
    mort = _status(engine, "ORG01", "mort")
    assert mort["rank_of"] == 20
    assert mort["rank_distinguishable"] == -1
    assert mort["rank_lower"] > 10.5
    with engine.connect() as conn:
        rows = conn.execute(select(SeriesStatus.rank_lower, SeriesStatus.rank, SeriesStatus.rank_upper)).all()
    for lower, median, upper in rows:
        assert 1 <= lower <= median <= upper <= 20


def test_a_rebase_leaving_one_point_is_ignored_not_fatal(scanned: tuple[Engine, Path]) -> None:
    """An XmR segment needs two points for a moving range; a rebase at the last month cannot be charted, so the
    series keeps its single baseline instead of stopping the scan of every other series."""
    engine, path = scanned
    with engine.begin() as conn:
        org = conn.execute(select(Organisation.id).where(Organisation.code == "ORG05")).scalar_one()
        ind = conn.execute(select(Indicator.id).where(Indicator.code == "perf")).scalar_one()
        conn.execute(
            insert(SpcBaseline).values(
                organisation_id=org,
                indicator_id=ind,
                rebase_from=_months()[-1],
                reason="too late",
                created_by="tester",
                created_at=dt.datetime.now(dt.UTC),
            )
        )
    run_scan(engine)
    values, _, _ = _values(path, "ORG05")
    assert _status(engine, "ORG05", "perf")["spc_mean"] == pytest.approx(values.mean(), rel=1e-12)


def test_large_tables_use_the_conditional_rank_with_the_same_verdict(scanned: tuple[Engine, Path]) -> None:
    engine, _ = scanned
    simulated = _status(engine, "ORG01", "mort")
    run_scan(engine, ScanOptions(rank_simulation_max_units=5))
    conditional = _status(engine, "ORG01", "mort")
    assert conditional["rank_distinguishable"] == simulated["rank_distinguishable"] == -1
    assert abs(conditional["rank"] - simulated["rank"]) <= 2


def test_a_scan_of_an_empty_store_stores_an_empty_run(engine: Engine) -> None:
    """No observations yet: the scan records a run of 0 series instead of failing on empty arrays."""
    result = run_scan(engine)
    assert (result.series_scanned, result.signals_written) == (0, 0)
