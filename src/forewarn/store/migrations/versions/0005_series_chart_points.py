"""series_status: the scan's SPC point types and rebased segments, so pages draw charts without recomputing

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("series_status") as batch:
        batch.add_column(sa.Column("spc_points", sa.Text(), nullable=True))
        batch.add_column(sa.Column("spc_segments", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("series_status") as batch:
        batch.drop_column("spc_segments")
        batch.drop_column("spc_points")
