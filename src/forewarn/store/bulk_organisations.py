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


def _stored_attributes(conn: Connection, low: int, high: int) -> pl.DataFrame:
    """The stored attributes of organisations ``low`` to ``high`` (ids), the date as ISO text on both stores."""
    rows = conn.exec_driver_sql(
        "SELECT organisation_id, name, CAST(valid_from AS TEXT), value_number, value_text "
        f"FROM organisation_attributes WHERE organisation_id BETWEEN {int(low)} AND {int(high)}"
    ).fetchall()
    schema = {
        "organisation_id": pl.Int64,
        "name": pl.String,
        "key_date": pl.String,
        "stored_number": pl.Float64,
        "stored_text": pl.String,
    }
    return pl.DataFrame(rows, schema=schema, orient="row").with_columns(pl.lit(True).alias("held"))


def write_attributes(
    conn: Connection, attributes: pl.DataFrame, org_ids: dict[str, int], batch_id: int
) -> int:
    """Insert the attributes the store does not hold (by organisation, name and date), in the file's order, and
    update those it holds with another value; returns the rows inserted or updated.

    Matched to the stored attributes by a join. A value is unchanged when it equals the stored one, a null equal
    to a null (an attribute held with no value, given again with none, is not rewritten); an attribute the file
    does not give keeps its stored row. A NaN number is written as a null (as SQLite stores it anyway, so that
    both stores hold the same and a second import of the same rows changes nothing; a file's NaN is refused
    before this, :mod:`forewarn.ingest.numbers`)."""
    if attributes.is_empty():
        return 0
    ids = pl.DataFrame(
        {"org_code": list(org_ids), "organisation_id": list(org_ids.values())},
        schema={"org_code": pl.String, "organisation_id": pl.Int64},
    )
    rows = attributes.join(ids, on="org_code", how="left", maintain_order="left").with_columns(
        pl.col("value_number").fill_nan(None),
        pl.col("valid_from").dt.strftime("%Y-%m-%d").alias("key_date"),
    )
    low, high = min(org_ids.values(), default=0), max(org_ids.values(), default=0)
    matched = rows.join(
        _stored_attributes(conn, low, high),
        on=["organisation_id", "name", "key_date"],
        how="left",
        maintain_order="left",
    ).with_columns(pl.col("held").fill_null(False))
    changed = matched.filter(
        pl.col("held")
        & (
            pl.col("value_number").ne_missing(pl.col("stored_number"))
            | pl.col("value_text").ne_missing(pl.col("stored_text"))
        )
    )
    inserts = matched.filter(~pl.col("held"))
    _many(
        conn,
        "UPDATE organisation_attributes SET value_number = ?, value_text = ?, batch_id = ? "
        "WHERE organisation_id = ? AND name = ? AND valid_from = ?",
        [
            (number, text, batch_id, org, name, _date(conn, day))
            for number, text, org, name, day in changed.select(
                "value_number", "value_text", "organisation_id", "name", "valid_from"
            ).iter_rows()
        ],
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
    return changed.height + inserts.height
