"""PostgreSQL: a large append's foreign keys checked once a distinct parent, not by a trigger a row.

PostgreSQL checks a foreign key by a trigger per inserted row: a keyed lookup in the parent that locks the parent
row (``FOR KEY SHARE``). The scan's writes (``series_status``, ``series_signals``: three keys each, to the
organisation, the indicator and the scan) hold a few distinct parents for hundreds of thousands of rows, and the
triggers were half the server's CPU of a first scan (docs/performance.md, "PostgreSQL's reads, binary
(wt/pgscan)"). Here each single-column key's distinct values in the frame are looked up and locked ``FOR KEY
SHARE`` in one statement: every value must be found (else the triggers run, and the store raises its own error),
and the parents are locked until the transaction ends, as the triggers would have locked them. Then the
triggers are off for the append alone (``SET LOCAL session_replication_role = replica``, as the import does:
:mod:`forewarn.store.bulk`), and the setting is put back. This needs a superuser; for any other role, a key over
several columns, a key column the frame lacks, or a table with triggers of its own, the triggers run as before.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import polars as pl
from sqlalchemy import Connection

CHECKED_ROWS = 5_000
"""Appends of fewer rows keep the triggers: one statement a key would cost about what they do."""


def _keys(conn: Connection, table: str) -> list[tuple[str, str, str]] | None:
    """(column, parent table, parent column) of each foreign key of ``table``; None when a key spans several
    columns or the table has a trigger other than its keys' (those would be turned off too)."""
    triggers = conn.exec_driver_sql(
        "SELECT count(*) FROM pg_trigger WHERE tgrelid = %(t)s::regclass AND NOT tgisinternal", {"t": table}
    ).scalar_one()
    if triggers:
        return None
    rows = conn.exec_driver_sql(
        "SELECT array_length(c.conkey, 1), a.attname, c.confrelid::regclass::text, p.attname "
        "FROM pg_constraint c "
        "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] "
        "JOIN pg_attribute p ON p.attrelid = c.confrelid AND p.attnum = c.confkey[1] "
        "WHERE c.conrelid = %(t)s::regclass AND c.contype = 'f' ORDER BY c.conname",
        {"t": table},
    ).all()
    if any(int(width) != 1 for width, *_ in rows):
        return None
    return [(str(column), str(parent), str(key)) for _, column, parent, key in rows]


def _held(conn: Connection, frame: pl.DataFrame, keys: list[tuple[str, str, str]]) -> bool:
    """Whether every non-null value of each key column of ``frame`` is a row of its parent, each such row then
    locked ``FOR KEY SHARE`` until the transaction ends."""
    for column, parent, key in keys:
        if column not in frame.columns or not frame[column].dtype.is_integer():
            return False
        ids = frame[column].drop_nulls().unique().sort().to_list()
        if not ids:
            continue
        found = conn.exec_driver_sql(
            f'SELECT count(*) FROM (SELECT 1 FROM {parent} WHERE "{key}" = ANY(%(ids)s) FOR KEY SHARE) AS held',
            {"ids": ids},
        ).scalar_one()
        if int(found) != len(ids):
            return False
    return True


@contextmanager
def keys_checked_once(conn: Connection, table: str, frame: pl.DataFrame) -> Iterator[bool]:
    """Around an append of ``frame`` to ``table`` in ``conn``'s transaction: on PostgreSQL, for a superuser and
    a frame of :data:`CHECKED_ROWS` rows or more, the foreign keys checked (and their parents locked) once per
    distinct value, and the row-by-row triggers off for the append. Otherwise nothing changes. Yields whether
    the triggers are off (an import into an empty table drops and adds back its keys when they are not).

    The triggers are off for every table while they are (``session_replication_role`` is the session's): a
    caller writes inside only rows whose keys this check covers, or copies from rows that exist (the import's
    revisions, :func:`forewarn.store.bulk.write_observations`)."""
    if (
        conn.dialect.name != "postgresql"
        or frame.height < CHECKED_ROWS
        or conn.exec_driver_sql("SHOW is_superuser").scalar_one() != "on"
    ):
        yield False
        return
    keys = _keys(conn, table)
    if not keys or not _held(conn, frame, keys):
        yield False
        return
    before = str(conn.exec_driver_sql("SHOW session_replication_role").scalar_one())
    conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
    yield True  # on an error the transaction is aborted, and its rollback puts the setting back
    conn.exec_driver_sql(f"SET LOCAL session_replication_role = {before}")


__all__ = ["CHECKED_ROWS", "keys_checked_once"]
