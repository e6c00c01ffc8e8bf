"""datasets: a publication lag per dataset (issue 11)

Revision ID: 0020
Revises: 0019

``publication_lag_days`` is how many days after a period's end the dataset's figures are published, as its
mapping says (``dataset.publication_lag_days``); the risk model's point-in-time history knows each observation
from then. Empty means the default lag (``forewarn risk ... --publication-lag``, 30 days).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("datasets") as batch:
        batch.add_column(sa.Column("publication_lag_days", sa.Integer(), nullable=True))


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # Batch mode would copy the table and drop the old one, which organisations and indicators refer to (a
        # foreign-key failure once they hold rows); SQLite (3.35 and later) drops a plain column in place.
        op.execute("ALTER TABLE datasets DROP COLUMN publication_lag_days")
        return
    with op.batch_alter_table("datasets") as batch:
        batch.drop_column("publication_lag_days")
