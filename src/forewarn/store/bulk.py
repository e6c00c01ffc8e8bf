"""Set-based writes for imports: one transaction, staged rows, and revisions kept for every replaced value.

Rows go into a temporary staging table (on SQLite from a file ADBC writes, see :mod:`forewarn.store.sqlite_ingest`;
``COPY`` on PostgreSQL); one join with
``observations`` keeps those to write (new, or changed) with the id of the observation they replace, and three
statements by that id then record the old values of rows that change, update them, and insert the new ones.
Everything runs inside the caller's transaction, so a crash or a killed process leaves the store as it was.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import polars as pl
from sqlalchemy import Connection, Engine, insert, select, text, update

from forewarn.store import bulk_organisations, pg_copy, pg_keys, sqlite_ingest
from forewarn.store.models import (
    Dataset,
    Event,
    ImportBatch,
    Indicator,
    Observation,
)

STAGING = "forewarn_staging_observations"
MATCHED = "forewarn_staging_matched"
VALUE_COLUMNS = ("numerator", "denominator", "value", "expected", "standard_error")
MERGE_WORK_MEM = "256MB"
"""PostgreSQL's ``work_mem`` for the merge of a populated import (this transaction only): the hash of the stored
rows the file's periods cover, and the sort of the rows to write, in memory (see :func:`_match`)."""

IMPORT_CACHE_KIB = 524_288
"""SQLite's page cache for the import's connection while it imports (512 MB, the store's usual being 128 MB; the
usual size back after): a transaction that writes more pages than the cache holds spills them to the WAL before
the commit and reads them back from there, and the inserts and updates of a populated import walk the table's
unique index and series index (300 MB at 3.6M observations) once per indicator."""

IMPORT_TEMP_STORE = "FILE"
"""SQLite's temporary store for the import's connection while it imports (the store's usual ``MEMORY`` back after,
:mod:`forewarn.store.database`): the sort of an index rebuilt after a load into an empty store spills past the page
cache into temporary files, which ``MEMORY`` keeps in the process (a peak of 12 GB for the 120M rows of a ten-year
simulated load); on disk they cost what the operating system's page cache costs. The merge table of a populated
import (:data:`MATCHED`) goes there too: about 290 MB less peak memory at the bench's size for about 0.2 s more
CPU in its match (``docs/performance.md``, "SQLite's populated import, fourth pass"). ``temp_store`` changes only
outside a transaction, so it is set before the import's begins."""

Progress = Callable[[int], None]


@contextmanager
def import_transaction(engine: Engine) -> Iterator[Connection]:
    """The one transaction of an import: committed at the end, rolled back on any error.

    On SQLite, foreign keys are not checked row by row inside it: every id it writes into ``observations``,
    ``events`` and attributes comes from the parent rows this same transaction read or created (organisations,
    indicators, its batch), under SQLite's single writer, so the check cannot fail, and it costs about a quarter of
    the insert. ``PRAGMA foreign_keys`` changes only outside a transaction: off before, on again after, even on
    error, so the pooled connection is handed back as it came.

    The commit is durable on both stores: an import reported done survives a crash of the server (PostgreSQL's
    asynchronous commit would save only the final WAL flush of one large transaction, and would let an import the
    user was told had landed disappear)."""
    with engine.connect() as conn:
        raw = conn.connection.driver_connection if conn.dialect.name == "sqlite" else None
        cache = temp_store = None
        if raw is not None:
            raw.execute("PRAGMA foreign_keys=OFF")
            cache = int(raw.execute("PRAGMA cache_size").fetchone()[0])
            raw.execute(f"PRAGMA cache_size = -{IMPORT_CACHE_KIB}")
            temp_store = int(raw.execute("PRAGMA temp_store").fetchone()[0])
            raw.execute(f"PRAGMA temp_store = {IMPORT_TEMP_STORE}")
        try:
            with conn.begin():
                yield conn
        finally:
            if raw is not None:
                sqlite_ingest.detach(raw)  # its transaction over, the load file can go
                raw.execute("PRAGMA foreign_keys=ON")
                raw.execute(f"PRAGMA cache_size = {cache}")  # the pages past the usual size are freed
                # the store's usual temporary store (forewarn.store.database)
                raw.execute(f"PRAGMA temp_store = {temp_store}")


