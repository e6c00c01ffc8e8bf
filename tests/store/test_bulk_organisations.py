"""An import's organisations and attributes, written set-based (``store.bulk_organisations``): the same rows, ids
and counts as the row-by-row writes they replaced, kept here as the reference, on a first import and on imports
that rename, retype, re-parent and revise what is stored."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import polars as pl
from sqlalchemy import Connection, Engine, insert, select, update

from forewarn.store import bulk, bulk_organisations
from forewarn.store.models import ImportBatch, Organisation, OrganisationAttribute

ORG_SCHEMA = {
    "org_code": pl.String,
    "name": pl.String,
    "type": pl.String,
    "region": pl.String,
    "parent_code": pl.String,
}
ATTRIBUTE_SCHEMA = {
    "org_code": pl.String,
    "name": pl.String,
    "valid_from": pl.Date,
    "value_number": pl.Float64,
    "value_text": pl.String,
}
JAN, FEB = dt.date(2020, 1, 1), dt.date(2020, 2, 1)

# Three imports: the first creates (a parent named before and after its children, one unknown), the second adds
# one, renames one (a name equal to the code leaves the stored name), retypes, re-parents and revises attributes,
# the third repeats the second (nothing changes).
IMPORTS: list[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]] = [
    (
        [
            ("C", "Child", "ward", None, "P"),
            ("P", "Parent", "trust", "North", None),
            ("D", "D", None, None, "NOPE"),
            ("E", "Else", None, "South", "P"),
        ],
        [
            ("C", "beds", JAN, 10.0, None),
            ("C", "beds", FEB, 12.0, None),
            ("P", "kind", JAN, None, "acute"),
            ("E", "beds", JAN, 3.0, None),
        ],
    ),
    (
        [
            ("N", "New", "ward", None, "C"),
            ("C", "C", "unit", None, None),
            ("D", "Dee", None, "East", "E"),
            ("P", "Parent", None, None, None),
        ],
        [
            ("C", "beds", JAN, 11.0, None),
            ("C", "beds", FEB, 12.0, None),
            ("P", "kind", JAN, None, "community"),
            ("N", "beds", FEB, 1.0, None),
            ("D", "kind", JAN, None, None),
        ],
    ),
]
IMPORTS.append(IMPORTS[1])


def _reference_upsert(
    conn: Connection, organisations: pl.DataFrame, dataset_id: int, batch_id: int
) -> tuple[dict[str, int], int]:
    """The row-by-row write this module replaced (``bulk.upsert_organisations`` before it)."""
    codes = organisations["org_code"].to_list()
    known = dict(
        conn.execute(select(Organisation.code, Organisation.id).where(Organisation.code.in_(codes))).all()
    )
    new = organisations.filter(~pl.col("org_code").is_in(list(known)))
    if new.height:
        conn.execute(
            insert(Organisation),
            [
                {
                    "code": r["org_code"],
                    "name": r["name"],
                    "type": r["type"],
                    "region": r["region"],
                    "dataset_id": dataset_id,
                    "created_batch_id": batch_id,
                }
                for r in new.iter_rows(named=True)
            ],
        )
    for r in organisations.filter(pl.col("org_code").is_in(list(known))).iter_rows(named=True):
        changes = {k: r[k] for k in ("type", "region") if r[k] is not None}
        if r["name"] != r["org_code"]:
            changes["name"] = r["name"]
        if changes:
            conn.execute(
                update(Organisation).where(Organisation.id == known[r["org_code"]]).values(**changes)
            )
    ids = dict(
        conn.execute(select(Organisation.code, Organisation.id).where(Organisation.code.in_(codes))).all()
    )
    for r in organisations.filter(pl.col("parent_code").is_not_null()).iter_rows(named=True):
        parent_id = conn.execute(
            select(Organisation.id).where(Organisation.code == r["parent_code"])
        ).scalar_one_or_none()
        if parent_id is not None:
            conn.execute(
                update(Organisation).where(Organisation.id == ids[r["org_code"]]).values(parent_id=parent_id)
            )
    return ids, new.height


def _reference_attributes(
    conn: Connection, attributes: pl.DataFrame, org_ids: dict[str, int], batch_id: int
) -> int:
    """The row-by-row write this module replaced (``bulk.write_attributes`` before it)."""
    existing = {
        (o, n, d): (vn, vt)
        for o, n, d, vn, vt in conn.execute(
            select(
                OrganisationAttribute.organisation_id,
                OrganisationAttribute.name,
                OrganisationAttribute.valid_from,
                OrganisationAttribute.value_number,
                OrganisationAttribute.value_text,
            )
        )
    }
    new_rows = []
    written = 0
    for r in attributes.iter_rows(named=True):
        key = (org_ids[r["org_code"]], r["name"], r["valid_from"])
        value = (r["value_number"], r["value_text"])
        if key not in existing:
            new_rows.append(
                {
                    "organisation_id": key[0],
                    "name": key[1],
                    "valid_from": key[2],
                    "value_number": value[0],
                    "value_text": value[1],
                    "batch_id": batch_id,
                }
            )
        elif existing[key] != value:
            conn.execute(
                update(OrganisationAttribute)
                .where(
                    OrganisationAttribute.organisation_id == key[0],
                    OrganisationAttribute.name == key[1],
                    OrganisationAttribute.valid_from == key[2],
                )
                .values(value_number=value[0], value_text=value[1], batch_id=batch_id)
            )
            written += 1
    if new_rows:
        conn.execute(insert(OrganisationAttribute), new_rows)
    return written + len(new_rows)


def _stored(conn: Connection) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Every organisation and attribute in the order of their ids, with the ids as codes and the batches as their
    places (0, 1, ...): a sequence on PostgreSQL does not roll back."""
    codes = dict(conn.execute(select(Organisation.id, Organisation.code)).all())
    batches = {
        int(b): n
        for n, b in enumerate(conn.execute(select(ImportBatch.id).order_by(ImportBatch.id)).scalars())
    }
    organisations = [
        (r.code, r.name, r.type, r.region, codes.get(r.parent_id), batches[r.created_batch_id])
        for r in conn.execute(select(Organisation).order_by(Organisation.id))
    ]
    attributes = [
        (codes[r.organisation_id], r.name, r.valid_from, r.value_number, r.value_text, batches[r.batch_id])
        for r in conn.execute(select(OrganisationAttribute).order_by(OrganisationAttribute.id))
    ]
    return organisations, attributes


