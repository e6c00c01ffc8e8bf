"""observations: the series index without ``value``, and room on each PostgreSQL page, so a revision is a HOT update

Revision ID: 0034
Revises: 0033

A revised observation changes its values, its period's end, its batch and its revision number, never its key.
PostgreSQL can then rewrite it in place of the old version on the same page (a heap-only tuple, HOT: one WAL
record, no index entry) unless a changed column is in an index or the page is full. ``value`` was in
``ix_observations_organisation_series`` (0007, so the organisation page read an index-only scan), so every
revision wrote a new heap tuple and an entry in each of the three indexes of ``observations`` (five WAL records;
5.7 s of the server's CPU for the 298,085 revisions of ``bench/import_bench.py``'s populated import). The index
keeps its name and its key (organisation, indicator, period), which the organisation page's read still follows;
it now takes each value from the table (that organisation's rows: a few pages per indicator, as the import writes
them in the unique key's order). ``docs/performance.md``, "PostgreSQL's populated import, fifth pass", has the
figures of both.

On PostgreSQL the table keeps :data:`FILLFACTOR` percent of each page for its inserts and leaves the rest for the
new versions of revised rows (an ``ALTER TABLE ... SET``: pages written from now on, not the ones that exist,
which ``VACUUM FULL observations`` would rewrite). SQLite updates a row in place and has no such setting; there
its update no longer rewrites the series index entry either.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0034"
down_revision: str | None = "0033"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FILLFACTOR = 90
"""Percent of a page the inserts fill. Rows are about 100 bytes (80 to a full page); the bench's populated import
revises a twelfth of the stored rows, about 7 a page, which 10% (819 bytes) holds."""

INDEX = "ix_observations_organisation_series"
KEY = ["organisation_id", "indicator_id", "period_start"]


def upgrade() -> None:
    with op.batch_alter_table("observations") as batch:
        batch.drop_index(INDEX)
        batch.create_index(INDEX, KEY, unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE observations SET (fillfactor = {FILLFACTOR})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE observations RESET (fillfactor)")
    with op.batch_alter_table("observations") as batch:
        batch.drop_index(INDEX)
        batch.create_index(INDEX, [*KEY, "value"], unique=False)
