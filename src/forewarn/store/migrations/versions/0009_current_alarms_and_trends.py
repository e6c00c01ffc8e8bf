"""series_status: whether a CUSUM alarm is current, and the trend test of short (annual) series

Revision ID: 0009
Revises: 0008

The portfolio counts current alarms (within the latest quarter of an indicator), never "has ever alarmed", which
grows with a series' length. Series too short for an SPC chart (annual indicators) get a trend test instead of a
misleading "common cause": its slope per year, standard error and p-value.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FLOAT_COLUMNS = ("trend_slope", "trend_se", "trend_p")


def upgrade() -> None:
    with op.batch_alter_table("series_status") as batch:
        batch.add_column(sa.Column("cusum_current", sa.Integer(), nullable=True))
        for name in FLOAT_COLUMNS:
            batch.add_column(sa.Column(name, sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("series_status") as batch:
        for name in reversed(FLOAT_COLUMNS):
            batch.drop_column(name)
        batch.drop_column("cusum_current")
