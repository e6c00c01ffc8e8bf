"""risk_models, risk_scores, risk_backtests: the early-warning model's versions, scores and backtests

Revision ID: 0015
Revises: 0014

A model row keeps what scoring needs without refitting (features, imputation, standardisation, coefficients,
bootstrap refits) and what says where it came from (outcome, horizon, training origins, data and code versions);
``version`` is a digest of that content. A score row is one organisation's risk as of one date from one model,
with its interval, its contributions to the log-odds and its reasons.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "risk_models",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("outcome", sa.String(length=200), nullable=False),
        sa.Column("new_only", sa.Boolean(), nullable=False),
        sa.Column("horizon_months", sa.Integer(), nullable=False),
        sa.Column("step_months", sa.Integer(), nullable=False),
        sa.Column("trained_as_of", sa.Date(), nullable=False),
        sa.Column("trained_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("trained_by", sa.String(length=200), nullable=False),
        sa.Column("features", sa.JSON(), nullable=False),
        sa.Column("medians", sa.JSON(), nullable=False),
        sa.Column("indicator_features", sa.JSON(), nullable=False),
        sa.Column("means", sa.JSON(), nullable=False),
        sa.Column("scales", sa.JSON(), nullable=False),
        sa.Column("coefficients", sa.JSON(), nullable=False),
        sa.Column("intercept", sa.Float(), nullable=False),
        sa.Column("refits", sa.JSON(), nullable=False),
        sa.Column("calibration", sa.JSON(), nullable=False),
        sa.Column("training_origins", sa.JSON(), nullable=False),
        sa.Column("n_cases", sa.Integer(), nullable=False),
        sa.Column("n_events", sa.Integer(), nullable=False),
        sa.Column("datasets", sa.JSON(), nullable=True),
        sa.Column("data_version", sa.String(length=64), nullable=False),
        sa.Column("code_version", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_risk_models"),
        sa.UniqueConstraint("version", name="uq_risk_models_version"),
    )
    op.create_index("ix_risk_models_outcome", "risk_models", ["outcome"], unique=False)
    op.create_table(
        "risk_scores",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("organisation_id", sa.Integer(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("probability", sa.Float(), nullable=False),
        sa.Column("lower", sa.Float(), nullable=False),
        sa.Column("upper", sa.Float(), nullable=False),
        sa.Column("contributions", sa.JSON(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("scored_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"], ["risk_models.id"], name="fk_risk_scores_model_id_risk_models", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["organisations.id"],
            name="fk_risk_scores_organisation_id_organisations",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_risk_scores"),
        sa.UniqueConstraint(
            "model_id", "as_of", "organisation_id", name="uq_risk_scores_model_id_as_of_organisation_id"
        ),
    )
    op.create_index(
        "ix_risk_scores_organisation_as_of", "risk_scores", ["organisation_id", "as_of"], unique=False
    )

    op.create_table(
        "risk_backtests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=200), nullable=False),
        sa.Column("model", sa.String(length=32), nullable=False),
        sa.Column("horizon_months", sa.Integer(), nullable=False),
        sa.Column("run_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_by", sa.String(length=200), nullable=False),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.Column("datasets", sa.JSON(), nullable=True),
        sa.Column("data_version", sa.String(length=64), nullable=False),
        sa.Column("code_version", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_risk_backtests"),
        sa.UniqueConstraint("version", name="uq_risk_backtests_version"),
    )
    op.create_index("ix_risk_backtests_run_at", "risk_backtests", ["run_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_risk_backtests_run_at", table_name="risk_backtests")
    op.drop_table("risk_backtests")
    op.drop_index("ix_risk_scores_organisation_as_of", table_name="risk_scores")
    op.drop_table("risk_scores")
    op.drop_index("ix_risk_models_outcome", table_name="risk_models")
    op.drop_table("risk_models")