def upsert_dataset(conn: Connection, code: str, values: dict[str, Any]) -> int:
    existing = conn.execute(select(Dataset.id).where(Dataset.code == code)).scalar_one_or_none()
    if existing is None:
        return int(
            conn.execute(insert(Dataset).values(code=code, **values).returning(Dataset.id)).scalar_one()
        )
    conn.execute(update(Dataset).where(Dataset.id == existing).values(**values))
    return int(existing)


def upsert_indicators(conn: Connection, rows: Sequence[dict[str, Any]]) -> tuple[dict[str, int], int]:
    """Create or update indicators by code; returns code -> id and how many were created."""
    codes = [r["code"] for r in rows]
    known = dict(conn.execute(select(Indicator.code, Indicator.id).where(Indicator.code.in_(codes))).all())
    created = 0
    for row in rows:
        if row["code"] in known:
            conn.execute(update(Indicator).where(Indicator.id == known[row["code"]]).values(**row))
        else:
            known[row["code"]] = conn.execute(
                insert(Indicator).values(**row).returning(Indicator.id)
            ).scalar_one()
            created += 1
    return {str(k): int(v) for k, v in known.items()}, created


def upsert_organisations(
    conn: Connection, organisations: pl.DataFrame, dataset_id: int, batch_id: int
) -> tuple[dict[str, int], int]:
    """Create organisations not yet known; fill in name, type and region where the file gives them (set-based:
    :func:`forewarn.store.bulk_organisations.upsert_organisations`)."""
    return bulk_organisations.upsert_organisations(conn, organisations, dataset_id, batch_id)


def write_attributes(
    conn: Connection, attributes: pl.DataFrame, org_ids: dict[str, int], batch_id: int
) -> int:
    """Insert new dated attributes and update changed ones (:func:`forewarn.store.bulk_organisations.write_attributes`)."""
    return bulk_organisations.write_attributes(conn, attributes, org_ids, batch_id)


def write_events(conn: Connection, events: pl.DataFrame, org_ids: dict[str, int], batch_id: int) -> int:
    if events.is_empty():
        return 0
    ids = list(set(org_ids.values()))
    existing = {
        (o, d, k): (g, t)
        for o, d, k, g, t in conn.execute(
            select(Event.organisation_id, Event.date, Event.kind, Event.grade, Event.detail).where(
                Event.organisation_id.in_(ids)
            )
        )
    }
    new_rows = []
    for r in events.iter_rows(named=True):
        key = (org_ids[r["org_code"]], r["date"], r["kind"])
        if key not in existing:
            new_rows.append(
                {
                    "organisation_id": key[0],
                    "date": key[1],
                    "kind": key[2],
                    "grade": r["grade"],
                    "detail": r["detail"],
                    "batch_id": batch_id,
                }
            )
        elif existing[key] != (r["grade"], r["detail"]):
            conn.execute(
                update(Event)
                .where(Event.organisation_id == key[0], Event.date == key[1], Event.kind == key[2])
                .values(grade=r["grade"], detail=r["detail"], batch_id=batch_id)
            )
    if new_rows:
        conn.execute(insert(Event), new_rows)
    return len(new_rows)


def _is_distinct(dialect: str, left: str, right: str) -> str:
    if dialect == "sqlite":
        return f"{left} IS NOT {right}"
    return f"{left} IS DISTINCT FROM {right}"


