"""users: an optional second factor (TOTP) for analysts and administrators

Revision ID: 0016
Revises: 0015

``totp_secret`` is the shared key (base32) once enrolment starts; ``totp_enabled_at`` is set when a first code has
confirmed it; ``totp_last_counter`` is the time step of the last code accepted, so no code is accepted twice.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("totp_secret", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("totp_enabled_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("totp_last_counter", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("totp_last_counter")
        batch.drop_column("totp_enabled_at")
        batch.drop_column("totp_secret")
