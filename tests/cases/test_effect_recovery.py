"""On the simulator, where the truth is known, the comparison-group estimate of an intervention's effect holds the
true effect within its 95% interval for both arms, and the naive before/after does not (docs/interventions.md).

The truth comes from ``forewarn.simulate.counterfactual.replay``: the same run beside the world in which no
intervention had any effect (common random numbers), so the true effect on the expected score is exact. The replay
is first shown to *be* the simulator: its observed data and latent performance equal ``simulate``'s files.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from forewarn.cases.effects import EffectOptions, Intervention, estimate_effects, score_panel
from forewarn.cases.recovery import effect_recovery
from forewarn.simulate import SimulationParameters, simulate
from forewarn.simulate.counterfactual import replay


def _strings(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.col(pl.Categorical).cast(pl.String))


def test_the_replay_is_the_simulator(tmp_path: Path) -> None:
    params = SimulationParameters(n_organisations=120, n_years=2, seed=42)
    simulate(tmp_path, params)
    run = replay(params)
    published = _strings(pl.read_parquet(tmp_path / "indicators.parquet")).select(
        "org_code", "period", "indicator", "numerator", "denominator"
    )
    ours = run.observations().join(published, on=["org_code", "period", "indicator"], how="inner")
    assert ours.height == published.height == 120 * 24 * len(run.indicator_codes)
    cube = pl.DataFrame(
        {
            "org_code": np.tile(np.repeat(run.codes, len(run.indicator_codes)), 24),
            "period": np.repeat(
                np.asarray(run.periods, dtype="datetime64[D]"), 120 * len(run.indicator_codes)
            ),
            "indicator": np.tile(run.indicator_codes, 120 * 24),
            "n": run.numerator.reshape(-1),
            "d": run.denominator.reshape(-1),
        }
    ).with_columns(pl.col("period").cast(pl.Date))
    both = cube.join(published, on=["org_code", "period", "indicator"])
    assert (both["n"] == both["numerator"]).all()
    assert (both["d"].cast(pl.Float64) == both["denominator"].fill_null(both["d"]).cast(pl.Float64)).all()
    latent = _strings(pl.read_parquet(tmp_path / "truth" / "latent_monthly.parquet")).sort(
        "period", "org_code"
    )
    assert np.allclose(latent["performance"].to_numpy(), run.performance.reshape(-1))
    events = pl.read_csv(tmp_path / "events.csv")
    assert sorted(events["kind"].to_list()) == sorted(run.events["kind"].to_list())
    # Without interventions nothing differs; with them, only treated organisations differ.
    treated = set(run.interventions.filter(pl.col("arm") != "none")["org"].to_list())
    moved = set(
        np.flatnonzero(np.abs(run.performance - run.counterfactual_performance).max(axis=0) > 0).tolist()
    )
    assert moved and moved <= treated


def test_no_effect_means_the_counterfactual_is_the_run() -> None:
    run = replay(SimulationParameters(n_organisations=80, n_years=2, seed=3, intervention_effect_scale=0.0))
    assert np.array_equal(run.true_value, run.counterfactual_value)


@pytest.fixture(scope="module")
def recovery_run() -> tuple[SimulationParameters, object]:
    params = SimulationParameters(n_organisations=2000, n_years=4, seed=5)
    return params, replay(params)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("after", "arms"), [((1, 3), ("development", "enforcement")), ((13, 18), ("development",))]
)
def test_comparison_group_recovers_the_true_effect_and_naive_does_not(
    recovery_run: tuple[SimulationParameters, object], after: tuple[int, int], arms: tuple[str, ...]
) -> None:
    params, run = recovery_run
    report = effect_recovery(params, run=run, options=EffectOptions(after=after))  # type: ignore[arg-type]
    for arm in arms:
        a = report.arm(arm)
        assert a.interventions >= 80
        assert a.did_covers, (arm, after, a)
        assert not a.naive_covers, (arm, after, a)
        assert abs(a.did - a.true_effect) < abs(a.naive - a.true_effect) / 2


def test_estimate_effects_on_a_hand_made_panel() -> None:
    # Organisations of one type, monthly; X is treated in month 6 (July) and rises by 1 after it. The score is
    # relative to each month's median, so the DiD is X's change minus its comparison group's mean change, both
    # on the score; E (far away in level) is never a comparison.
    periods = [dt.date(2020, m, 1) for m in range(1, 13)]
    rows = []
    levels = {"X": 0.0, "A": 0.05, "B": -0.05, "C": 0.1, "D": -0.4, "E": 3.0, "F": 1.0}
    for code, level in levels.items():
        for m, p in enumerate(periods):
            value = level + (1.0 if code == "X" and m >= 7 else 0.0) + 0.01 * ((m * 7 + len(code)) % 3)
            rows.append({"org_code": code, "period": p, "indicator": "q", "value": value})
    panel = score_panel(pl.DataFrame(rows), {"q": "higher_is_better"})
    iv = Intervention("X:6", "X", "development", dt.date(2020, 7, 15))
    options = EffectOptions(trend_months=6, neighbours=3, lookback_months=0, after=(1, 3))
    (effect,) = estimate_effects(panel, [iv], options=options).per_intervention
    assert effect.reason is None
    assert set(effect.comparison_codes) == {"A", "B", "C"}
    score = panel.score
    index = panel.index_of()

    def change(code: str) -> float:
        row = score[index[code]]
        return float(row[7:10].mean() - row[4:7].mean())

    assert effect.naive == pytest.approx(change("X"))
    assert effect.comparison_change == pytest.approx(np.mean([change(c) for c in "ABC"]))
    assert effect.did == pytest.approx(effect.naive - effect.comparison_change)
    assert effect.did > 0
    # A start with too few months after it gets no estimate, and says why.
    late = Intervention("X:11", "X", "development", dt.date(2020, 12, 1))
    (none,) = estimate_effects(panel, [late], options=options).per_intervention
    assert none.reason is not None and np.isnan(none.did)
