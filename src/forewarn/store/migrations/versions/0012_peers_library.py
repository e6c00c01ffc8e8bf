"""peers_library: the practice library (documents, the organisations and indicators they concern) and its
full-text search

Revision ID: 0012
Revises: 0011

Search reads ``library_documents.search_text``. PostgreSQL: a GIN index on ``to_tsvector('english', search_text)``.
SQLite: an FTS5 table ``library_search`` (Porter stemmer over the unicode61 tokenizer) with ``library_documents``
as its external content, kept in step by triggers after every insert, update and delete. A later batch migration
of ``library_documents`` on SQLite (which copies the table) must create the triggers again.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SQLITE_SEARCH = (
    "CREATE VIRTUAL TABLE library_search USING fts5(search_text, content='library_documents', "
    "content_rowid='id', tokenize='porter unicode61 remove_diacritics 2')",
    "CREATE TRIGGER library_documents_search_insert AFTER INSERT ON library_documents BEGIN "
    "INSERT INTO library_search(rowid, search_text) VALUES (new.id, new.search_text); END",
    "CREATE TRIGGER library_documents_search_delete AFTER DELETE ON library_documents BEGIN "
    "INSERT INTO library_search(library_search, rowid, search_text) VALUES ('delete', old.id, old.search_text); END",
    "CREATE TRIGGER library_documents_search_update AFTER UPDATE OF search_text ON library_documents BEGIN "
    "INSERT INTO library_search(library_search, rowid, search_text) VALUES ('delete', old.id, old.search_text); "
    "INSERT INTO library_search(rowid, search_text) VALUES (new.id, new.search_text); END",
)


def upgrade() -> None:
    op.create_table(
        "library_documents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "note",
                "case_study",
                "experiment",
                "document",
                name="library_document_kind",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("authors", sa.JSON(), nullable=False),
        sa.Column("date", sa.Date(), nullable=True),
        sa.Column("organisation_id", sa.Integer(), nullable=True),
        sa.Column(
            "audience",
            sa.Enum("everyone", "organisation", name="library_audience", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("source_name", sa.String(length=500), nullable=True),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("checksum", sa.String(length=64), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=320), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_by", sa.String(length=320), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name="fk_library_documents_organisation_id_organisations",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_library_documents"),
        sa.UniqueConstraint("source_name", name="uq_library_documents_source_name"),
    )
    op.create_index(
        "ix_library_documents_organisation_id", "library_documents", ["organisation_id"], unique=False
    )
    op.create_table(
        "library_document_organisations",
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["library_documents.id"],
            name="fk_library_document_organisations_document_id_library_documents",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name="fk_library_document_organisations_organisation_id_organisations",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("document_id", "organisation_id", name="pk_library_document_organisations"),
    )
    op.create_index(
        "ix_library_document_organisations_organisation_id",
        "library_document_organisations",
        ["organisation_id"],
        unique=False,
    )
    op.create_table(
        "library_document_indicators",
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("indicator_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["library_documents.id"],
            name="fk_library_document_indicators_document_id_library_documents",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["indicator_id"],
            ["indicators.id"],
            name="fk_library_document_indicators_indicator_id_indicators",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("document_id", "indicator_id", name="pk_library_document_indicators"),
    )
    op.create_index(
        "ix_library_document_indicators_indicator_id",
        "library_document_indicators",
        ["indicator_id"],
        unique=False,
    )
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(
            "CREATE INDEX ix_library_documents_search ON library_documents "
            "USING gin (to_tsvector('english', search_text))"
        )
    elif dialect == "sqlite":
        for statement in SQLITE_SEARCH:
            op.execute(statement)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for trigger in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS library_documents_search_{trigger}")
        op.execute("DROP TABLE IF EXISTS library_search")
    elif dialect == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_library_documents_search")
    op.drop_index("ix_library_document_indicators_indicator_id", table_name="library_document_indicators")
    op.drop_table("library_document_indicators")
    op.drop_index(
        "ix_library_document_organisations_organisation_id", table_name="library_document_organisations"
    )
    op.drop_table("library_document_organisations")
    op.drop_index("ix_library_documents_organisation_id", table_name="library_documents")
    op.drop_table("library_documents")
