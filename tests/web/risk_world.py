"""Issue 11: stored risk scores for the web test world (a model and one score per organisation)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, insert, select

from forewarn.store.models_risk import RiskModel, RiskScore
from tests.web.world import World

# Alpha and Bravo overlap (tied); Charlie is clear above both; Delta clear below.
SCORES = {
    "HIDDEN": (0.40, 0.30, 0.50, ["last inspection: requires improvement"]),
    "OWN": (0.12, 0.08, 0.18, ["4-hour performance has fallen"]),
    "PEER": (0.10, 0.06, 0.16, []),
    "SIM": (0.01, 0.005, 0.02, []),
}


def store_risk_scores(world: World, engine: Engine) -> int:
    """Store the model and scores once; returns the model's id."""
    now = dt.datetime(2024, 1, 2, tzinfo=dt.UTC)
    with engine.begin() as conn:
        found = conn.execute(select(RiskModel.id).where(RiskModel.version == "0123456789abcdef")).scalar()
        if found is not None:
            return int(found)
        model_id = conn.execute(
            insert(RiskModel)
            .values(
                version="0123456789abcdef",
                kind="logistic",
                outcome="inspection:inadequate",
                new_only=True,
                horizon_months=12,
                step_months=6,
                trained_as_of=dt.date(2024, 1, 1),
                trained_at=now,
                trained_by="tests",
                features=["funnel_z_mean"],
                medians=[0.0],
                indicator_features=[],
                means=[0.0],
                scales=[1.0],
                coefficients=[1.0],
                intercept=-3.0,
                refits=[],
                calibration={},
                training_origins=["2022-01-01"],
                n_cases=100,
                n_events=5,
                datasets=None,
                data_version="0" * 16,
                code_version="tests",
            )
            .returning(RiskModel.id)
        ).scalar_one()
        conn.execute(
            insert(RiskScore),
            [
                {
                    "model_id": model_id,
                    "organisation_id": world.ids[key],
                    "as_of": dt.date(2024, 1, 1),
                    "probability": p,
                    "lower": low,
                    "upper": high,
                    "contributions": {"funnel_z_mean": 0.5},
                    "reasons": reasons,
                    "scored_at": now,
                }
                for key, (p, low, high, reasons) in SCORES.items()
            ],
        )
    return int(model_id)
