"""indicator_data_versions: a counter per indicator that imports move on, so a rescan reads one row per indicator

Revision ID: 0017
Revises: 0016

One row per indicator whose observations an import (or a bulk load) changed, with a version every such write
increments in its own transaction. The scan's fingerprint reads it instead of aggregating ``observations`` (a grouped
query that grew with the store: 20-25 s at 36M observations). Indicators that already hold observations start at
version 1.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "indicator_data_versions",
        sa.Column("indicator_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["indicator_id"],
            ["indicators.id"],
            name="fk_indicator_data_versions_indicator_id_indicators",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("indicator_id", name="pk_indicator_data_versions"),
    )
    op.execute(
        "INSERT INTO indicator_data_versions (indicator_id, version) "
        "SELECT id, 1 FROM indicators WHERE EXISTS (SELECT 1 FROM observations o WHERE o.indicator_id = indicators.id)"
    )


def downgrade() -> None:
    op.drop_table("indicator_data_versions")
