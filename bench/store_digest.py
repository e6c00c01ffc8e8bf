"""A digest of everything an import writes, to prove two loads of the same files stored the same rows.

SHA-256 of every row of the imported tables (datasets, organisations, their attributes, indicators, import batches,
observations, revisions, data versions, events), ids included, each table in the order of its key; the batches'
times (``started_at``, ``finished_at``) and ``imported_by`` left out, as they differ from run to run. Prints one
digest a table and one for all.

Run: ``.venv/bin/python bench/store_digest.py URL``
"""

from __future__ import annotations

import hashlib
import sys

from sqlalchemy import create_engine, text

TABLES = {
    "datasets": "id",
    "organisations": "id",
    "organisation_attributes": "id",
    "indicators": "id",
    "import_batches": "id",
    "observations": "id",
    "observation_revisions": "id",
    "indicator_data_versions": "indicator_id",
    "events": "id",
}
LEFT_OUT = {"started_at", "finished_at", "imported_by", "created_at", "updated_at"}


def digests(url: str) -> dict[str, str]:
    engine = create_engine(url)
    out: dict[str, str] = {}
    whole = hashlib.sha256()
    with engine.connect() as conn:
        for table, key in TABLES.items():
            result = conn.execute(text(f"SELECT * FROM {table} ORDER BY {key}"))
            keep = [i for i, name in enumerate(result.keys()) if name not in LEFT_OUT]
            digest = hashlib.sha256()
            rows = 0
            while batch := result.fetchmany(100_000):
                for row in batch:
                    digest.update(repr(tuple(_norm(row[i]) for i in keep)).encode())
                rows += len(batch)
            out[table] = f"{digest.hexdigest()[:16]} ({rows:,} rows)"
            whole.update(digest.digest())
    engine.dispose()
    out["all"] = whole.hexdigest()
    return out


def _norm(value: object) -> object:
    """Dates stored as text on SQLite and as dates on PostgreSQL compare as text; JSON as it reads back."""
    return str(value) if value is not None and not isinstance(value, int | float | str) else value


def main() -> None:
    for table, digest in digests(sys.argv[1]).items():
        print(f"{table:<26} {digest}")


if __name__ == "__main__":
    main()
