"""learning_activity: what an organisation's members do to learn from others (issue 13, a soft signal)

Revision ID: 0023
Revises: 0022

One row per library search, note read, and neighbours or deviants page visited by a member of an organisation,
with the month only (not the moment). Counted per organisation and month, k-anonymously, by
``forewarn.library.activity``.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "learning_activity",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name="fk_learning_activity_organisation_id_organisations",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_learning_activity_user_id_users", ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_learning_activity"),
    )
    with op.batch_alter_table("learning_activity") as batch:
        batch.create_index(
            "ix_learning_activity_organisation_month", ["organisation_id", "month"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("learning_activity") as batch:
        batch.drop_index("ix_learning_activity_organisation_month")
    op.drop_table("learning_activity")
