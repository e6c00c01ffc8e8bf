"""observations: drop ix_observations_batch_id, an index no query reads (issue 17: imports)

Revision ID: 0033
Revises: 0032

Nothing selects, joins or deletes observations by their batch: the batch of an observation is read only with the
observation itself, the revision history goes by ``observation_revisions`` (its own ``replaced_by_batch_id`` index
stays), and no import batch is ever deleted (which would have read it for the foreign key on PostgreSQL). Every
imported row paid for it all the same: one more B-tree entry per inserted row, and per revised row (its
``batch_id`` changes, so an update moves its entry). ``docs/performance.md``, "Imports, continued (wt/importer)",
has the figures. The foreign key to ``import_batches`` stays.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0033"
down_revision: str | None = "0032"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("observations") as batch:
        batch.drop_index(batch.f("ix_observations_batch_id"))


def downgrade() -> None:
    with op.batch_alter_table("observations") as batch:
        batch.create_index(batch.f("ix_observations_batch_id"), ["batch_id"], unique=False)
