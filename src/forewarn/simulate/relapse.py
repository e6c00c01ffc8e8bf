"""A relapse scenario on top of the simulator: some organisations lose what they gained after support is withdrawn.

The ordinary simulator already lets gains fade (an enforcement boost halves every
``enforcement_fade_half_life_months`` after withdrawal; three quarters of a development gain returns to the capacity
target at ``capacity_reversion``). It has no *relapse*: a setback that comes after withdrawal because the support
held things up. This module adds one, without touching the simulator (``simulate`` and its files are unchanged; the
scenario runs only in ``forewarn.simulate.counterfactual.replay`` through its hook):

    When an intervention ends, the organisation relapses with probability ``probability``. A relapse starts
    ``onset`` months after withdrawal (uniform on ``onset_months``) and takes ``capacity_drop`` off latent capacity,
    spread evenly over ``ramp_months`` months (as a leadership change does, through
    ``population.apply_capacity_drop``). Performance follows through the simulator's lag (3 to 9 months), and
    capacity then reverts to its target at ``capacity_reversion`` like any other loss.

The draws come from their own random stream (``SeedSequence([simulation seed, scenario seed, 14])``), so the
simulator's own streams, and everything before the first withdrawal, are exactly as without the scenario.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from forewarn.simulate.counterfactual import Replay, replay
from forewarn.simulate.events import Regulator
from forewarn.simulate.model import SimulationParameters
from forewarn.simulate.population import LatentState, apply_capacity_drop
from forewarn.stats.arrays import IntArray


@dataclass(frozen=True)
class RelapseScenario:
    """Who relapses after withdrawal, when, and by how much (capacity in population SD units)."""

    probability: float = 0.5
    capacity_drop: float = 1.0
    onset_months: tuple[int, int] = (3, 12)
    ramp_months: int = 3
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.probability <= 1:
            raise ValueError("probability must be in [0, 1]")
        if self.capacity_drop < 0:
            raise ValueError("capacity_drop must not be negative")
        lo, hi = self.onset_months
        if not 1 <= lo <= hi:
            raise ValueError("onset_months must be (first, last) with 1 <= first <= last")
        if self.ramp_months < 1:
            raise ValueError("ramp_months must be at least 1")


@dataclass
class _RelapseHook:
    scenario: RelapseScenario
    rng: np.random.Generator
    rows: list[tuple[int, int, bool, int]] = field(default_factory=list)
    pending: dict[int, list[int]] = field(default_factory=dict)
    """Output month -> organisations losing one ramp step of capacity that month."""

    def __call__(self, t: int, state: LatentState, reg: Regulator, ended: IntArray) -> None:
        s = self.scenario
        if ended.size:
            relapse = self.rng.random(ended.size) < s.probability
            onset = self.rng.integers(s.onset_months[0], s.onset_months[1] + 1, size=ended.size)
            for org, flag, delay in zip(ended.tolist(), relapse.tolist(), onset.tolist(), strict=True):
                self.rows.append((org, t, flag, t + delay if flag else -1))
                if flag:
                    for step in range(s.ramp_months):
                        self.pending.setdefault(t + delay + step, []).append(org)
        due = self.pending.pop(t, [])
        if due:
            mask = np.zeros(state.capacity.size, dtype=np.bool_)
            mask[np.asarray(due)] = True
            apply_capacity_drop(state, mask, s.capacity_drop / s.ramp_months)


def replay_with_relapse(
    parameters: SimulationParameters, scenario: RelapseScenario | None = None
) -> tuple[Replay, pl.DataFrame]:
    """The replay with the relapse scenario, and one row per withdrawal: ``org, org_code, end`` (output month of
    withdrawal), ``relapsed`` and ``onset`` (month the capacity loss begins; -1 when it does not relapse)."""
    s = scenario or RelapseScenario()
    hook = _RelapseHook(s, np.random.default_rng(np.random.SeedSequence([parameters.seed, s.seed, 14])))
    run = replay(parameters, hook=hook)
    rows = hook.rows
    table = pl.DataFrame(
        {
            "org": [r[0] for r in rows],
            "org_code": [run.codes[r[0]] for r in rows],
            "end": [r[1] for r in rows],
            "relapsed": [r[2] for r in rows],
            "onset": [r[3] for r in rows],
        },
        schema={
            "org": pl.Int64,
            "org_code": pl.String,
            "end": pl.Int64,
            "relapsed": pl.Boolean,
            "onset": pl.Int64,
        },
    )
    return run, table
