"""digest_sends: the digest's duplicate-send guard (issue 13: the digest as a job of ``forewarn worker``)

Revision ID: 0029
Revises: 0023

One row per digest message claimed or sent, unique by period, recipient and scope (the organisation, or the
analysts' summary): a sender inserts the row before sending and sends only if the insert was its own, so the same
digest for the same organisation and period is never sent twice, by a second run or by two workers at once.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0029"
down_revision: str | None = "0023"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "digest_sends",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=16), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("scope", sa.String(length=40), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=True),
        sa.Column("subject", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("claimed_by", sa.String(length=200), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name="fk_digest_sends_organisation_id_organisations",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_digest_sends"),
        sa.UniqueConstraint("period", "recipient", "scope", name="uq_digest_sends_period_recipient_scope"),
    )
    with op.batch_alter_table("digest_sends") as batch:
        batch.create_index("ix_digest_sends_organisation_id", ["organisation_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("digest_sends") as batch:
        batch.drop_index("ix_digest_sends_organisation_id")
    op.drop_table("digest_sends")
