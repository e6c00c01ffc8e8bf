"""experiments: the registry of experiments, their units, allocations, audit trail (deviations) and results

Revision ID: 0014
Revises: 0013
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "experiments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("hypothesis", sa.Text(), nullable=False),
        sa.Column("adapted_practice", sa.Text(), nullable=True),
        sa.Column("unit_kind", sa.String(length=20), nullable=False),
        sa.Column("outcome_indicator_id", sa.Integer(), nullable=False),
        sa.Column("design", sa.String(length=30), nullable=False),
        sa.Column("analysis_plan", sa.JSON(), nullable=False),
        sa.Column("minimum_effect", sa.Float(), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("owner_organisation_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("planned_start", sa.Date(), nullable=False),
        sa.Column("planned_end", sa.Date(), nullable=False),
        sa.Column("design_calculation", sa.JSON(), nullable=True),
        sa.Column("registration_checksum", sa.String(length=64), nullable=True),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('draft', 'started', 'completed')", name=op.f("ck_experiments_status_known")
        ),
        sa.CheckConstraint(
            "design IN ('individual', 'cluster', 'stepped_wedge', 'its', 'synthetic_control', 'staggered_did')",
            name=op.f("ck_experiments_design_known"),
        ),
        sa.CheckConstraint(
            "unit_kind IN ('organisation', 'ward', 'team')", name=op.f("ck_experiments_unit_kind_known")
        ),
        sa.ForeignKeyConstraint(
            ["outcome_indicator_id"],
            ["indicators.id"],
            name=op.f("fk_experiments_outcome_indicator_id_indicators"),
        ),
        sa.ForeignKeyConstraint(
            ["owner_organisation_id"],
            ["organisations.id"],
            name=op.f("fk_experiments_owner_organisation_id_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiments")),
        sa.UniqueConstraint("code", name=op.f("uq_experiments_code")),
    )
    op.create_index(op.f("ix_experiments_outcome_indicator_id"), "experiments", ["outcome_indicator_id"])
    op.create_index(op.f("ix_experiments_owner_organisation_id"), "experiments", ["owner_organisation_id"])
    op.create_table(
        "experiment_units",
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("stratum", sa.String(length=100), nullable=True),
        sa.Column("arm", sa.String(length=60), nullable=True),
        sa.Column("adopted_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_experiment_units_experiment_id_experiments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name=op.f("fk_experiment_units_organisation_id_organisations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("experiment_id", "organisation_id", name=op.f("pk_experiment_units")),
    )
    op.create_index(op.f("ix_experiment_units_organisation_id"), "experiment_units", ["organisation_id"])
    op.create_table(
        "experiment_allocations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("seed", BigId, nullable=False),
        sa.Column("method", sa.String(length=60), nullable=False),
        sa.Column("method_version", sa.Integer(), nullable=False),
        sa.Column("allocation", sa.JSON(), nullable=False),
        sa.Column("checksum", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_experiment_allocations_experiment_id_experiments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiment_allocations")),
    )
    op.create_index(
        op.f("ix_experiment_allocations_experiment_id"), "experiment_allocations", ["experiment_id"]
    )
    op.create_table(
        "experiment_events",
        sa.Column("id", BigId, nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("by", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("field", sa.String(length=60), nullable=True),
        sa.Column("old_value", sa.JSON(), nullable=True),
        sa.Column("new_value", sa.JSON(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_experiment_events_experiment_id_experiments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiment_events")),
    )
    op.create_index("ix_experiment_events_experiment_id_at", "experiment_events", ["experiment_id", "at"])
    op.create_table(
        "experiment_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=60), nullable=False),
        sa.Column("pre_registered", sa.Boolean(), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("padlocks", sa.Integer(), nullable=False),
        sa.Column("rating", sa.JSON(), nullable=False),
        sa.Column("analysed_by", sa.String(length=200), nullable=False),
        sa.Column("analysed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_experiment_results_experiment_id_experiments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiment_results")),
    )
    op.create_index(op.f("ix_experiment_results_experiment_id"), "experiment_results", ["experiment_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_experiment_results_experiment_id"), table_name="experiment_results")
    op.drop_table("experiment_results")
    op.drop_index("ix_experiment_events_experiment_id_at", table_name="experiment_events")
    op.drop_table("experiment_events")
    op.drop_index(op.f("ix_experiment_allocations_experiment_id"), table_name="experiment_allocations")
    op.drop_table("experiment_allocations")
    op.drop_index(op.f("ix_experiment_units_organisation_id"), table_name="experiment_units")
    op.drop_table("experiment_units")
    op.drop_index(op.f("ix_experiments_owner_organisation_id"), table_name="experiments")
    op.drop_index(op.f("ix_experiments_outcome_indicator_id"), table_name="experiments")
    op.drop_table("experiments")
