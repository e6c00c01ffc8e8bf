"""Average-value indicators published with confidence limits: funnels against precision, ranks, CUSUM and the
trend test, each checked against a derivation written here (Spiegelhalter 2005a, 2005b; DerSimonian & Laird
1986)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from scipy import stats
from sqlalchemy import Engine, select

from forewarn.ingest.importer import import_file
from forewarn.stats.estimate_funnel import estimate_funnel
from forewarn.store.models import Indicator, Organisation
from forewarn.store.models_surveillance import SeriesStatus
from forewarn.surveillance.scan import run_scan
from forewarn.views.funnel import indicator_funnel

MAPPING = """
version: 1
dataset: {code: est_test, name: Estimates test}
columns: {area: text, year: text, value: number, low: number, high: number}
organisation: {code: area}
period: {column: year, format: fingertips}
indicators:
  - {code: obesity, name: Obesity, kind: mean, polarity: lower_is_better, unit: "%", value: value,
     lower: low, upper: high}
"""
AREAS, YEARS = 40, 8
Z95 = stats.norm.ppf(0.975)


def _extract(tmp_path: Path, seed: int = 11) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    level = rng.normal(20.0, 2.0, AREAS)
    se = rng.uniform(0.4, 1.5, AREAS)
    rows = []
    for a in range(AREAS):
        for y in range(YEARS):
            value = level[a] + 0.3 * y * (a == 0) + rng.normal(0, se[a])
            rows.append(
                (
                    f"A{a:02d}",
                    f"{2015 + y}/{(16 + y) % 100:02d}",
                    value,
                    value - Z95 * se[a],
                    value + Z95 * se[a],
                )
            )
    frame = pl.DataFrame(rows, schema=["area", "year", "value", "low", "high"], orient="row")
    frame.write_csv(tmp_path / "extract.csv")
    return frame


@pytest.fixture
def scanned(engine: Engine, tmp_path: Path) -> tuple[Engine, pl.DataFrame]:
    frame = _extract(tmp_path)
    import_file(engine, tmp_path / "extract.csv", mapping_text=MAPPING)
    run_scan(engine)
    return engine, frame


def _status(engine: Engine) -> pl.DataFrame:
    with engine.connect() as conn:
        rows = conn.execute(
            select(Organisation.code, *SeriesStatus.__table__.columns)
            .join(SeriesStatus, SeriesStatus.organisation_id == Organisation.id)
            .order_by(Organisation.code)
        ).all()
    return pl.DataFrame([dict(r._mapping) for r in rows], infer_schema_length=None)


def test_the_latest_year_is_compared_on_a_funnel_of_precision(scanned: tuple[Engine, pl.DataFrame]) -> None:
    """Target = sum w y / sum w with w = 1/se^2, se = (high - low) / (2 x 1.96); phi from winsorised z; the
    scan's z are those of estimate_funnel, whose formula is re-derived here for the target."""
    engine, frame = scanned
    latest = frame.filter(pl.col("year") == frame["year"].max()).sort("area")
    y = latest["value"].to_numpy()
    se = ((latest["high"] - latest["low"]) / (2 * Z95)).to_numpy()
    status = _status(engine)
    assert set(status["funnel_data_type"].to_list()) == {"N"}
    w = 1 / se**2
    assert status["funnel_target"][0] == pytest.approx((w * y).sum() / w.sum(), rel=1e-9)
    expected = estimate_funnel(y, se, np.zeros(AREAS, dtype=np.int64), n_funnels=1)
    assert status["funnel_z"].to_numpy() == pytest.approx(expected.z, rel=1e-9)
    assert status["funnel_denominator"].to_numpy() == pytest.approx(w, rel=1e-9)


def test_funnel_curves_pass_through_every_area_limits(scanned: tuple[Engine, pl.DataFrame]) -> None:
    engine, _ = scanned
    with engine.connect() as conn:
        indicator_id = conn.execute(select(Indicator.id)).scalar_one()
        funnel = indicator_funnel(conn, indicator_id)
    assert funnel is not None and funnel.data_type == "N"
    outer = max(funnel.curves, key=lambda c: c.coverage)
    grid = dict(zip(outer.denominator, outer.upper, strict=True))
    for point in funnel.points:
        assert grid[point.denominator] == pytest.approx(point.upper, rel=1e-9)


def test_estimates_get_ranks_cusum_and_a_trend(scanned: tuple[Engine, pl.DataFrame]) -> None:
    """Eight annual values: too short for SPC, so the trend test runs (A00 rises 0.3 a year); ranks come from
    the random-effects posterior; the CUSUM watches every area against its own baseline."""
    engine, frame = scanned
    status = _status(engine)
    assert status["rank"].is_not_null().all()
    assert (status["rank_of"] == AREAS).all()
    assert status["cusum_value"].is_not_null().all()
    assert status["spc_variation"].is_null().all()
    first = frame.filter(pl.col("area") == "A00").sort("year")
    years = np.arange(YEARS, dtype=float)
    reference = stats.linregress(years, first["value"].to_numpy())
    a00 = status.filter(pl.col("code") == "A00")
    # Periods start on 1 April each year: 365 or 366 days apart, so the slope per year is within 0.1% of OLS's.
    assert a00["trend_slope"][0] == pytest.approx(reference.slope, rel=2e-3)
    assert a00["trend_p"][0] == pytest.approx(reference.pvalue, rel=0.05, abs=1e-4)


def test_a_series_too_short_for_spc_is_never_drawn_as_common_cause(
    scanned: tuple[Engine, pl.DataFrame],
) -> None:
    """Eight annual points get no SPC chart: their points are "not assessed", and the chart's legend says so."""
    from forewarn.charts.palette import POINT_TYPES
    from forewarn.views.series import NOT_ASSESSED, organisation_charts

    engine, _ = scanned
    with engine.connect() as conn:
        org_id = conn.execute(select(Organisation.id).where(Organisation.code == "A00")).scalar_one()
        charts = organisation_charts(conn, org_id)
    chart = next(iter(charts.values()))
    assert not chart.charted
    assert set(chart.point_type) == {NOT_ASSESSED}
    assert POINT_TYPES[NOT_ASSESSED][0] == "Not assessed by SPC"
