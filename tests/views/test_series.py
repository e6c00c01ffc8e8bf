"""An organisation's charts as the scan left them: every point's type, rule and limits equal an XmR chart computed
directly with forewarn.stats.spc.xmr_chart on the same values (Making Data Count rules, as NHSRplotthedots), and
the text the scan stores lines up with the organisation's own rows even when it misses periods."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sqlalchemy import Engine, delete, insert, select

from forewarn.ingest.importer import import_file
from forewarn.stats.spc import PointType, SpcOptions, xmr_chart
from forewarn.store.models import Indicator, Observation, Organisation
from forewarn.store.models_surveillance import SpcBaseline
from forewarn.surveillance.compute import point_code_matrix, point_code_text
from forewarn.surveillance.scan import run_scan
from forewarn.views.series import SeriesChart, organisation_charts
from tests.conftest import FIXTURES
from tests.surveillance.test_scan import MAPPING, _months, _panel_csv


@pytest.fixture
def store(engine: Engine, tmp_path: Path) -> tuple[Engine, Path]:
    path = _panel_csv(tmp_path)
    import_file(engine, path, mapping_text=MAPPING)
    return engine, path


def _ids(engine: Engine, org: str, indicator: str) -> tuple[int, int]:
    with engine.connect() as conn:
        o = conn.execute(select(Organisation.id).where(Organisation.code == org)).scalar_one()
        i = conn.execute(select(Indicator.id).where(Indicator.code == indicator)).scalar_one()
    return int(o), int(i)


def _chart(engine: Engine, org: str, indicator: str) -> SeriesChart:
    o, i = _ids(engine, org, indicator)
    with engine.connect() as conn:
        return organisation_charts(conn, o)[i]


def _proportions(path: Path, org: str) -> np.ndarray:
    frame = pl.read_csv(path).filter(pl.col("org") == org).sort("period")
    return (frame["seen"] / frame["attendances"]).to_numpy()


def _expected_labels(chart_types: np.ndarray) -> list[str]:
    return [PointType(int(k)).label for k in chart_types]


def test_points_limits_and_rules_are_the_xmr_chart_of_the_same_values(store: tuple[Engine, Path]) -> None:
    engine, path = store
    run_scan(engine)
    values = _proportions(path, "ORG00")  # drops by 10 points after month 12: special cause concern
    direct = xmr_chart(values[None, :], SpcOptions(improvement="increase", target=0.9))
    chart = _chart(engine, "ORG00", "perf")
    assert chart.charted and not chart.stale
    assert chart.period == tuple(_months())
    assert chart.point_type == tuple(_expected_labels(direct.point_type[0]))
    assert "special_cause_concern" in chart.point_type
    np.testing.assert_allclose(np.array(chart.mean, dtype=float), direct.mean[0], rtol=1e-12)
    np.testing.assert_allclose(np.array(chart.lpl, dtype=float), direct.lpl[0], rtol=1e-12)
    np.testing.assert_allclose(np.array(chart.upl, dtype=float), direct.upl[0], rtol=1e-12)
    labels = direct.special_cause_labels
    expected_rules = [labels[k] if k else None for k in direct.special_cause_type[0].tolist()]
    assert list(chart.rule) == expected_rules


def test_a_rebase_gives_each_segment_its_own_limits(store: tuple[Engine, Path]) -> None:
    engine, path = store
    o, i = _ids(engine, "ORG00", "perf")
    with engine.begin() as conn:
        conn.execute(
            insert(SpcBaseline).values(
                organisation_id=o,
                indicator_id=i,
                rebase_from=dt.date(2021, 1, 1),
                reason="new pathway",
                created_by="tester",
                created_at=dt.datetime.now(dt.UTC),
            )
        )
    run_scan(engine)
    values = _proportions(path, "ORG00")
    phase = (np.arange(values.size) >= 12).astype(np.int64)[None, :]
    direct = xmr_chart(values[None, :], SpcOptions(improvement="increase", target=0.9), phase=phase)
    chart = _chart(engine, "ORG00", "perf")
    assert chart.rebases == (dt.date(2021, 1, 1),)
    np.testing.assert_allclose(np.array(chart.mean, dtype=float), direct.mean[0], rtol=1e-12)
    np.testing.assert_allclose(np.array(chart.upl, dtype=float), direct.upl[0], rtol=1e-12)
    assert chart.mean[0] == pytest.approx(values[:12].mean(), rel=1e-12)
    assert chart.mean[-1] == pytest.approx(values[12:].mean(), rel=1e-12)
    assert chart.point_type == tuple(_expected_labels(direct.point_type[0]))


def test_missing_periods_and_values_keep_the_points_in_line(store: tuple[Engine, Path]) -> None:
    """ORG03 has no row for month 5 and a row without a value for month 9: the chart has the organisation's
    23 rows, the valueless one charted as missing, and the XmR chart bridges both gaps as the stats do."""
    engine, path = store
    o, i = _ids(engine, "ORG03", "perf")
    months = _months()
    with engine.begin() as conn:
        conn.execute(
            delete(Observation).where(
                Observation.organisation_id == o,
                Observation.indicator_id == i,
                Observation.period_start == months[5],
            )
        )
        conn.execute(
            Observation.__table__.update()
            .where(
                Observation.organisation_id == o,
                Observation.indicator_id == i,
                Observation.period_start == months[9],
            )
            .values(value=None, numerator=None)
        )
    run_scan(engine)
    values = _proportions(path, "ORG03").copy()
    values[9] = np.nan
    kept = np.delete(values, 5)
    direct = xmr_chart(kept[None, :], SpcOptions(improvement="increase", target=0.9))
    chart = _chart(engine, "ORG03", "perf")
    assert chart.period == tuple(m for k, m in enumerate(months) if k != 5)
    assert chart.value[8] is None
    observed = ~np.isnan(kept)
    assert [t for k, t in enumerate(chart.point_type) if observed[k]] == [
        t for k, t in enumerate(_expected_labels(direct.point_type[0])) if observed[k]
    ]
    np.testing.assert_allclose(np.array(chart.mean, dtype=float), np.nanmean(kept), rtol=1e-12)


def test_data_changed_after_the_scan_shows_values_without_limits(store: tuple[Engine, Path]) -> None:
    engine, _ = store
    run_scan(engine)
    o, i = _ids(engine, "ORG02", "perf")
    with engine.begin() as conn:
        conn.execute(
            delete(Observation).where(
                Observation.organisation_id == o,
                Observation.indicator_id == i,
                Observation.period_start == _months()[-1],
            )
        )
    chart = _chart(engine, "ORG02", "perf")
    assert chart.stale and not chart.charted
    assert set(chart.mean) == {None} and len(chart.value) == len(_months()) - 1


def test_before_any_scan_series_are_shown_unscanned(store: tuple[Engine, Path]) -> None:
    engine, _ = store
    chart = _chart(engine, "ORG02", "perf")
    assert not chart.charted and not chart.stale
    assert len(chart.value) == len(_months())


def test_point_codes_drop_absent_periods_and_mark_missing_values() -> None:
    point_type = np.array([[0, 2, 1, 0], [3, 0, 4, 0]], dtype=np.int8)
    values = np.array([[1.0, 2.0, np.nan, 4.0], [1.0, 2.0, 3.0, np.nan]])
    period = np.array(
        [
            ["2020-01-01", "NaT", "2020-03-01", "2020-04-01"],
            ["2020-01-01", "2020-02-01", "2020-03-01", "NaT"],
        ],
        dtype="datetime64[D]",
    )
    codes = point_code_matrix(point_type, values, period)
    uncharted = np.zeros((1, 4), dtype=np.uint8)
    assert point_code_text(np.vstack([codes, uncharted])).to_list() == ["0.0", "304", None]


RRK_MAPPING = """
version: 1
dataset: {code: rrk, name: RRK type-1 breaches}
columns: {period: date, org: text, breaches: number}
organisation: {code: org}
period: {column: period, format: iso, frequency: month}
indicators:
  - {code: breaches, name: Type-1 breaches, kind: count, polarity: lower_is_better, numerator: breaches}
