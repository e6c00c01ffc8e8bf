"""experiments: links to the practice library (the adapted practice's document; each result's published document)

Revision ID: 0022
Revises: 0020

``experiments.practice_document_id`` is the library document of the peer practice an experiment adapts;
``experiment_results.library_document_id`` the library document a result was published as (issue 15). Both are
cleared when the document is deleted.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("experiments") as batch:
        batch.add_column(sa.Column("practice_document_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_experiments_practice_document_id_library_documents"),
            "library_documents",
            ["practice_document_id"],
            ["id"],
            ondelete="SET NULL",
        )
    with op.batch_alter_table("experiment_results") as batch:
        batch.add_column(sa.Column("library_document_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_experiment_results_library_document_id_library_documents"),
            "library_documents",
            ["library_document_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("experiment_results") as batch:
        batch.drop_constraint(
            op.f("fk_experiment_results_library_document_id_library_documents"), type_="foreignkey"
        )
        batch.drop_column("library_document_id")
    with op.batch_alter_table("experiments") as batch:
        batch.drop_constraint(
            op.f("fk_experiments_practice_document_id_library_documents"), type_="foreignkey"
        )
        batch.drop_column("practice_document_id")
