"""Benchmark: building and writing a first scan's signals, in a transaction rolled back, on a populated store.

Reads the store's panel and computes the scan (not timed), then times, twice, turning the result into the stored
form (``signal_frame`` and ``forewarn.store.signals.pack_signals``) and writing it (``write_frame``), CPU and wall.
At e12e401 (a ``signals`` row per signal with its JSON ``details``) the same steps were ``signal_frame`` and
``write_frame(conn, "signals", ...)``: the figures of both are in docs/performance.md ("Signals stored compactly").

Run: .venv/bin/python bench/signals_write_bench.py sqlite:///path/to/store.db   (a store populated by scan_bench.py's
``populate``, or any store; it is migrated first)
"""

from __future__ import annotations

import argparse
import datetime as dt
import time

from sqlalchemy import insert

from forewarn.store import migrate
from forewarn.store.columnar import write_frame
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
    args = parser.parse_args()
    engine = make_engine(args.url)
    migrate.upgrade(engine)
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


if __name__ == "__main__":
    main()
