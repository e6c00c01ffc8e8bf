"""An import's organisations and their dated attributes, written set-based: statements over tuples, no row objects.

The first versions (``bulk.upsert_organisations`` and ``bulk.write_attributes``, which now call these) looked the
file's codes up 5,000 at a time through an ``IN`` list that SQLAlchemy compiled each time, and walked the rows with
``iter_rows``, a dict and a compiled ``UPDATE`` per organisation: 1.6 s of CPU at 5,000 organisations, about ten
times that at 50,000 (``docs/performance.md``, "Simulate --load at 50,000"). Here the stored codes and attributes
are read once into frames, the file's rows are matched to them by a join, and the inserts and updates go to the
driver's ``executemany`` as tuples, in the file's order (the order the ids are given in, as before). The rows
written, their ids and the counts returned are the same as before; everything runs in the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import polars as pl
from sqlalchemy import Connection

__all__ = ["upsert_organisations", "write_attributes"]


def _marker(conn: Connection) -> str:
    return "?" if conn.dialect.paramstyle == "qmark" else "%s"


def _many(conn: Connection, sql: str, rows: Sequence[tuple[Any, ...]]) -> None:
    if rows:
        conn.exec_driver_sql(sql.replace("?", _marker(conn)), list(rows))


def _date(conn: Connection, value: dt.date | None) -> Any:
    # SQLAlchemy stores a Date on SQLite as ISO text; the raw driver would adapt a date object the same way, but
    # Python 3.12 deprecates that adapter, so the text is given.
    return value.isoformat() if value is not None and conn.dialect.name == "sqlite" else value


def _stored_codes(conn: Connection) -> pl.DataFrame:
    rows = conn.exec_driver_sql("SELECT code, id FROM organisations").fetchall()
    return pl.DataFrame(rows, schema={"org_code": pl.String, "id": pl.Int64}, orient="row")


def upsert_organisations(
    conn: Connection, organisations: pl.DataFrame, dataset_id: int, batch_id: int
) -> tuple[dict[str, int], int]:
    """Create organisations not yet known, in the file's order; fill in the name, type and region the file gives
    for those already known (the name only where it is not the code itself), and the parent where the file names
    one the store holds. Returns every organisation's id by code and the number created."""
    stored = _stored_codes(conn)
    known = organisations.join(stored, on="org_code", how="left", maintain_order="left")
    new = known.filter(pl.col("id").is_null())
    _many(
        conn,
        "INSERT INTO organisations (code, name, type, region, dataset_id, created_batch_id) VALUES (?, ?, ?, ?, ?, ?)",
        [
            (code, name, kind, region, dataset_id, batch_id)
            for code, name, kind, region in new.select("org_code", "name", "type", "region").iter_rows()
        ],
    )
    # One statement for every known organisation with something to change: a column the file leaves empty (a
    # name equal to the code) keeps its stored value.
    changes = known.filter(pl.col("id").is_not_null()).select(
        pl.when(pl.col("name") != pl.col("org_code")).then(pl.col("name")).alias("name"),
        "type",
        "region",
        "id",
    )
    changes = changes.filter(pl.any_horizontal(pl.col("name", "type", "region").is_not_null()))
    _many(
        conn,
        "UPDATE organisations SET name = COALESCE(?, name), type = COALESCE(?, type), "
        "region = COALESCE(?, region) WHERE id = ?",
        list(changes.iter_rows()),
    )
    stored = _stored_codes(conn) if new.height else stored
    ids = organisations.select("org_code", "parent_code").join(
        stored, on="org_code", how="left", maintain_order="left"
    )
    parents = ids.filter(pl.col("parent_code").is_not_null()).join(
        stored.rename({"org_code": "parent_code", "id": "parent_id"}),
        on="parent_code",
        how="inner",
        maintain_order="left",
    )
    _many(
        conn,
        "UPDATE organisations SET parent_id = ? WHERE id = ?",
        list(parents.select("parent_id", "id").iter_rows()),
    )
    return dict(ids.select("org_code", "id").iter_rows()), new.height


def write_attributes(
    conn: Connection, attributes: pl.DataFrame, org_ids: dict[str, int], batch_id: int
) -> int:
    """Insert the attributes the store does not hold (by organisation, name and date), in the file's order, and
    update those it holds with another value; returns the rows inserted or updated."""
    if attributes.is_empty():
        return 0
    ids = pl.DataFrame(
        {"org_code": list(org_ids), "organisation_id": list(org_ids.values())},
        schema={"org_code": pl.String, "organisation_id": pl.Int64},
    )
    rows = attributes.join(ids, on="org_code", how="left", maintain_order="left")
    low, high = min(org_ids.values(), default=0), max(org_ids.values(), default=0)
    stored = conn.exec_driver_sql(
        "SELECT organisation_id, name, valid_from, value_number, value_text FROM organisation_attributes "
        f"WHERE organisation_id BETWEEN {low} AND {high}"
    ).fetchall()
    inserts = rows
    updates: list[tuple[Any, ...]] = []
    if stored:
        existing = {
            (int(o), str(n), str(d)): (vn, vt) for o, n, d, vn, vt in stored
        }  # a date as ISO text, whichever the driver gives (text on SQLite, a date on PostgreSQL)
        keyed = rows.with_columns(pl.col("valid_from").dt.strftime("%Y-%m-%d").alias("key_date"))
        held = []
        for org, name, day, number, text, when in keyed.select(
            "organisation_id", "name", "key_date", "value_number", "value_text", "valid_from"
        ).iter_rows():
            value = existing.get((org, name, day))
            held.append(value is not None)
            if value is not None and value != (number, text):
                updates.append((number, text, batch_id, org, name, _date(conn, when)))
        inserts = rows.filter(~pl.Series(held, dtype=pl.Boolean))
    _many(
        conn,
        "UPDATE organisation_attributes SET value_number = ?, value_text = ?, batch_id = ? "
        "WHERE organisation_id = ? AND name = ? AND valid_from = ?",
        updates,
    )
    _many(
        conn,
        "INSERT INTO organisation_attributes (organisation_id, name, valid_from, value_number, value_text, batch_id) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [
            (org, name, _date(conn, day), number, text, batch_id)
            for org, name, day, number, text in inserts.select(
                "organisation_id", "name", "valid_from", "value_number", "value_text"
            ).iter_rows()
        ],
    )
    return len(updates) + inserts.height