def _bulk_load(
    conn: Connection,
    table: str,
    frame: pl.DataFrame,
    columns: list[str],
    chunk_rows: int,
    progress: Progress | None,
) -> None:
    """Append ``frame``'s ``columns`` to ``table`` in chunks: binary COPY on PostgreSQL; on SQLite through a file written
    by ADBC and copied in (:mod:`forewarn.store.sqlite_ingest`)."""
    if conn.dialect.name == "postgresql":
        # Binary COPY: the server copies each value's bytes instead of parsing text (forewarn.store.pg_copy).
        pg_copy.copy_frame(conn, table, frame.select(columns), chunk_rows, progress)
        return
    # Columns that are null or one constant throughout are written as SQL literals, not stored once per row.
    text_dates = frame.select(columns).with_columns(
        pl.col("period_start", "period_end").dt.strftime("%Y-%m-%d")
    )
    literals: dict[str, str] = {}
    for column in columns:
        series = text_dates[column]
        if series.null_count() == series.len():
            literals[column] = "NULL"
        elif series.dtype.is_integer() and series.n_unique() == 1 and series.null_count() == 0:
            literals[column] = str(int(series[0]))
    sqlite_ingest.insert_frame(conn, table, text_dates, columns, literals, chunk_rows, progress)


def _stage(conn: Connection, observations: pl.DataFrame, chunk_rows: int, progress: Progress | None) -> str:
    """Put the rows to merge where one statement can join them with ``observations``; returns the table's name.

    PostgreSQL: a temporary table filled by ``COPY`` and analysed (without statistics the planner takes it for a
    few rows and joins it by an index lookup per staged row). SQLite: the load file ADBC writes, attached, read
    in place (copying it into a temporary table first cost a second write and a drop: 1.2 s of CPU for 2.4M rows).
    """
    columns = ["organisation_id", "indicator_id", "period_start", "period_end", *VALUE_COLUMNS]
    frame = observations.select(columns).with_columns(
        pl.col("organisation_id", "indicator_id").cast(pl.Int64), pl.col(*VALUE_COLUMNS).cast(pl.Float64)
    )
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {STAGING}")
        conn.exec_driver_sql(
            f"CREATE TEMPORARY TABLE {STAGING} (organisation_id BIGINT NOT NULL, indicator_id BIGINT NOT NULL, "
            "period_start DATE NOT NULL, period_end DATE NOT NULL, "
            + ", ".join(f"{c} DOUBLE PRECISION" for c in VALUE_COLUMNS)
            + ")"
        )
        _bulk_load(conn, STAGING, frame, columns, chunk_rows, progress)
        conn.exec_driver_sql(f"ANALYZE {STAGING}")
        return STAGING
    staged = sqlite_ingest.attach_frame(
        conn, frame.with_columns(pl.col("period_start", "period_end").dt.strftime("%Y-%m-%d"))
    )
    if progress:
        progress(frame.height)
    return staged


