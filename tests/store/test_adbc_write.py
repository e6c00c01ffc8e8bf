"""SQLite's write of a frame through a file ADBC fills (``forewarn.store.adbc_write``, used by ``write_frame`` for
frames of ``ADBC_WRITE_ROWS`` rows or more): every value stored as ``executemany`` stored it (the writer it replaces,
run beside it as the reference: same storage class, floats to the bit, text and dates as written), rows in the
frame's order, several frames in one transaction, nothing left on a rollback, no file left attached; and a scan
written this way stores the rows the ``executemany`` scan stored."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sqlalchemy import Engine

from forewarn.ingest.importer import import_file
from forewarn.store import adbc_write, columnar
from forewarn.store.columnar import delete_keys, write_frame
from forewarn.surveillance.scan import run_scan
from tests.surveillance.test_scan_io import AWKWARD, MAPPING, _panel_csv

PROBE = "CREATE TABLE {name} (k INTEGER NOT NULL, x REAL, i INTEGER, d DATE, s TEXT, c INTEGER, n REAL)"


@pytest.fixture
def sqlite_engine(engine: Engine) -> Engine:
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's writer; PostgreSQL's is COPY")
    with engine.begin() as conn:
        for name in ("probe_adbc", "probe_bound"):
            conn.exec_driver_sql(PROBE.format(name=name))
    return engine


def _frame() -> pl.DataFrame:
    rows = 3 * len(AWKWARD)
    return pl.DataFrame(
        {
            "k": list(range(rows, 0, -1)),  # not in key order: the frame's order must be kept
            "x": [*AWKWARD, float("nan"), float("inf"), -0.5, *AWKWARD, *[None] * (len(AWKWARD) - 3)],
            "i": [None if r % 3 == 0 else r * 2**40 for r in range(rows)],
            "d": [None if r % 4 == 0 else f"20{r:02d}-01-31" for r in range(rows)],
            "s": ["", None, 'a "quoted", text', "\\N", "é", "x;y,z", "{}", "0", *["t"] * (rows - 8)],
            "c": [7] * rows,
            "n": [None] * rows,
        },
        schema_overrides={"x": pl.Float64, "i": pl.Int64, "n": pl.Float64},
    )


def _stored(engine: Engine, table: str) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.exec_driver_sql(
                f"SELECT rowid, k, x, i, d, s, c, n, typeof(x), typeof(i), typeof(d), typeof(s), typeof(c), "
                f"typeof(n) FROM {table} ORDER BY rowid"
            )
        ]


def _attached(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [str(r[1]) for r in conn.exec_driver_sql("PRAGMA database_list") if str(r[1]) != "temp"]


def test_adbc_stores_every_value_as_executemany_did(
    sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame = _frame()
    monkeypatch.setattr(columnar, "ADBC_WRITE_ROWS", 10**9)
    with adbc_write.transaction(sqlite_engine) as conn:
        write_frame(conn, "probe_bound", frame)
    monkeypatch.setattr(columnar, "ADBC_WRITE_ROWS", 1)
    with adbc_write.transaction(sqlite_engine) as conn:
        write_frame(conn, "probe_adbc", frame)
        assert [n for n in _raw_attached(conn) if n.startswith(adbc_write.PREFIX)] == [
            f"{adbc_write.PREFIX}0"
        ]
    bound, written = _stored(sqlite_engine, "probe_bound"), _stored(sqlite_engine, "probe_adbc")
    assert written == bound
    assert [r[1] for r in written] == frame["k"].to_list()
    bits = [np.float64(r[2]).tobytes() for r in written if r[2] is not None]
    assert bits == [np.float64(r[2]).tobytes() for r in bound if r[2] is not None]
    assert len(bits) == frame["x"].is_not_null().sum() - 1  # NaN stored as NULL by both, as SQLite does
    assert _attached(sqlite_engine) == ["main"]


def _raw_attached(conn) -> list[str]:  # type: ignore[no-untyped-def]
    return [str(r[1]) for r in conn.exec_driver_sql("PRAGMA database_list")]


def test_several_frames_in_one_transaction_and_a_rollback_leaves_nothing(
    sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(columnar, "ADBC_WRITE_ROWS", 1)
    frame = _frame()
    with adbc_write.transaction(sqlite_engine) as conn:
        write_frame(conn, "probe_adbc", frame)
        write_frame(conn, "probe_adbc", frame.head(5))
        delete_keys(conn, ["probe_adbc"], frame.select("k").head(3))  # its keys go through a file too
        names = [n for n in _raw_attached(conn) if n.startswith(adbc_write.PREFIX)]
        assert len(names) == 3
    with sqlite_engine.connect() as conn:
        ks = [r[0] for r in conn.exec_driver_sql("SELECT k FROM probe_adbc ORDER BY rowid")]
    assert ks == frame["k"].to_list()[3:] + frame["k"].to_list()[3:5]
    assert _attached(sqlite_engine) == ["main"]

    def fail_after_writing() -> None:
        with adbc_write.transaction(sqlite_engine) as conn:
            write_frame(conn, "probe_bound", frame)
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fail_after_writing()
    assert _stored(sqlite_engine, "probe_bound") == []
    assert _attached(sqlite_engine) == ["main"]
    assert not list(Path(tempfile.gettempdir()).glob("forewarn-write-*"))


def test_a_file_left_attached_by_a_plain_transaction_goes_at_the_next_write(
    sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(columnar, "ADBC_WRITE_ROWS", 1)
    frame = _frame()
    for _ in range(
        adbc_write.MAX_FILES + 2
    ):  # engine.begin(), not adbc_write.transaction: nothing detaches after
        with sqlite_engine.begin() as conn:
            write_frame(conn, "probe_adbc", frame)
            held = [n for n in _raw_attached(conn) if n.startswith(adbc_write.PREFIX)]
            assert held == [f"{adbc_write.PREFIX}0"]
    assert len(_stored(sqlite_engine, "probe_adbc")) == (adbc_write.MAX_FILES + 2) * frame.height


def _scan_rows(engine: Engine) -> list[tuple[object, ...]]:
    """Every stored status and signals row but ids and scan ids, in key order, with each value's storage class."""
    out: list[tuple[object, ...]] = []
    with engine.connect() as conn:
        for table in ("series_status", "series_signals"):
            every = list(conn.exec_driver_sql(f"SELECT * FROM {table} LIMIT 0").keys())
            names = [c for c in every if c not in ("id", "scan_id")]
            listed = ", ".join([*names, *(f"typeof({c})" for c in names)])
            out += [
                tuple(r)
                for r in conn.exec_driver_sql(
                    f"SELECT {listed} FROM {table} ORDER BY indicator_id, organisation_id"
                )
            ]
    return out


