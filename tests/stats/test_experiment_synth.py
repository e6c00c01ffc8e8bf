"""Synthetic control: Abadie, Diamond & Hainmueller (2010) on California's Proposition 99, and an exact case."""

from __future__ import annotations

import numpy as np
import pandas as pd  # type: ignore[import-untyped]
import pytest

from forewarn.stats.experiments.synth import Predictor, synthetic_control
from tests.stats.experiment_data import published

# ADH (2010), Table 2: the weights of synthetic California (every other state has weight 0).
ADH_WEIGHTS = {"Utah": 0.334, "Nevada": 0.234, "Montana": 0.199, "Colorado": 0.164, "Connecticut": 0.069}
YEARS = tuple(range(1980, 1989))
ADH_PREDICTORS = [
    Predictor("lnincome", YEARS),
    Predictor("retprice", YEARS),
    Predictor("age15to24", YEARS),
    Predictor("beer", tuple(range(1984, 1989))),
    Predictor("cigsale", (1988,)),
    Predictor("cigsale", (1980,)),
    Predictor("cigsale", (1975,)),
]


def _smoking() -> pd.DataFrame:
    data = published("smoking.csv")
    data["year"] = data["year"].astype(int)
    return data


def test_proposition_99_weights_and_gap() -> None:
    data = _smoking()
    result = synthetic_control(
        data,
        unit="state",
        time="year",
        outcome="cigsale",
        treated="California",
        intervention=1989,
        predictors=ADH_PREDICTORS,
        placebos=False,
    )
    for state, weight in ADH_WEIGHTS.items():
        assert result.weights[state] == pytest.approx(weight, abs=0.005), state
    assert sum(w for s, w in result.weights.items() if s not in ADH_WEIGHTS) < 0.005
    # ADH abstract: "by the year 2000 annual per-capita cigarette sales in California were about 26 packs lower".
    assert -27 < result.gap[-1] < -25
    # The predictors of synthetic California are those the published weights imply (ADH Table 1 prints them).
    wide = {p.name: data[data.year.isin(p.periods)].groupby("state")[p.column].mean() for p in ADH_PREDICTORS}
    for name, values in wide.items():
        implied = sum(w * values[s] for s, w in ADH_WEIGHTS.items())
        assert result.predictors.loc[name, "synthetic"] == pytest.approx(implied, rel=0.005), name
    # Our fit of the pre-1989 outcome is at least as good as the published weights' (the objective ADH minimise).
    outcome = data.pivot_table(index="year", columns="state", values="cigsale")
    published_gap = outcome["California"] - sum(w * outcome[s] for s, w in ADH_WEIGHTS.items())
    assert result.pre_rmspe <= float(np.sqrt((published_gap[published_gap.index < 1989] ** 2).mean())) + 1e-6


@pytest.mark.slow
def test_proposition_99_placebos_rank_california_first() -> None:
    # ADH section 3.3: California's post/pre RMSPE ratio is the highest of the 39 states, p = 1/39 = 0.026.
    result = synthetic_control(
        _smoking(),
        unit="state",
        time="year",
        outcome="cigsale",
        treated="California",
        intervention=1989,
        predictors=ADH_PREDICTORS,
        starts=10,
        placebo_starts=0,
    )
    assert len(result.placebo_ratios) == 38
    assert result.p_value() == pytest.approx(1 / 39)
    assert max(result.placebo_ratios.values()) < result.ratio


def test_exact_convex_combination_is_recovered() -> None:
    """A treated unit that is exactly 0.5 A + 0.3 B + 0.2 C in predictors and outcome gets those weights back,
    and an effect added after the intervention is the gap."""
    rng = np.random.default_rng(8)
    periods = np.arange(2000, 2020)
    donors = {f"D{i}": rng.normal(0, 1, size=3) for i in range(8)}
    trend = {
        d: rng.normal(10, 2) + rng.normal(0, 1) * (periods - 2000) + rng.normal(0, 0.5, len(periods))
        for d in donors
    }
    truth = {"D0": 0.5, "D3": 0.3, "D5": 0.2}
    rows = []
    for d, covariates in donors.items():
        for i, p in enumerate(periods):
            rows.append({"unit": d, "year": p, "y": trend[d][i], "x1": covariates[0], "x2": covariates[1]})
    for i, p in enumerate(periods):
        y = sum(w * trend[d][i] for d, w in truth.items()) + (-4.0 if p >= 2015 else 0.0)
        x1 = sum(w * donors[d][0] for d, w in truth.items())
        x2 = sum(w * donors[d][1] for d, w in truth.items())
        rows.append({"unit": "T", "year": p, "y": y, "x1": x1, "x2": x2})
    frame = pd.DataFrame(rows)
    pre = tuple(range(2000, 2015))
    predictors = [
        Predictor("x1", pre),
        Predictor("x2", pre),
        Predictor("y", (2005,)),
        Predictor("y", (2014,)),
    ]
    result = synthetic_control(
        frame,
        unit="unit",
        time="year",
        outcome="y",
        treated="T",
        intervention=2015,
        predictors=predictors,
        placebos=False,
    )
    for d, w in truth.items():
        assert result.weights[d] == pytest.approx(w, abs=1e-3)
    assert result.pre_rmspe < 1e-3
    assert result.gap[periods >= 2015] == pytest.approx(np.full(5, -4.0), abs=1e-2)


def test_refuses_missing_outcomes() -> None:
    frame = pd.DataFrame({"unit": ["A", "B", "C", "A", "B"], "year": [1, 1, 1, 2, 2], "y": [1.0, 2, 3, 4, 5]})
    with pytest.raises(ValueError, match="every period"):
        synthetic_control(
            frame,
            unit="unit",
            time="year",
            outcome="y",
            treated="A",
            intervention=2,
            predictors=[Predictor("y", (1,))],
            placebos=False,
        )
