"""observations: index an organisation's series with their values, so a page reads them from the index alone

Revision ID: 0007
Revises: 0006

The organisation page reads every observation of one organisation (20 indicators x 36 months = 720 rows).
Observations arrive indicator by indicator, so those rows lie on 720 different table pages; with the value in
the index, PostgreSQL answers from a dozen index pages (an index-only scan) and SQLite from the index too.
The new index leads with organisation_id, so it also serves what the old one-column index did (the foreign key).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_observations_organisation_series",
        "observations",
        ["organisation_id", "indicator_id", "period_start", "value"],
    )
    op.drop_index("ix_observations_organisation_id", table_name="observations")


def downgrade() -> None:
    op.create_index("ix_observations_organisation_id", "observations", ["organisation_id"])
    op.drop_index("ix_observations_organisation_series", table_name="observations")