def test_a_scan_written_through_adbc_stores_what_executemany_stored(
    sqlite_engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _panel_csv(tmp_path)
    import_file(sqlite_engine, path, mapping_text=MAPPING)
    monkeypatch.setattr(columnar, "ADBC_WRITE_ROWS", 10**9)
    run_scan(sqlite_engine, full=True)
    bound = _scan_rows(sqlite_engine)
    monkeypatch.setattr(columnar, "ADBC_WRITE_ROWS", 1)
    with sqlite_engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM series_signals")
        conn.exec_driver_sql("DELETE FROM series_status")
    first = run_scan(sqlite_engine, full=True)
    assert first.series_changed > 0 and first.signals_written > 0
    assert _scan_rows(sqlite_engine) == bound
    # A rescan after a revision deletes through a key file and rewrites one series, as executemany's did.
    revised = tmp_path / "revised.csv"
    pl.read_csv(path).filter((pl.col("org") == "ORG05") & (pl.col("period") == "2019-03-01")).with_columns(
        pl.col("score") + 3
    ).write_csv(revised)
    import_file(sqlite_engine, revised, mapping_text=MAPPING)
    again = run_scan(sqlite_engine)
    assert again.series_changed >= 1
    through_adbc = _scan_rows(sqlite_engine)
    assert through_adbc != bound
    # The same store scanned afresh through executemany stores the same rows.
    monkeypatch.setattr(columnar, "ADBC_WRITE_ROWS", 10**9)
    with sqlite_engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM series_signals")
        conn.exec_driver_sql("DELETE FROM series_status")
    run_scan(sqlite_engine, full=True)
    assert _scan_rows(sqlite_engine) == through_adbc
    assert _attached(sqlite_engine) == ["main"]