Upsert = Callable[[Connection, pl.DataFrame, int, int], tuple[dict[str, int], int]]
Attributes = Callable[[Connection, pl.DataFrame, dict[str, int], int], int]


def _run(engine: Engine, upsert: Upsert, attributes: Attributes) -> list[Any]:
    """The three imports, each in a transaction of its own; what each returned and stored; then all undone."""
    seen: list[Any] = []
    with bulk.import_transaction(engine) as conn:
        dataset = bulk.upsert_dataset(conn, "test", {"name": "Test"})
        for organisations, rows in IMPORTS:
            batch = bulk.start_batch(
                conn, {"source_name": "f", "checksum": "c", "mapping_checksum": "m", "imported_by": "t"}
            )
            ids, created = upsert(
                conn, pl.DataFrame(organisations, schema=ORG_SCHEMA, orient="row"), dataset, batch
            )
            written = attributes(conn, pl.DataFrame(rows, schema=ATTRIBUTE_SCHEMA, orient="row"), ids, batch)
            stored = dict(conn.execute(select(Organisation.code, Organisation.id)).all())
            assert ids == {code: stored[code] for code, *_ in organisations}
            seen.append((created, written, _stored(conn)))
        conn.rollback()
    return seen


def test_the_set_based_writes_store_what_the_row_by_row_writes_stored(engine: Engine) -> None:
    expected = _run(engine, _reference_upsert, _reference_attributes)
    assert (
        _run(engine, bulk_organisations.upsert_organisations, bulk_organisations.write_attributes) == expected
    )
    # The reference itself, spelled out where it matters: what the second import changed, and that a repeat
    # changes nothing.
    (first_created, _, _), (created, written, (organisations, attributes)), (again, unchanged, same) = (
        expected
    )
    assert (first_created, created, again, unchanged) == (4, 1, 0, 0)
    assert written == 4  # C's January beds and P's kind updated, N's beds and D's empty kind inserted
    assert same == (organisations, attributes)
    assert organisations == [
        ("C", "Child", "unit", None, "P", 0),
        ("P", "Parent", "trust", "North", None, 0),
        ("D", "Dee", None, "East", "E", 0),
        ("E", "Else", None, "South", "P", 0),
        ("N", "New", "ward", None, "C", 1),
    ]
    assert [row[:5] for row in attributes] == [
        ("C", "beds", JAN, 11.0, None),
        ("C", "beds", FEB, 12.0, None),
        ("P", "kind", JAN, None, "community"),
        ("E", "beds", JAN, 3.0, None),
        ("N", "beds", FEB, 1.0, None),
        ("D", "kind", JAN, None, None),
    ]