def _match(conn: Connection, staged: str, observations: pl.DataFrame) -> None:
    """Fill :data:`MATCHED` with the staged rows to write (new, or changed), each with the id of the observation
    it replaces (null for a new one) and that observation's old values, which its revision records.

    One keyed lookup per staged row, not three: the revisions, the update and the insert then read this table
    (the revisions need nothing else, the update joins ``observations`` by id). On PostgreSQL the join is a hash
    join; its output, and so the order in which the update and the insert reach the table and its indexes, is
    the hash's unless sorted: a hash join spilled to 64 batches (the default ``work_mem`` of 4 MB) scattered the
    rows, and every row's index entries then landed on a page of its own (the populated import of the bench:
    950,000 buffer reads and 3.5 GB of WAL, full-page images, for 298,000 updated rows). Sorted by the unique key
    (the order of the first import's rows, their ids and the unique index), the writes walk the table and the
    indexes in order: 13.1 s of server CPU to 5.5 s for the update, 16.7 s to 6.8 s for the insert. ``work_mem``
    is raised for this transaction so that the hash and the sort stay in memory (``SET LOCAL``). The rows joined
    are limited to the indicators and the periods of the file, so the hash holds only those."""
    dialect = conn.dialect.name
    if dialect == "postgresql":
        conn.exec_driver_sql(f"SET LOCAL work_mem = '{MERGE_WORK_MEM}'")
        # No JIT compilation for the rest of the import's transaction: the match's plan (costed past
        # jit_optimize_above_cost) compiled, inlined and optimised for 0.7 s of the server's CPU, a fifth of the
        # match, for expressions run once a row; the writes after it gain nothing from it either.
        conn.exec_driver_sql("SET LOCAL jit = off")
    key = (
        "o.indicator_id = s.indicator_id AND o.organisation_id = s.organisation_id "
        "AND o.period_start = s.period_start"
    )
    indicators = ", ".join(str(int(i)) for i in observations["indicator_id"].unique().sort())
    first, last = observations["period_start"].min(), observations["period_start"].max()
    assert isinstance(first, dt.date) and isinstance(last, dt.date)
    within = (
        f"o.indicator_id IN ({indicators}) "
        f"AND o.period_start >= '{first:%Y-%m-%d}' AND o.period_start <= '{last:%Y-%m-%d}'"
    )
    # A change in any value column, the standard error included, or in the period's end is a revision.
    changed = " OR ".join(_is_distinct(dialect, f"o.{c}", f"s.{c}") for c in (*VALUE_COLUMNS, "period_end"))
    old = ", ".join(f"o.{c} AS old_{c}" for c in (*VALUE_COLUMNS, "period_end", "revision", "batch_id"))
    order = " ORDER BY s.indicator_id, s.organisation_id, s.period_start" if dialect == "postgresql" else ""
    conn.exec_driver_sql(f"DROP TABLE IF EXISTS {MATCHED}")
    # SQLite reads the staged rows in their order (the unique key's) and looks each up in the unique index: its
    # output is already in that order, a sort would only cost.
    conn.exec_driver_sql(
        f"CREATE TEMPORARY TABLE {MATCHED} AS SELECT s.organisation_id, s.indicator_id, s.period_start, "
        f"s.period_end, {', '.join(f's.{c}' for c in VALUE_COLUMNS)}, o.id AS observation_id, {old} "
        f"FROM {staged} s LEFT JOIN observations o ON {key} AND {within} WHERE o.id IS NULL OR {changed}{order}"
    )
    if dialect == "postgresql":
        conn.exec_driver_sql(f"DROP TABLE {STAGING}")
        conn.exec_driver_sql(f"ANALYZE {MATCHED}")


def _any_existing(conn: Connection, observations: pl.DataFrame) -> bool:
    indicator_ids = observations["indicator_id"].unique().to_list()
    found = conn.execute(
        select(Observation.id).where(Observation.indicator_id.in_(indicator_ids)).limit(1)
    ).first()
    return found is not None


def _insert_direct(
    conn: Connection, frame: pl.DataFrame, batch_id: int, chunk_rows: int, progress: Progress | None
) -> None:
    frame = frame.with_columns(
        pl.lit(batch_id, dtype=pl.Int64).alias("batch_id"), pl.lit(1).alias("revision")
    )
    columns = [
        "organisation_id",
        "indicator_id",
        "period_start",
        "period_end",
        *VALUE_COLUMNS,
        "batch_id",
        "revision",
    ]
    _bulk_load(conn, "observations", frame, columns, chunk_rows, progress)


REBUILT_INDEXES = ("ix_observations_organisation_series",)
"""Secondary indexes of ``observations`` dropped before a load into the empty table and built again after it (its
only other one, on ``batch_id``, went in migration 0033)."""


def _drop_secondary_indexes(conn: Connection) -> list[str]:
    """Drop :data:`REBUILT_INDEXES` and return the statements that create them, read from the store itself so that
    they are rebuilt exactly as the migrations made them. Inside the caller's transaction: a failed load leaves
    them in place."""
    names = ", ".join(f"'{name}'" for name in REBUILT_INDEXES)
    if conn.dialect.name == "sqlite":
        query = f"SELECT sql FROM sqlite_master WHERE type = 'index' AND name IN ({names})"
    else:
        query = f"SELECT indexdef FROM pg_indexes WHERE tablename = 'observations' AND indexname IN ({names})"
    statements = [str(row[0]) for row in conn.exec_driver_sql(query)]
    for name in REBUILT_INDEXES:
        conn.exec_driver_sql(f"DROP INDEX IF EXISTS {name}")
    return statements