"""


@pytest.mark.parametrize(
    ("name", "rebases"),
    [("rrk_stable_breaches", []), ("rrk_rebase_breaches", [dt.date(2018, 7, 1)])],
)
def test_the_charts_pages_draw_reproduce_nhsrplotthedots(
    engine: Engine, tmp_path: Path, name: str, rebases: list[dt.date]
) -> None:
    """NHSRplotthedots 0.2.2 ``ptd_spc`` output (tests/fixtures/nhsrplotthedots, see its SOURCE.md), through
    import, baseline reset, scan and this reader: limits to 1e-6, every point type and rule exactly."""
    reference = pl.read_csv(FIXTURES / "nhsrplotthedots" / f"{name}_points.csv", try_parse_dates=True)
    path = tmp_path / "rrk.csv"
    reference.select(
        pl.col("x").cast(pl.String).alias("period"), pl.lit("RRK").alias("org"), pl.col("y").alias("breaches")
    ).write_csv(path)
    import_file(engine, path, mapping_text=RRK_MAPPING)
    o, i = _ids(engine, "RRK", "breaches")
    with engine.begin() as conn:
        for date in rebases:
            conn.execute(
                insert(SpcBaseline).values(
                    organisation_id=o,
                    indicator_id=i,
                    rebase_from=date,
                    reason="reference rebase",
                    created_by="tester",
                    created_at=dt.datetime.now(dt.UTC),
                )
            )
    run_scan(engine)
    chart = _chart(engine, "RRK", "breaches")
    assert chart.rebases == tuple(rebases)
    for t, row in enumerate(reference.iter_rows(named=True)):
        assert chart.mean[t] == pytest.approx(row["mean_col"], abs=1e-6)
        assert chart.lpl[t] == pytest.approx(row["lpl"], abs=1e-6)
        assert chart.upl[t] == pytest.approx(row["upl"], abs=1e-6)
        assert chart.point_type[t] == row["point_type"]
        assert (chart.rule[t] or "Common Cause") == row["special_cause_type"]
