"""Benchmark: building and writing a first scan's signals, in a transaction rolled back, on a populated store.

Reads the store's panel and computes the scan (not timed), then times, twice, turning the result into the stored
form (``signal_frame`` and ``forewarn.store.signals.pack_signals``) and writing it (``write_frame``), CPU and wall.
At e12e401 (a ``signals`` row per signal with its JSON ``details``) the same steps were ``signal_frame`` and
``write_frame(conn, "signals", ...)``: the figures of both are in docs/performance.md ("Signals stored compactly").

Run: .venv/bin/python bench/signals_write_bench.py sqlite:///path/to/store.db   (a store populated by scan_bench.py's
``populate``, or any store; it is migrated first)

``--rewrite`` (a store already scanned): times instead the writes of a first scan's results as stored, each of
``series_status`` and ``series_signals`` read back and written again into the emptied table, in a transaction
rolled back, with SQLite's two writers in turn (``executemany`` over tuples, and a file ADBC fills copied by one
``INSERT ... SELECT``, ``forewarn.store.adbc_write``), ``--repeat`` rounds; on PostgreSQL, COPY.
"""

from __future__ import annotations

import argparse
import datetime as dt
import time

import polars as pl
from sqlalchemy import Engine, insert

from forewarn.store import columnar, migrate
from forewarn.store.adbc_write import transaction
from forewarn.store.columnar import read_frame, write_frame
from forewarn.store.database import make_engine
from forewarn.store.models_surveillance import ScanRun
from forewarn.store.signals import pack_signals
from forewarn.surveillance.compute import compute_surveillance
from forewarn.surveillance.options import ScanOptions
from forewarn.surveillance.scan import load_panel, phase_panel, signal_frame, status_rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("url")
    parser.add_argument("--rewrite", action="store_true", help="time writing the stored results again")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    engine = make_engine(args.url)
    migrate.upgrade(engine)
    if args.rewrite:
        rewrite(engine, args.repeat)
        return
    with engine.connect() as conn:
        panel, baselines = load_panel(conn)
    result = compute_surveillance(panel, ScanOptions(), phase_panel(panel, baselines))
    status = status_rows(panel, result)
    for _ in range(2):
        with engine.begin() as conn:
            scan_id = conn.execute(
                insert(ScanRun)
                .values(started_at=dt.datetime.now(dt.UTC), options={}, series_scanned=0)
                .returning(ScanRun.id)
            ).scalar_one()
            wall, cpu = time.perf_counter(), time.process_time()
            frame = signal_frame(panel, result, status, scan_id)
            rows = pack_signals(frame)
            built_wall, built_cpu = time.perf_counter(), time.process_time()
            write_frame(conn, "series_signals", rows)
            done_wall, done_cpu = time.perf_counter(), time.process_time()
            print(
                f"{frame.height:,} signals in {rows.height:,} series_signals rows: build {built_cpu - cpu:.2f} s CPU "
                f"({built_wall - wall:.2f} s wall), write {done_cpu - built_cpu:.2f} s CPU "
                f"({done_wall - built_wall:.2f} s wall)",
                flush=True,
            )
            conn.rollback()
    engine.dispose()


def rewrite(engine: Engine, repeat: int) -> None:
    """Each stored scan table read back, then written again into the emptied table (rolled back), timed."""
    from forewarn.surveillance.partitions import STATUS_SCHEMA

    schema: dict[str, type[pl.DataType]] = {**STATUS_SCHEMA, "scan_id": pl.Int64}
    status_columns = ["organisation_id", "indicator_id", "scan_id", *list(STATUS_SCHEMA)[2:]]
    packed: dict[str, type[pl.DataType]] = {
        "organisation_id": pl.Int64,
        "indicator_id": pl.Int64,
        "scan_id": pl.Int64,
        "signal_count": pl.Int64,
        "entries": pl.String,
    }
    with engine.connect() as conn:
        frames = {
            "series_status": read_frame(
                conn,
                f"SELECT {', '.join(status_columns)} FROM series_status",
                {c: schema[c] for c in status_columns},
                bulk=True,
            ),
            "series_signals": read_frame(
                conn, f"SELECT {', '.join(packed)} FROM series_signals", packed, bulk=True
            ),
        }
    writers = {"executemany": 10**12, "ADBC file": 1} if engine.dialect.name == "sqlite" else {"COPY": 0}
    default = columnar.ADBC_WRITE_ROWS
    try:
        for round_ in range(repeat):
            for writer, threshold in writers.items():
                columnar.ADBC_WRITE_ROWS = threshold
                with transaction(engine) as conn:
                    conn.exec_driver_sql("DELETE FROM series_signals")
                    conn.exec_driver_sql("DELETE FROM series_status")
                    line = []
                    for table, frame in frames.items():
                        wall, cpu = time.perf_counter(), time.process_time()
                        write_frame(conn, table, frame)
                        line.append(
                            f"{table} {frame.height:,} rows {time.process_time() - cpu:.2f} s CPU "
                            f"({time.perf_counter() - wall:.2f} s wall)"
                        )
                    print(f"round {round_ + 1}, {writer}: " + "; ".join(line), flush=True)
                    conn.rollback()
    finally:
        columnar.ADBC_WRITE_ROWS = default


if __name__ == "__main__":
    main()
