"""surveys: instruments, waves, wave organisations, single-use tokens, uploads, anonymous responses

Tokens and responses are SQLite WITHOUT ROWID tables keyed on random values (a token's hash, a response's uuid4),
so no hidden rowid keeps the order in which tokens were used or answers arrived. Nothing links the two tables.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WAVE_ORG_KEY = ["survey_wave_organisations.wave_id", "survey_wave_organisations.organisation_id"]


def upgrade() -> None:
    op.create_table(
        "survey_instruments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("checksum", sa.String(length=64), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_instruments")),
        sa.UniqueConstraint("code", "version", name=op.f("uq_survey_instruments_code_version")),
    )
    op.create_table(
        "survey_waves",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("instrument_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("min_group_size", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("opened_by", sa.String(length=200), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_by", sa.String(length=200), nullable=True),
        sa.CheckConstraint(
            "status IN ('draft', 'open', 'closed')", name=op.f("ck_survey_waves_status_known")
        ),
        sa.CheckConstraint("min_group_size >= 2", name=op.f("ck_survey_waves_min_group_size_at_least_2")),
        sa.ForeignKeyConstraint(
            ["instrument_id"],
            ["survey_instruments.id"],
            name=op.f("fk_survey_waves_instrument_id_survey_instruments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_waves")),
        sa.UniqueConstraint("name", name=op.f("uq_survey_waves_name")),
    )
    op.create_index(op.f("ix_survey_waves_instrument_id"), "survey_waves", ["instrument_id"], unique=False)

    op.create_table(
        "survey_uploads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("wave_id", sa.Integer(), nullable=False),
        sa.Column("source_name", sa.String(length=500), nullable=False),
        sa.Column("checksum", sa.String(length=64), nullable=False),
        sa.Column("imported_by", sa.String(length=200), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rows_read", sa.Integer(), nullable=False),
        sa.Column("responses_inserted", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["wave_id"],
            ["survey_waves.id"],
            name=op.f("fk_survey_uploads_wave_id_survey_waves"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_uploads")),
        sa.UniqueConstraint("wave_id", "checksum", name=op.f("uq_survey_uploads_wave_id_checksum")),
    )
    op.create_index(op.f("ix_survey_uploads_wave_id"), "survey_uploads", ["wave_id"], unique=False)

    op.create_table(
        "survey_wave_organisations",
        sa.Column("wave_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_survey_wave_organisations_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["wave_id"],
            ["survey_waves.id"],
            name=op.f("fk_survey_wave_organisations_wave_id_survey_waves"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("wave_id", "organisation_id", name=op.f("pk_survey_wave_organisations")),
    )
    op.create_index(
        op.f("ix_survey_wave_organisations_organisation_id"),
        "survey_wave_organisations",
        ["organisation_id"],
        unique=False,
    )

    op.create_table(
        "survey_responses",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("wave_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("submitted_month", sa.Date(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("upload_id", sa.Integer(), nullable=True),
        sa.Column("answers", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "(source = 'import') = (upload_id IS NOT NULL)",
            name=op.f("ck_survey_responses_upload_iff_import"),
        ),
        sa.CheckConstraint("source IN ('token', 'import')", name=op.f("ck_survey_responses_source_known")),
        sa.ForeignKeyConstraint(
            ["upload_id"],
            ["survey_uploads.id"],
            name=op.f("fk_survey_responses_upload_id_survey_uploads"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["wave_id", "organisation_id"],
            WAVE_ORG_KEY,
            name=op.f("fk_survey_responses_wave_id_survey_wave_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_survey_responses")),
        sqlite_with_rowid=False,
    )
    op.create_index(op.f("ix_survey_responses_upload_id"), "survey_responses", ["upload_id"], unique=False)
    op.create_index(
        "ix_survey_responses_wave_id_organisation_id",
        "survey_responses",
        ["wave_id", "organisation_id"],
        unique=False,
    )

    op.create_table(
        "survey_tokens",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("wave_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("used", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["wave_id", "organisation_id"],
            WAVE_ORG_KEY,
            name=op.f("fk_survey_tokens_wave_id_survey_wave_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_survey_tokens")),
        sqlite_with_rowid=False,
    )
    op.create_index(
        "ix_survey_tokens_wave_id_organisation_id",
        "survey_tokens",
        ["wave_id", "organisation_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_survey_tokens_wave_id_organisation_id", table_name="survey_tokens")
    op.drop_table("survey_tokens")
    op.drop_index("ix_survey_responses_wave_id_organisation_id", table_name="survey_responses")
    op.drop_index(op.f("ix_survey_responses_upload_id"), table_name="survey_responses")
    op.drop_table("survey_responses")
    op.drop_index(
        op.f("ix_survey_wave_organisations_organisation_id"), table_name="survey_wave_organisations"
    )
    op.drop_table("survey_wave_organisations")
    op.drop_index(op.f("ix_survey_uploads_wave_id"), table_name="survey_uploads")
    op.drop_table("survey_uploads")
    op.drop_index(op.f("ix_survey_waves_instrument_id"), table_name="survey_waves")
    op.drop_table("survey_waves")
    op.drop_table("survey_instruments")
