"""datasets: a publication lag per dataset (issue 11)

Revision ID: 0020
Revises: 0017

``publication_lag_days`` is how many days after a period's end the dataset's figures are published, as its
mapping says (``dataset.publication_lag_days``); the risk model's point-in-time history knows each observation
from then. Empty means the default lag (``forewarn risk ... --publication-lag``, 30 days).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("datasets") as batch:
        batch.add_column(sa.Column("publication_lag_days", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("datasets") as batch:
        batch.drop_column("publication_lag_days")
