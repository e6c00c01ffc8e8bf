"""surveillance: signals stored once per series (``series_signals``), not a row per rule per point

Revision ID: 0019
Revises: 0017

Each series' signals are packed in one text, entries ``method,rule,direction,period,value`` joined by ``;`` in the
order the scan wrote them (``forewarn.store.signals``). The rows of ``signals`` are converted, then the table is
dropped; its ``details`` JSON (the funnel's figures, repeated from ``series_status``; a CUSUM alarm's z, h and k)
is not kept: no page, report or model read it. The downgrade unpacks the entries back into rows (details null).
Values are written with ``repr`` (the shortest text that reads back to the same double), as Polars writes them.
"""

from collections.abc import Iterator, Sequence
from itertools import groupby
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHUNK = 50_000


def upgrade() -> None:
    op.create_table(
        "series_signals",
        sa.Column("indicator_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("scan_id", sa.Integer(), nullable=False),
        sa.Column("signal_count", sa.Integer(), nullable=False),
        sa.Column("entries", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["indicator_id"],
            ["indicators.id"],
            name=op.f("fk_series_signals_indicator_id_indicators"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_series_signals_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["scan_id"], ["scan_runs.id"], name=op.f("fk_series_signals_scan_id_scan_runs")
        ),
        sa.PrimaryKeyConstraint("indicator_id", "organisation_id", name=op.f("pk_series_signals")),
    )
    with op.batch_alter_table("series_signals") as batch:
        batch.create_index(batch.f("ix_series_signals_organisation_id"), ["organisation_id"], unique=False)
    conn = op.get_bind()
    rows = conn.execute(
        sa.text(
            "SELECT indicator_id, organisation_id, scan_id, method, rule, direction, period_start, value "
            "FROM signals ORDER BY indicator_id, organisation_id, id"
        )
    )
    insert = sa.text(
        "INSERT INTO series_signals (indicator_id, organisation_id, scan_id, signal_count, entries) "
        "VALUES (:indicator_id, :organisation_id, :scan_id, :signal_count, :entries)"
    )
    for chunk in _chunks(_packed(rows)):
        conn.execute(insert, chunk)
    op.drop_table("signals")  # its indexes with it


def _packed(rows: Any) -> Iterator[dict[str, object]]:
    for (indicator_id, organisation_id), group in groupby(rows, key=lambda r: (r[0], r[1])):
        signals = list(group)
        # A series' signals all come from the scan that wrote its status; the latest, should they differ.
        entries = [
            ",".join(
                (
                    method,
                    rule,
                    direction,
                    "" if period is None else str(period),
                    "" if value is None else repr(float(value)),
                )
            )
            for _, _, _, method, rule, direction, period, value in signals
        ]
        yield {
            "indicator_id": indicator_id,
            "organisation_id": organisation_id,
            "scan_id": max(r[2] for r in signals),
            "signal_count": len(signals),
            "entries": ";".join(entries),
        }


def _chunks(items: Iterator[dict[str, object]]) -> Iterator[list[dict[str, object]]]:
    chunk: list[dict[str, object]] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def downgrade() -> None:
    op.create_table(
        "signals",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("indicator_id", sa.Integer(), nullable=False),
        sa.Column("scan_id", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=20), nullable=False),
        sa.Column("rule", sa.String(length=40), nullable=False),
        sa.Column("direction", sa.String(length=20), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=True),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["indicator_id"],
            ["indicators.id"],
            name=op.f("fk_signals_indicator_id_indicators"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_signals_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["scan_id"], ["scan_runs.id"], name=op.f("fk_signals_scan_id_scan_runs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signals")),
    )
    with op.batch_alter_table("signals") as batch:
        batch.create_index(
            "ix_signals_indicator_organisation", ["indicator_id", "organisation_id"], unique=False
        )
        batch.create_index(batch.f("ix_signals_organisation_id"), ["organisation_id"], unique=False)
        batch.create_index(batch.f("ix_signals_scan_id"), ["scan_id"], unique=False)
    conn = op.get_bind()
    packed = conn.execute(
        sa.text(
            "SELECT indicator_id, organisation_id, scan_id, entries FROM series_signals "
            "ORDER BY indicator_id, organisation_id"
        )
    )
    table = sa.table(
        "signals",
        *(
            sa.column(name)
            for name in ("organisation_id", "indicator_id", "scan_id", "method", "rule", "direction")
        ),
        sa.column("period_start", sa.Date()),
        sa.column("value", sa.Float()),
    )
    for chunk in _chunks(_unpacked(packed)):
        conn.execute(table.insert(), chunk)
    op.drop_table("series_signals")  # its index with it


def _unpacked(rows: Any) -> Iterator[dict[str, object]]:
    import datetime as dt

    for indicator_id, organisation_id, scan_id, entries in rows:
        for entry in entries.split(";"):
            method, rule, direction, period, value = entry.split(",")
            yield {
                "organisation_id": organisation_id,
                "indicator_id": indicator_id,
                "scan_id": scan_id,
                "method": method,
                "rule": rule,
                "direction": direction,
                "period_start": dt.date.fromisoformat(period) if period else None,
                "value": float(value) if value else None,
            }
