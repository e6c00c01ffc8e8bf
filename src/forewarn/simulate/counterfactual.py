"""The simulator run again in memory, beside the world in which no intervention had any effect.

An intervention's true effect is the difference between what happened and what would have happened without it.
The simulator's latent dynamics draw their random numbers in a fixed pattern whatever the state (the context,
shock, leadership and capacity streams each draw the same number of values every month), so the same seed run with
``intervention_effect_scale = 0`` for the latent state only, while the regulator makes the decisions it made in the
real run, gives each organisation its counterfactual path with *common random numbers*: the same shocks, the same
staff turnover draws, the same capacity innovations, and none of the development growth, enforcement boost,
enforcement capacity cost or leadership replacement. Organisations do not interact in the latent dynamics, so one
counterfactual world serves them all.

``replay(parameters)`` returns the factual run (identical to ``simulate``'s files: tested) with, per organisation,
month and indicator, the observed numerator, denominator, expected count and value as the importer would store it,
the true value, and the counterfactual true value. Nothing here changes ``simulate``'s behaviour or output.

An optional ``relapse`` scenario (``RelapseScenario``, see ``forewarn.simulate.relapse``) adds one documented
mechanism on top: when an intervention ends, some organisations lose part of what they gained. Without it the run
is the ordinary simulator.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import polars as pl

from forewarn.simulate.events import EventLog, Regulator, TruthLog, make_regulator, regulator_step
from forewarn.simulate.indicators import (
    COUNT,
    PROPORTION,
    RATE,
    RATIO_OE,
    draw_month,
    make_indicator_model,
    observed_composite,
)
from forewarn.simulate.model import ARMS, ORGANISATION_TYPES, SimulationParameters
from forewarn.simulate.population import LatentState, Population, expit, make_population, step_latent
from forewarn.simulate.service import COMPONENTS
from forewarn.simulate.surveys import load_instrument
from forewarn.simulate.writer import month_start
from forewarn.stats.arrays import FloatArray, IntArray

_LATENT_STREAMS = ("context", "shocks", "leadership", "capacity")


class LatentHook(Protocol):
    """Called after the regulator's step of every output month with the factual state (may change it)."""

    def __call__(self, t: int, state: LatentState, reg: Regulator, ended: IntArray) -> None: ...


@dataclass(frozen=True)
class Replay:
    """A factual run and its no-effect counterfactual, held in memory (months x organisations x indicators)."""

    parameters: SimulationParameters
    codes: list[str]
    types: list[str]
    periods: list[dt.date]
    indicator_codes: list[str]
    indicator_kinds: list[str]
    polarities: list[str]
    numerator: IntArray
    denominator: IntArray
    expected: FloatArray
    value: FloatArray
    """Observed value as the importer stores it: num/den (x multiplier), O/E, or the count."""
    true_value: FloatArray
    """The expected value of ``value`` given the latent state (the simulator's true probability, rate, O/E, mean)."""
    counterfactual_value: FloatArray
    """``true_value`` had no intervention had any effect (same shocks, churn and innovations)."""
    performance: FloatArray
    counterfactual_performance: FloatArray
    capacity: FloatArray
    counterfactual_capacity: FloatArray
    interventions: pl.DataFrame
    """One row per intervention started in the output: org, code, arm, trigger, start and end month index
    (``end`` is -1 while it was still running when the run stopped), and the selecting composite."""
    events: pl.DataFrame
    """Every published event (as in ``events.csv``) with its month index."""

    def observations(self, indicators: list[str] | None = None) -> pl.DataFrame:
        """Long frame ``org_code, period, indicator, value`` (what the store holds) for the chosen indicators."""
        return self._long(self.value, "value", indicators)

    def truth(self, indicators: list[str] | None = None) -> pl.DataFrame:
        """Long frame ``org_code, period, indicator, true_value, counterfactual_value``."""
        true = self._long(self.true_value, "true_value", indicators)
        cf = self._long(self.counterfactual_value, "counterfactual_value", indicators)
        return true.with_columns(cf["counterfactual_value"])

    def _long(self, cube: FloatArray, name: str, indicators: list[str] | None) -> pl.DataFrame:
        chosen = [j for j, c in enumerate(self.indicator_codes) if indicators is None or c in indicators]
        m, n = cube.shape[0], cube.shape[1]
        block = cube[:, :, chosen]
        org = np.tile(np.repeat(np.arange(n, dtype=np.uint32), len(chosen)), m)
        month = np.repeat(np.arange(m, dtype=np.uint32), n * len(chosen))
        indicator = np.tile(np.arange(len(chosen), dtype=np.uint32), m * n)
        return pl.DataFrame(
            {
                "org_code": pl.Series(self.codes, dtype=pl.String).gather(org),
                "period": pl.Series(self.periods, dtype=pl.Date).gather(month),
                "indicator": pl.Series([self.indicator_codes[j] for j in chosen], dtype=pl.String).gather(
                    indicator
                ),
                name: block.reshape(-1),
            }
        )


