"""The scan's columnar I/O (``forewarn.store.columnar``) stores exactly what the ORM path stored: same floats to
the bit, same dates, nulls and empty strings kept apart, the same signals (packed per series since issue 17: the
ORM's rows, grouped); and deletes only the keys given."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import polars as pl
from sqlalchemy import Engine, select

from forewarn.ingest.importer import import_file
from forewarn.store.columnar import delete_keys, read_frame, write_frame
from forewarn.store.models_surveillance import SeriesSignals, SeriesStatus
from forewarn.store.signals import unpack_entries
from forewarn.surveillance.compute import compute_surveillance
from forewarn.surveillance.options import ScanOptions
from forewarn.surveillance.scan import (
    STATUS_COLUMNS,
    load_panel,
    phase_panel,
    run_scan,
    signal_frame,
    status_rows,
)

# (SQLite stores -0.0 as 0 whatever path writes it, so negative zero is not among them.)
AWKWARD = [0.1 + 0.2, 1e-5, 5e-324, 1.7976931348623157e308, -2.5e-300, 1 / 3, 123456789.123456789, None]
MAPPING = """
version: 1
dataset: {code: scan_io, name: Scan I/O test}
columns: {period: date, org: text, seen: number, attendances: number, deaths: number, expected: number,
          score: number, se: number}
organisation: {code: org}
period: {column: period, format: iso, frequency: month}
indicators:
  - {code: perf, name: Performance, kind: proportion, polarity: higher_is_better, target: 0.9,
     numerator: seen, denominator: attendances}
  - {code: mort, name: Mortality O/E, kind: ratio_oe, polarity: lower_is_better, numerator: deaths, expected: expected}
  - {code: score, name: Score, kind: mean, polarity: neutral, value: score, standard_error: se}
