"""series_status: what each funnel plotted (ratio, denominator, limits, target, phi, tau2), so pages draw it

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FLOAT_COLUMNS = (
    "funnel_ratio",
    "funnel_denominator",
    "funnel_lower",
    "funnel_upper",
    "funnel_target",
    "funnel_phi",
    "funnel_tau2",
)


def upgrade() -> None:
    with op.batch_alter_table("series_status") as batch:
        batch.add_column(sa.Column("funnel_data_type", sa.String(length=2), nullable=True))
        for name in FLOAT_COLUMNS:
            batch.add_column(sa.Column(name, sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("series_status") as batch:
        for name in reversed(FLOAT_COLUMNS):
            batch.drop_column(name)
        batch.drop_column("funnel_data_type")
