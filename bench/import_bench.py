"""Benchmark: import a 1,000,000-row observation file (CSV) into SQLite and PostgreSQL; print rows per second.

Each store is new and empty; PostgreSQL gets a database of its own, dropped afterwards.
Run: .venv/bin/python bench/import_bench.py [--rows 1000000] [--skip-postgres]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import polars as pl
from sqlalchemy import create_engine, text

from forewarn.ingest.importer import import_file
from forewarn.store import migrate
from forewarn.store.database import make_engine

MAPPING = """
version: 1
dataset: {code: bench, name: Import benchmark}
columns: {period: date, org_code: text, value: number}
organisation: {code: org_code}
period: {column: period, format: iso, frequency: month}
indicators:
  - {code: bench_value, name: Benchmark value, kind: mean, polarity: neutral, value: value}
"""
POSTGRES_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def make_file(folder: Path, rows: int) -> Path:
    months = 36
    orgs = rows // months
    rng = np.random.default_rng(7)
    periods = (np.datetime64("2020-01", "M") + np.arange(months)).astype("datetime64[D]")
    frame = pl.DataFrame(
        {
            "period": np.tile(periods, orgs),
            "org_code": np.repeat(np.char.add("ORG", np.arange(orgs).astype(str)), months),
            "value": rng.normal(50, 10, orgs * months).round(3),
        }
    )
    path = folder / "observations.csv"
    frame.write_csv(path)
    return path


def time_import(url: str, path: Path, mapping: Path) -> tuple[float, int]:
    engine = make_engine(url)
    migrate.upgrade(engine)
    start = time.perf_counter()
    result = import_file(engine, path, mapping, imported_by="bench")
    seconds = time.perf_counter() - start
    engine.dispose()
    return seconds, result.observations_inserted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = make_file(folder, args.rows)
        mapping = folder / "mapping.yml"
        mapping.write_text(MAPPING)
        seconds, rows = time_import(f"sqlite:///{folder / 'bench.db'}", path, mapping)
        print(
            f"SQLite:     {rows:,} rows in {seconds:.2f} s = {rows / seconds:,.0f} rows/s (validation + write, one transaction)"
        )
        if args.skip_postgres:
            return
        name = f"forewarn_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(POSTGRES_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            seconds, rows = time_import(POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{name}", path, mapping)
            print(
                f"PostgreSQL: {rows:,} rows in {seconds:.2f} s = {rows / seconds:,.0f} rows/s (COPY into staging, then set-based SQL)"
            )
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


if __name__ == "__main__":
    main()