def test_an_empty_file_writes_nothing(engine: Engine) -> None:
    with bulk.import_transaction(engine) as conn:
        empty = pl.DataFrame(schema=ORG_SCHEMA)
        assert bulk_organisations.upsert_organisations(conn, empty, 1, 1) == ({}, 0)
        assert bulk_organisations.write_attributes(conn, pl.DataFrame(schema=ATTRIBUTE_SCHEMA), {}, 1) == 0
        assert _stored(conn) == ([], [])


def _attributes_stored(conn: Connection) -> list[tuple[Any, ...]]:
    return [
        (r.name, r.valid_from, r.value_number, r.value_text)
        for r in conn.execute(select(OrganisationAttribute).order_by(OrganisationAttribute.id))
    ]


def test_a_null_value_a_missing_attribute_and_a_nan(engine: Engine) -> None:
    """A null given again is unchanged (not rewritten); an attribute the file leaves out keeps its stored row; a
    value and a null replace each other; a NaN is stored as a null on both stores, so that it too is unchanged
    when given again."""
    nan = float("nan")
    with bulk.import_transaction(engine) as conn:
        dataset = bulk.upsert_dataset(conn, "test", {"name": "Test"})
        batch = bulk.start_batch(
            conn, {"source_name": "f", "checksum": "c", "mapping_checksum": "m", "imported_by": "t"}
        )
        ids, _ = bulk_organisations.upsert_organisations(
            conn,
            pl.DataFrame([("A", "Alpha", None, None, None)], schema=ORG_SCHEMA, orient="row"),
            dataset,
            batch,
        )

        def write(rows: list[tuple[Any, ...]]) -> int:
            frame = pl.DataFrame(rows, schema=ATTRIBUTE_SCHEMA, orient="row")
            return bulk_organisations.write_attributes(conn, frame, ids, batch)

        first = [
            ("A", "beds", JAN, None, None),  # held with no value
            ("A", "beds", FEB, 5.0, None),
            ("A", "kind", JAN, None, "acute"),
            ("A", "score", JAN, nan, None),
        ]
        assert write(first) == 4
        assert _attributes_stored(conn) == [
            ("beds", JAN, None, None),
            ("beds", FEB, 5.0, None),
            ("kind", JAN, None, "acute"),
            ("score", JAN, None, None),
        ]
        assert write(first) == 0  # nulls equal nulls, the NaN stored as a null equals the NaN given again
        # The null and the value trade places; "kind" is missing from this file and keeps its row and value.
        assert write([("A", "beds", JAN, 7.0, None), ("A", "beds", FEB, None, None)]) == 2
        assert _attributes_stored(conn) == [
            ("beds", JAN, 7.0, None),
            ("beds", FEB, None, None),
            ("kind", JAN, None, "acute"),
            ("score", JAN, None, None),
        ]
        # A text and a null in the text column trade places too.
        assert write([("A", "kind", JAN, None, None)]) == 1
        assert _attributes_stored(conn)[2] == ("kind", JAN, None, None)
        conn.rollback()
