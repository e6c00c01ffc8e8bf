"""observations, observation_revisions: the value's standard error, where the source gives one (or its limits)

Revision ID: 0008
Revises: 0007

Average values (kind ``mean``) and counts carry no numerator and denominator to derive their uncertainty from; a
published standard error or confidence interval gives the scan what it needs for funnels, CUSUM and ranks. The
column is nullable: existing observations, and sources without one, have none.

Downgrading drops the column in place. SQLite's batch mode would otherwise rebuild ``observations`` by copying it
and dropping the old table, and dropping it deletes its rows first, which cascades (ON DELETE CASCADE, foreign
keys on) to every revision; SQLite 3.35 and later drop a column in place, and an older one is refused.
"""

from collections.abc import Sequence
from typing import Literal

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("observations", "observation_revisions")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("standard_error", sa.Float(), nullable=True))


def downgrade() -> None:
    dialect = op.get_bind().dialect
    recreate: Literal["auto", "never"] = "auto"
    if dialect.name == "sqlite":
        if (dialect.server_version_info or (0,)) < (3, 35):
            raise RuntimeError(
                "downgrading below 0008 on SQLite needs SQLite 3.35 or later (ALTER TABLE DROP COLUMN): "
                "rebuilding the observations table would delete their revisions"
            )
        recreate = "never"
    for table in reversed(TABLES):
        with op.batch_alter_table(table, recreate=recreate) as batch:
            batch.drop_column("standard_error")