def _drop_foreign_keys(conn: Connection) -> list[str]:
    """PostgreSQL only: drop the foreign keys of ``observations`` (to organisations, indicators, batches) and
    return the statements that add them again, from their definitions as the store holds them.

    PostgreSQL checks a foreign key by a trigger per inserted row, a keyed lookup in the parent each: with three of
    them that is about 80% of the server's time for a load (``EXPLAIN ANALYZE`` of 300,000 rows: 19.1 s with
    them, 15.0 s of it in the triggers; 3.9 s without). Adding a key back checks every row in one anti-join
    (about 1 s here), so a violation still fails the import, inside its transaction, before anything is
    committed. Used only into the empty table, like :func:`_drop_secondary_indexes`: on a populated one the
    check after would read the whole table. SQLite's check is off for the whole import (see
    :func:`import_transaction`)."""
    if conn.dialect.name != "postgresql":
        return []
    rows = conn.exec_driver_sql(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = 'observations'::regclass AND contype = 'f' ORDER BY conname"
    ).all()
    for name, _definition in rows:
        conn.exec_driver_sql(f'ALTER TABLE observations DROP CONSTRAINT "{name}"')
    return [f'ALTER TABLE observations ADD CONSTRAINT "{name}" {definition}' for name, definition in rows]


def _keyed(observations: pl.DataFrame, batch_id: int) -> pl.DataFrame:
    """The key columns of the rows ``observations`` writes (the batch as a column), for
    :func:`forewarn.store.pg_keys.keys_checked_once`: on PostgreSQL, for a superuser, their foreign keys checked once
    per distinct organisation, indicator and batch, each parent locked as the row triggers would lock it, and the
    triggers off for the writes (about 80% of the server's time of a load, see :func:`_drop_foreign_keys`). The
    updated rows keep their organisation and indicator, and the revisions copy ids from rows that exist, so
    checking every row of the file asks more than the writes need. For any other role, or when an id is missing,
    the triggers run, so the store raises its own error and the import is rolled back."""
    return observations.select("organisation_id", "indicator_id").with_columns(
        pl.lit(int(batch_id), dtype=pl.Int64).alias("batch_id")
    )


def _store_is_empty(conn: Connection) -> bool:
    return conn.execute(select(Observation.id).limit(1)).first() is None


def bump_data_versions(conn: Connection, indicator_ids: Sequence[int]) -> None:
    """Move on the data version of each indicator in ``indicator_ids`` (one upsert each, in the caller's
    transaction), so that a rescan sees that their observations changed without aggregating them."""
    if not indicator_ids:
        return
    conn.execute(
        text(
            "INSERT INTO indicator_data_versions (indicator_id, version) VALUES (:indicator_id, 1) "
            "ON CONFLICT (indicator_id) DO UPDATE SET version = indicator_data_versions.version + 1"
        ),
        [{"indicator_id": int(i)} for i in sorted(set(indicator_ids))],
    )


