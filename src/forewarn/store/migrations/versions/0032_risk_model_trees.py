"""risk_models.trees: the boosting risk model's trees (issue 11: SHAP for boosting)

Revision ID: 0032
Revises: 0029

A boosting model (``forewarn risk train --model boosting``) is stored as plain numbers like the logistic one: its
trees (each node's children, split feature, threshold, side for missing values, value and training count), the
baseline margin and the expected value of its TreeSHAP explanations. Null for a logistic model.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0032"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("risk_models") as batch:
        batch.add_column(sa.Column("trees", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("risk_models") as batch:
        batch.drop_column("trees")
