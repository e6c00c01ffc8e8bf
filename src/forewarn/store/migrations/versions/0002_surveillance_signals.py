"""surveillance: scan runs, series status, signals and SPC baselines

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "scan_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("series_scanned", sa.Integer(), nullable=False),
        sa.Column("series_changed", sa.Integer(), nullable=False),
        sa.Column("signals_written", sa.Integer(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scan_runs")),
    )
    op.create_table(
        "series_status",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("indicator_id", sa.Integer(), nullable=False),
        sa.Column("scan_id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.BigInteger(), nullable=False),
        sa.Column("n_points", sa.Integer(), nullable=False),
        sa.Column("last_period", sa.Date(), nullable=True),
        sa.Column("last_value", sa.Float(), nullable=True),
        sa.Column("spc_variation", sa.String(length=40), nullable=True),
        sa.Column("spc_assurance", sa.String(length=40), nullable=True),
        sa.Column("spc_mean", sa.Float(), nullable=True),
        sa.Column("spc_lpl", sa.Float(), nullable=True),
        sa.Column("spc_upl", sa.Float(), nullable=True),
        sa.Column("funnel_period", sa.Date(), nullable=True),
        sa.Column("funnel_z", sa.Float(), nullable=True),
        sa.Column("funnel_p", sa.Float(), nullable=True),
        sa.Column("funnel_q", sa.Float(), nullable=True),
        sa.Column("funnel_outlier", sa.Integer(), nullable=True),
        sa.Column("cusum_value", sa.Float(), nullable=True),
        sa.Column("cusum_alarms", sa.Integer(), nullable=True),
        sa.Column("cusum_last_alarm", sa.Date(), nullable=True),
        sa.Column("rank", sa.Float(), nullable=True),
        sa.Column("rank_lower", sa.Float(), nullable=True),
        sa.Column("rank_upper", sa.Float(), nullable=True),
        sa.Column("rank_of", sa.Integer(), nullable=True),
        sa.Column("rank_distinguishable", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["indicator_id"],
            ["indicators.id"],
            name=op.f("fk_series_status_indicator_id_indicators"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_series_status_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["scan_id"], ["scan_runs.id"], name=op.f("fk_series_status_scan_id_scan_runs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_series_status")),
        sa.UniqueConstraint(
            "indicator_id", "organisation_id", name=op.f("uq_series_status_indicator_id_organisation_id")
        ),
    )
    with op.batch_alter_table("series_status", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_series_status_organisation_id"), ["organisation_id"], unique=False
        )

    op.create_table(
        "signals",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("indicator_id", sa.Integer(), nullable=False),
        sa.Column("scan_id", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=20), nullable=False),
        sa.Column("rule", sa.String(length=40), nullable=False),
        sa.Column("direction", sa.String(length=20), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=True),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["indicator_id"],
            ["indicators.id"],
            name=op.f("fk_signals_indicator_id_indicators"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_signals_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(["scan_id"], ["scan_runs.id"], name=op.f("fk_signals_scan_id_scan_runs")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signals")),
    )
    with op.batch_alter_table("signals", schema=None) as batch_op:
        batch_op.create_index(
            "ix_signals_indicator_organisation", ["indicator_id", "organisation_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_signals_organisation_id"), ["organisation_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_signals_scan_id"), ["scan_id"], unique=False)

    op.create_table(
        "spc_baselines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("indicator_id", sa.Integer(), nullable=False),
        sa.Column("rebase_from", sa.Date(), nullable=False),
        sa.Column("fix_after_n_points", sa.Integer(), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["indicator_id"],
            ["indicators.id"],
            name=op.f("fk_spc_baselines_indicator_id_indicators"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_spc_baselines_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spc_baselines")),
        sa.UniqueConstraint(
            "indicator_id",
            "organisation_id",
            "rebase_from",
            name=op.f("uq_spc_baselines_indicator_id_organisation_id_rebase_from"),
        ),
    )
    with op.batch_alter_table("spc_baselines", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_spc_baselines_organisation_id"), ["organisation_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("spc_baselines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_spc_baselines_organisation_id"))

    op.drop_table("spc_baselines")
    with op.batch_alter_table("signals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_signals_scan_id"))
        batch_op.drop_index(batch_op.f("ix_signals_organisation_id"))
        batch_op.drop_index("ix_signals_indicator_organisation")

    op.drop_table("signals")
    with op.batch_alter_table("series_status", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_series_status_organisation_id"))

    op.drop_table("series_status")
    op.drop_table("scan_runs")