def write_observations(
    conn: Connection,
    observations: pl.DataFrame,
    batch_id: int,
    *,
    chunk_rows: int = 100_000,
    progress: Progress | None = None,
) -> tuple[int, int, int]:
    """Insert new observations, replace changed ones (keeping their old values as revisions); (ins, upd, same).

    The data version of the indicators written moves on when anything was inserted or replaced."""
    if observations.is_empty():
        return 0, 0, 0
    # In the order of the unique key (the order its B-tree and the rebuilt series index keep), each row's index
    # entry lands beside the last one instead of anywhere in the index: a file that comes month by month (the
    # simulator's) otherwise touches every leaf page of the key for each month. 7.2M rows inserted month-major,
    # 10.3 s CPU and 119 s wall at load 30; sorted, 5.5 s and 30 s (SQLite, docs/performance.md).
    observations = observations.sort("indicator_id", "organisation_id", "period_start")
    if not _any_existing(conn, observations):
        # Nothing already stored can collide: insert straight into the table, no staging, no comparisons. Into an
        # empty table, building the secondary indexes once after the load (a sort) costs less than keeping them
        # up to date row by row, and so does PostgreSQL's check of the foreign keys; a store that holds data keeps
        # its indexes and keys (rebuilding them would read all of it).
        # PostgreSQL: for a superuser and a large write the keys are checked once for the distinct ids and the
        # triggers skipped (pg_keys); otherwise into an empty table they are dropped and added back (one check of
        # every row after the load).
        empty = _store_is_empty(conn)
        rebuild = _drop_secondary_indexes(conn) if empty else []
        with pg_keys.keys_checked_once(
            conn, "observations", _keyed(observations, batch_id)
        ) as checks_skipped:
            if empty and not checks_skipped:
                rebuild += _drop_foreign_keys(conn)
            _insert_direct(conn, observations, batch_id, chunk_rows, progress)
        for statement in rebuild:
            conn.exec_driver_sql(statement)
        bump_data_versions(conn, observations["indicator_id"].unique().to_list())
        return observations.height, 0, 0
    staged = _stage(conn, observations, chunk_rows, progress)
    _match(conn, staged, observations)
    values = ", ".join(VALUE_COLUMNS)
    with pg_keys.keys_checked_once(conn, "observations", _keyed(observations, batch_id)):
        # The old values came with the match: the revisions need no second lookup of the rows they replace.
        conn.exec_driver_sql(
            f"INSERT INTO observation_revisions (observation_id, revision, {values}, period_end, batch_id, "
            "replaced_by_batch_id) "
            f"SELECT observation_id, old_revision, {', '.join(f'old_{c}' for c in VALUE_COLUMNS)}, old_period_end, "
            f"old_batch_id, {int(batch_id)} FROM {MATCHED} WHERE observation_id IS NOT NULL"
        )
        updated = conn.exec_driver_sql(
            f"UPDATE observations SET {', '.join(f'{c} = m.{c}' for c in VALUE_COLUMNS)}, "
            f"period_end = m.period_end, batch_id = {int(batch_id)}, "
            f"revision = observations.revision + 1 FROM {MATCHED} m "
            "WHERE observations.id = m.observation_id AND m.observation_id IS NOT NULL"
        ).rowcount
        inserted = conn.exec_driver_sql(
            f"INSERT INTO observations (organisation_id, indicator_id, period_start, period_end, {values}, batch_id, "
            "revision) SELECT m.organisation_id, m.indicator_id, m.period_start, m.period_end, "
            f"{', '.join(f'm.{c}' for c in VALUE_COLUMNS)}, {int(batch_id)}, 1 FROM {MATCHED} m "
            "WHERE m.observation_id IS NULL"
        ).rowcount
    if inserted or updated:
        # Only the indicators whose rows this batch inserted or replaced: a file that repeats one indicator
        # unchanged beside another's revisions must not make the first rescanned.
        touched = conn.exec_driver_sql(f"SELECT DISTINCT indicator_id FROM {MATCHED}").scalars()
        bump_data_versions(conn, sorted(int(i) for i in touched))
    conn.exec_driver_sql(f"DROP TABLE {MATCHED}")
    return inserted, updated, observations.height - inserted - updated


def start_batch(conn: Connection, values: dict[str, Any]) -> int:
    now = dt.datetime.now(dt.UTC)
    return int(
        conn.execute(
            insert(ImportBatch).values(started_at=now, finished_at=now, **values).returning(ImportBatch.id)
        ).scalar_one()
    )


def finish_batch(conn: Connection, batch_id: int, values: dict[str, Any]) -> None:
    conn.execute(
        update(ImportBatch)
        .where(ImportBatch.id == batch_id)
        .values(finished_at=dt.datetime.now(dt.UTC), **values)
    )


def find_batch(conn: Connection, checksum: str, mapping_checksum: str) -> dict[str, Any] | None:
    """The latest batch that imported this exact file with this exact mapping, if any."""
    table = ImportBatch.__table__
    row = (
        conn.execute(
            select(table)
            .where(table.c.checksum == checksum, table.c.mapping_checksum == mapping_checksum)
            .order_by(table.c.id.desc())
            .limit(1)
        )
        .mappings()
        .first()
    )
    return None if row is None else dict(row)