def _rngs(seed: int) -> dict[str, np.random.Generator]:
    streams = np.random.SeedSequence(seed).spawn(len(COMPONENTS))
    return {name: np.random.default_rng(seq) for name, seq in zip(COMPONENTS, streams, strict=True)}


def _counterfactual_values(
    kind: IntArray,
    signed_sensitivity: FloatArray,
    true_value: FloatArray,
    eta: FloatArray,
    shift: FloatArray,
) -> FloatArray:
    """True values with the linear predictor moved by ``- signed_sensitivity * shift`` (shift = Q - Q_cf)."""
    eta_cf = eta - shift[:, None] * signed_sensitivity[None, :]
    out = true_value * np.exp(eta_cf - eta)  # rates, O/E ratios and counts are exp(eta) times a constant
    prop = kind == PROPORTION
    out[:, prop] = expit(eta_cf[:, prop])
    return out


def _observed_values(
    kind: IntArray, multiplier: FloatArray, numerator: IntArray, denominator: IntArray, expected: FloatArray
) -> FloatArray:
    num = numerator.astype(np.float64)
    out = num.copy()
    ratio = (kind == PROPORTION) | (kind == RATE)
    out[:, ratio] = num[:, ratio] / denominator[:, ratio] * multiplier[ratio][None, :]
    oe = kind == RATIO_OE
    out[:, oe] = num[:, oe] / expected[:, oe]
    return out


