"""scan_fingerprints: what the last scan saw of each indicator, so a rescan with nothing new skips the work

Revision ID: 0011
Revises: 0010

One row per indicator: a SHA-256 digest of its observations' aggregates (count, sums of ids, revisions, batches and
values), its attributes (code, kind, polarity, target) and its SPC rebases, with the scan that computed it.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "scan_fingerprints",
        sa.Column("indicator_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("scan_id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["indicator_id"],
            ["indicators.id"],
            name="fk_scan_fingerprints_indicator_id_indicators",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["scan_id"], ["scan_runs.id"], name="fk_scan_fingerprints_scan_id_scan_runs"),
        sa.PrimaryKeyConstraint("indicator_id", name="pk_scan_fingerprints"),
    )


def downgrade() -> None:
    op.drop_table("scan_fingerprints")
