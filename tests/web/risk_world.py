"""Issue 11: stored risk scores for the web test world (a model and one score per organisation)."""

from __future__ import annotations

import datetime as dt

import polars as pl
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


BACKTEST: dict[str, object] = {
    "outcome": "inspection graded inadequate",
    "new_only": True,
    "horizon_months": 12,
    "model": "logistic",
    "test_origins": ["2022-01-01", "2022-07-01"],
    "auc": 0.91,
    "auc_ci": [0.89, 0.93],
    "brier": 0.02,
    "brier_skill": 0.1,
    "recall_at_10": 0.66,
    "recall_at_20": 0.85,
    "precision_at_10": 0.15,
    "precision_at_20": 0.1,
    "n_cases": 1000,
    "n_events": 40,
    "lead_time": {"1": 0.8, "3": 0.75, "6": 0.7, "12": 0.6, "24": 0.5},
    "median_lead_months": 14.0,
    "calibration": {
        "predicted": [0.01 * i for i in range(1, 11)],
        "observed": [0.011 * i for i in range(1, 11)],
    },
    "baselines": {
        "signal_count": {
            "auc": 0.74,
            "auc_ci": [0.7, 0.78],
            "recall_at_10": 0.33,
            "recall_at_20": 0.5,
            "precision_at_10": 0.08,
            "lead_time": {"1": 0.4, "3": 0.4, "6": 0.35, "12": 0.3, "24": 0.25},
        }
    },
    "soft_measures": {"auc_with": 0.91, "auc_without": 0.905, "delta": 0.005, "delta_ci": [0.001, 0.009]},
    "soft_measures_sentence": "Soft measures help here: AUC 0.905 without them, 0.910 with them.",
}


def store_backtest(engine: Engine) -> str:
    """Store the backtest above once; returns its version."""
    from forewarn.risk.history import StoreHistory
    from forewarn.risk.store import save_backtest

    empty = StoreHistory(*(pl.DataFrame() for _ in range(6)))
    return save_backtest(engine, dict(BACKTEST), empty, run_by="tests").version