def replay(
    parameters: SimulationParameters | None = None,
    *,
    instrument_path: Path | None = None,
    hook: LatentHook | None = None,
) -> Replay:
    """Run the simulator in memory with its no-effect counterfactual (see the module's docstring).

    With ``hook`` the factual state may be changed after each output month's regulator step (the relapse scenario
    uses it); without one the factual run is exactly ``simulate``'s.
    """
    params = parameters or SimulationParameters()
    if params.missing_rate:
        raise ValueError("replay holds complete panels: use missing_rate = 0")
    instrument = load_instrument(instrument_path)
    rngs = _rngs(params.seed)
    cf_rngs = {k: v for k, v in _rngs(params.seed).items() if k in _LATENT_STREAMS}
    population, state = make_population(params, instrument.core_mask, rngs["population"])
    cf_state = copy.deepcopy(state)
    no_effect = dataclasses.replace(params, intervention_effect_scale=0.0)
    model = make_indicator_model(params, population, rngs["effects"])
    reg = make_regulator(params, population.size, rngs["regulator"])
    log, truth = EventLog(), TruthLog()
    n, j, months = population.size, len(model.codes), params.n_months
    numerator = np.zeros((months, n, j), dtype=np.int64)
    denominator = np.zeros((months, n, j), dtype=np.int64)
    expected = np.full((months, n, j), np.nan)
    value = np.zeros((months, n, j))
    true_value = np.zeros((months, n, j))
    cf_value = np.zeros((months, n, j))
    perf, cf_perf = np.zeros((months, n)), np.zeros((months, n))
    cap, cf_cap = np.zeros((months, n)), np.zeros((months, n))
    for a in range(params.burn_in_months + months):
        t = a - params.burn_in_months
        development, enforcement = reg.development_active, reg.enforcement_active
        draws = step_latent(state, population, params, development, enforcement, rngs)
        step_latent(cf_state, population, no_effect, development, enforcement, cf_rngs)
        composite = None
        if t >= 0:
            month = draw_month(model, state, population, t, params, rngs["indicators"])
            composite = observed_composite(model, month, population, state.staff)
            numerator[t], denominator[t] = month.numerator, month.denominator
            expected[t] = month.expected
            value[t] = _observed_values(
                model.kind, model.multiplier, month.numerator, month.denominator, month.expected
            )
            true_value[t] = month.true_value
            cf_value[t] = _counterfactual_values(
                model.kind,
                model.signed_sensitivity,
                month.true_value,
                month.linear_predictor,
                state.performance - cf_state.performance,
            )
            perf[t], cf_perf[t] = state.performance, cf_state.performance
            cap[t], cf_cap[t] = state.capacity, cf_state.capacity
        ended = np.flatnonzero((reg.arm >= 0) & (reg.intervention_end == a))
        regulator_step(reg, state, params, a, t, draws, composite, rngs["regulator"], log, truth)
        if hook is not None and t >= 0:
            hook(t, state, reg, ended)
    kinds = {PROPORTION: "proportion", RATE: "rate", RATIO_OE: "ratio_oe", COUNT: "count"}
    return Replay(
        parameters=params,
        codes=population.codes,
        types=[ORGANISATION_TYPES[i] for i in population.type_index],
        periods=[month_start(params.start_year, t) for t in range(months)],
        indicator_codes=list(model.codes),
        indicator_kinds=[kinds[int(k)] for k in model.kind],
        polarities=[str(d.polarity.value) for d in params.indicators],
        numerator=numerator,
        denominator=denominator,
        expected=expected,
        value=value,
        true_value=true_value,
        counterfactual_value=cf_value,
        performance=perf,
        counterfactual_performance=cf_perf,
        capacity=cap,
        counterfactual_capacity=cf_cap,
        interventions=_interventions(params, population, truth),
        events=_events(params, population, log),
    )


def _interventions(params: SimulationParameters, population: Population, truth: TruthLog) -> pl.DataFrame:
    rows = [r for r in truth.assignments if r["org"].size]
    if not rows:
        return pl.DataFrame(
            schema={
                "org": pl.Int64,
                "org_code": pl.String,
                "arm": pl.String,
                "trigger": pl.String,
                "start": pl.Int64,
                "end": pl.Int64,
                "composite": pl.Float64,
            }
        )
    org = np.concatenate([r["org"] for r in rows]).astype(np.int64)
    start = np.concatenate([r["month"] for r in rows]).astype(np.int64) - params.burn_in_months
    end = np.concatenate([r["end_month"] for r in rows]).astype(np.int64)
    end = np.where(end >= 0, end - params.burn_in_months, -1)
    end = np.where(end >= params.n_months, -1, end)
    return pl.DataFrame(
        {
            "org": org,
            "org_code": np.asarray(population.codes)[org],
            "arm": [ARMS[k] for k in np.concatenate([r["arm"] for r in rows])],
            "trigger": np.concatenate([r["trigger"] for r in rows]).astype(str),
            "start": start,
            "end": end,
            "composite": np.concatenate([r["composite"] for r in rows]).astype(np.float64),
        }
    ).sort("start", "org")


def _events(params: SimulationParameters, population: Population, log: EventLog) -> pl.DataFrame:
    if not log.org:
        return pl.DataFrame(
            schema={"org_code": pl.String, "month": pl.Int64, "kind": pl.String, "detail": pl.String}
        )
    org = np.concatenate(log.org)
    return pl.DataFrame(
        {
            "org_code": np.asarray(population.codes)[org],
            "month": np.concatenate(log.month) - params.burn_in_months,
            "day": np.concatenate(log.day),
            "kind": [k for chunk in log.kind for k in chunk],
            "detail": [d for chunk in log.detail for d in chunk],
        }
    )
