"""Relapse after withdrawal: the monitor (``stats.relapse``), the scenario that adds relapses to the simulator
without changing it (``simulate.relapse``), and the measured recall and false-alarm rate (docs/interventions.md)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from forewarn.cases.recovery import relapse_recovery
from forewarn.simulate import SimulationParameters
from forewarn.simulate.counterfactual import replay
from forewarn.simulate.relapse import RelapseScenario, replay_with_relapse
from forewarn.stats.arl import cusum_crit
from forewarn.stats.relapse import RelapseOptions, relapse_monitor


def test_a_drop_of_two_sigmas_is_caught_and_a_steady_series_is_not() -> None:
    rng = np.random.default_rng(1)
    base = rng.normal(0.0, 1.0, size=(400, 12))
    steady = rng.normal(0.0, 1.0, size=(400, 24))
    fallen = steady - 2.0
    m = relapse_monitor(np.vstack([base, base]), np.vstack([steady, fallen]))
    steady_alarms = (m.first_alarm[:400] >= 0).mean()
    fallen_alarms = (m.first_alarm[400:] >= 0).mean()
    assert fallen_alarms > 0.95
    assert np.median(m.first_alarm[400:]) <= 4
    assert (
        steady_alarms < 0.35
    )  # the achieved level and sigma are estimated from 12 months: extra false alarms
    assert m.h == pytest.approx(cusum_crit(0.5, 1000.0))


def test_the_achieved_level_and_sigma_are_the_xmr_ones() -> None:
    m = relapse_monitor([[1.0, 2.0, 4.0, 3.0]], [[3.0]])
    assert m.achieved[0] == pytest.approx(2.5)
    assert m.sigma[0] == pytest.approx((1 + 2 + 1) / 3 / 1.128)


def test_lower_is_better_and_missing_months() -> None:
    base = [[10.0, 10.5, 9.5, 10.0, 10.2, 9.8]]
    worse = [[10.0, np.nan, *([11.5] * 10)]]
    up = relapse_monitor(base, worse, improvement="decrease")
    assert up.first_alarm[0] > 0 and up.achieved[0] == pytest.approx(10.0)
    assert relapse_monitor(base, worse).first_alarm[0] == -1  # higher is better: a rise is no relapse
    too_short = relapse_monitor([[1.0, np.nan, np.nan]], [[-5.0] * 12])
    assert too_short.first_alarm[0] == -1 and np.isnan(too_short.z).all()


def test_the_shift_rule_alone_needs_its_run() -> None:
    options = RelapseOptions(use_cusum=False, shift_length=7)
    base = [[0.0, 1.0, -1.0, 0.5, -0.5, 0.0]]
    follow = [[-0.1] * 6 + [0.2] + [-0.1] * 7]
    m = relapse_monitor(base, follow, options)
    assert m.first_alarm[0] == 13  # the first run of six is broken; the second reaches seven at index 13
    assert m.shift_alarm[0, 13] and not m.cusum_alarm.any()


def test_a_scenario_nobody_relapses_in_is_the_simulator() -> None:
    params = SimulationParameters(n_organisations=150, n_years=3, seed=11)
    plain = replay(params)
    run, withdrawals = replay_with_relapse(params, RelapseScenario(probability=0.0))
    assert withdrawals.height > 0 and not withdrawals["relapsed"].any()
    assert np.array_equal(plain.value, run.value)
    assert np.array_equal(plain.performance, run.performance)


def test_relapse_takes_the_documented_capacity_at_onset() -> None:
    params = SimulationParameters(n_organisations=150, n_years=3, seed=11)
    scenario = RelapseScenario(probability=1.0, capacity_drop=0.9, onset_months=(2, 2), ramp_months=3)
    plain = replay(params)
    run, withdrawals = replay_with_relapse(params, scenario)
    first = withdrawals.sort("end").row(0, named=True)
    assert first["relapsed"] and first["onset"] == first["end"] + 2
    org, onset = first["org"], first["onset"]
    # The loss is taken after the onset month's indicators: up to that month the run is the plain one; over the
    # next three months capacity loses 0.3 a month more (less the little mean reversion gives back).
    assert np.allclose(run.capacity[: onset + 1, org], plain.capacity[: onset + 1, org])
    gap = plain.capacity[onset + 1 : onset + 4, org] - run.capacity[onset + 1 : onset + 4, org]
    assert gap == pytest.approx([0.3, 0.6, 0.9], abs=0.05)


@pytest.mark.slow
def test_relapse_is_detected_more_often_than_steady_organisations_are_flagged() -> None:
    params = SimulationParameters(n_organisations=2000, n_years=6, seed=5, intervention_cooloff_months=24)
    report = relapse_recovery(params, RelapseScenario())
    declined = report.group("true decline >= 0.15")
    steady = report.group("true decline < 0.075")
    relapsed = report.group("relapse (scenario)")
    assert declined.withdrawals >= 100 and steady.withdrawals >= 100
    assert declined.rate >= 0.55
    assert steady.rate <= 0.15
    assert relapsed.rate > report.group("no relapse (scenario)").rate + 0.15
    assert report.rows.filter(pl.col("alarm"))["signal"].is_in(["cusum", "shift"]).all()