"""


def _create_probe(engine: Engine) -> None:
    real = "DOUBLE PRECISION" if engine.dialect.name == "postgresql" else "REAL"
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE TABLE probe (k INTEGER NOT NULL, x {real}, d DATE, s TEXT)")


def test_floats_dates_and_text_round_trip_exactly(engine: Engine) -> None:
    _create_probe(engine)
    frame = pl.DataFrame(
        {
            "k": list(range(len(AWKWARD))),
            "x": AWKWARD,
            "d": [dt.date(2020, 1, 1), None, dt.date(1999, 12, 31), *[dt.date(2021, 2, 28)] * 5],
            "s": ["", None, 'a "quoted", text', "\\N", "é", "x", "{}", "0"],
        },
        schema={"k": pl.Int64, "x": pl.Float64, "d": pl.Date, "s": pl.String},
    )
    with engine.begin() as conn:
        assert write_frame(conn, "probe", frame) == frame.height
    with engine.connect() as conn:
        back = read_frame(conn, "SELECT k, x, d, s FROM probe ORDER BY k", frame.schema)
        orm = conn.exec_driver_sql("SELECT k, x, d, s FROM probe ORDER BY k").all()
    assert back.rows() == frame.rows()
    bits = [None if v is None else np.float64(v).tobytes() for v in back["x"]]
    assert bits == [None if v is None else np.float64(v).tobytes() for v in AWKWARD]
    assert [r[1] for r in orm] == AWKWARD
    assert [None if r[2] is None else str(r[2]) for r in orm] == [
        None if d is None else d.isoformat() for d in frame["d"]
    ]


def test_an_empty_result_reads_as_an_empty_frame_of_its_schema(engine: Engine) -> None:
    _create_probe(engine)
    schema = {"k": pl.Int64, "x": pl.Float64, "d": pl.Date, "s": pl.String}
    with engine.connect() as conn:
        back = read_frame(conn, "SELECT k, x, d, s FROM probe", schema)
    assert back.is_empty() and dict(back.schema) == schema


def test_one_row_of_constants_is_written(engine: Engine) -> None:
    """SQLite writes constant columns as literals; a row of nothing but constants is still written."""
    _create_probe(engine)
    with engine.begin() as conn:
        write_frame(
            conn, "probe", pl.DataFrame({"k": [7], "x": [None]}, schema={"k": pl.Int64, "x": pl.Float64})
        )
        assert conn.exec_driver_sql("SELECT k, x FROM probe").all() == [(7, None)]


def test_delete_keys_deletes_only_the_keys_given(engine: Engine) -> None:
    _create_probe(engine)
    with engine.begin() as conn:
        write_frame(conn, "probe", pl.DataFrame({"k": [1, 2, 3, 2], "s": ["a", "b", "c", "d"]}))
        delete_keys(conn, ["probe"], pl.DataFrame({"k": [2, 9]}))
        assert conn.exec_driver_sql("SELECT k, s FROM probe ORDER BY k").all() == [(1, "a"), (3, "c")]


def _panel_csv(tmp_path: Path) -> Path:
    rng = np.random.default_rng(5)
    rows = []
    for o in range(25):
        for m in range(30):
            month = dt.date(2019 + m // 12, m % 12 + 1, 1)
            drop = 0.1 if o == 0 and m >= 18 else 0.0
            n = int(rng.integers(300, 3000))
            rows.append(
                (
                    month.isoformat(),
                    f"ORG{o:02d}",
                    rng.binomial(n, 0.9 - drop),
                    n,
                    rng.poisson(15.0 * (2 if o == 1 and m >= 18 else 1)),
                    15.0 + o / 7,
                    50 + rng.normal(0, 1) / 3 + (4 if o == 2 and m >= 20 else 0),
                    1 / 3 + o / 97,
                )
            )
    path = tmp_path / "panel.csv"
    pl.DataFrame(
        rows,
        schema=["period", "org", "seen", "attendances", "deaths", "expected", "score", "se"],
        orient="row",
    ).write_csv(path)
    return path


def _orm_signal_rows(panel, result, changed, scan_id):  # type: ignore[no-untyped-def]
    """The rows the ORM path built before the scan went columnar (one dict per signal), for comparison."""
    wanted = set(changed.select("organisation_id", "indicator_id").iter_rows())
    detail_columns = [
        c for c in result.signals.columns if c not in ("series", "method", "rule", "direction", "t", "value")
    ]
    rows = []
    for s, method, rule, direction, t, value, *details in result.signals.select(
        "series", "method", "rule", "direction", "t", "value", *detail_columns
    ).iter_rows():
        key = (int(panel.organisation_id[s]), int(panel.indicator_id[s]))
        if key not in wanted:
            continue
        period = panel.period[s, t].astype("datetime64[D]").astype(object) if t >= 0 else None
        rows.append(
            (
                *key,
                scan_id,
                method,
                rule,
                direction,
                period,
                None if value is None or not np.isfinite(value) else float(value),
                json.dumps(
                    {
                        k: v
                        for k, v in zip(detail_columns, details, strict=True)
                        if v is not None and np.isfinite(v)
                    }
                ),
            )
        )
    return rows


def test_the_scan_stores_what_the_orm_path_stored(engine: Engine, tmp_path: Path) -> None:
    import_file(engine, _panel_csv(tmp_path), mapping_text=MAPPING)
    scan = run_scan(engine)
    with engine.connect() as conn:
        panel, baselines = load_panel(conn)
    result = compute_surveillance(panel, ScanOptions(), phase_panel(panel, baselines))
    expected_status = status_rows(panel, result)
    assert scan.signals_written > 0 and result.signals["method"].n_unique() >= 2
    with engine.connect() as conn:
        stored = conn.execute(
            select(
                SeriesStatus.organisation_id,
                SeriesStatus.indicator_id,
                *[getattr(SeriesStatus, c) for c in STATUS_COLUMNS],
            ).order_by(SeriesStatus.id)
        ).all()
        packed = conn.execute(
            select(
                SeriesSignals.organisation_id,
                SeriesSignals.indicator_id,
                SeriesSignals.scan_id,
                SeriesSignals.signal_count,
                SeriesSignals.entries,
            )
        ).all()
    assert [tuple(r) for r in stored] == expected_status.rows()
    reference = _orm_signal_rows(panel, result, expected_status, scan.scan_id)
    by_series: dict[tuple[int, int], list[tuple[object, ...]]] = {}
    for row in reference:  # the ORM's rows without their details, grouped by series in the order written
        by_series.setdefault((row[0], row[1]), []).append(row[2:8])
    stored_signals = {
        (o, i): [(scan_id, *entry) for entry in unpack_entries(entries)]
        for o, i, scan_id, count, entries in packed
        if count == len(entries.split(";"))
    }
    assert len(stored_signals) == len(packed)
    assert stored_signals == by_series
    bits = [np.float64(e[-1]).tobytes() for v in stored_signals.values() for e in v if e[-1] is not None]
    assert bits == [np.float64(e[-1]).tobytes() for v in by_series.values() for e in v if e[-1] is not None]
    # The frame the scan packs is the same, row for row.
    frame = signal_frame(panel, result, expected_status, scan.scan_id)
    assert frame.rows() == [r[:8] for r in reference]


def test_a_rescan_after_one_revision_rewrites_that_series_alone(engine: Engine, tmp_path: Path) -> None:
    path = _panel_csv(tmp_path)
    import_file(engine, path, mapping_text=MAPPING)
    first = run_scan(engine)
    with engine.connect() as conn:
        before = conn.exec_driver_sql(
            "SELECT organisation_id, indicator_id, scan_id FROM series_status ORDER BY organisation_id, indicator_id"
        ).all()
    revised = tmp_path / "revised.csv"
    pl.read_csv(path).filter((pl.col("org") == "ORG05") & (pl.col("period") == "2019-03-01")).with_columns(
        pl.col("score") + 3
    ).write_csv(revised)
    import_file(engine, revised, mapping_text=MAPPING)
    again = run_scan(engine)
    with engine.connect() as conn:
        after = conn.exec_driver_sql(
            "SELECT organisation_id, indicator_id, scan_id FROM series_status ORDER BY organisation_id, indicator_id"
        ).all()
        orphans = conn.exec_driver_sql(
            "SELECT count(*) FROM series_signals s WHERE NOT EXISTS (SELECT 1 FROM series_status t "
            "WHERE t.organisation_id = s.organisation_id AND t.indicator_id = s.indicator_id "
            "AND t.scan_id = s.scan_id)"
        ).scalar()
    assert len(after) == len(before)
    rewritten = [r for r in after if r[2] == again.scan_id]
    assert 1 <= len(rewritten) == again.series_changed < len(after)
    assert all(r[2] == first.scan_id for r in after if r[2] != again.scan_id)
    assert orphans == 0


def test_booleans_read_back_as_booleans(engine: Engine) -> None:
    """PostgreSQL's COPY writes t and f, SQLite stores 1 and 0: both read back as True and False (and null)."""
    from forewarn.store.models import Dataset

    with engine.begin() as conn:
        conn.execute(
            Dataset.__table__.insert(),
            [
                {"code": "a", "name": "A", "simulated": True},
                {"code": "b", "name": "B", "simulated": False},
            ],
        )
        frame = read_frame(
            conn,
            "SELECT code, simulated FROM datasets ORDER BY code",
            {"code": pl.String, "simulated": pl.Boolean},
        )
    assert frame["simulated"].to_list() == [True, False]
