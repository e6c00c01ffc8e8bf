"""Monthly hard indicators: binomial proportions, Poisson rates, O/E ratios with case-mix, Poisson counts.

For organisation i, indicator j and month t the linear predictor (logit scale for proportions, log scale otherwise)
is

    eta = base_j + type_offset[type_i, j] + b_ij + trend_j * t / 12 + amp_j * cos(2 pi (m_t - peak_j) / 12)
          + direction_j * sensitivity_j * Q_it + deprivation_effect_j * (deprivation_it - 0.5)

with ``b_ij ~ N(0, (overdispersion_scale * random_effect_sd_j)^2)`` the between-organisation random effect and
``Q_it`` the latent performance (a distributed lag of capacity). See docs/simulator.md, "Hard indicators".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from forewarn.simulate.model import SimulationParameters
from forewarn.simulate.population import LatentState, Population, expit
from forewarn.stats.arrays import FloatArray, IntArray

PROPORTION, RATE, RATIO_OE, COUNT = 0, 1, 2, 3
_KIND_CODES = {"proportion": PROPORTION, "rate": RATE, "ratio_oe": RATIO_OE, "count": COUNT}


@dataclass(frozen=True)
class IndicatorModel:
    """Per-indicator constants (length J) and the organisation random effects (N x J), drawn once."""

    codes: list[str]
    kind: IntArray
    base: FloatArray
    risk: FloatArray
    volume: FloatArray
    signed_sensitivity: FloatArray
    direction: FloatArray
    trend: FloatArray
    seasonal_amplitude: FloatArray
    seasonal_peak: FloatArray
    deprivation_effect: FloatArray
    multiplier: FloatArray
    random_effects: FloatArray
    type_offsets: FloatArray
    organisation_effects: FloatArray

    def columns(self, kind: int) -> IntArray:
        return np.flatnonzero(self.kind == kind)


def make_indicator_model(
    params: SimulationParameters, population: Population, rng: np.random.Generator
) -> IndicatorModel:
    """Fix each indicator's constants and draw the random effects ``b_ij`` and per-type offsets."""
    designs = params.indicators
    kind = np.array([_KIND_CODES[d.kind] for d in designs], dtype=np.int64)
    baseline = np.array([d.baseline for d in designs], dtype=np.float64)
    # O/E ratios are relative to the case-mix expectation, so their base is 0 and the baseline is the risk per case.
    odds_base = np.where(kind == PROPORTION, baseline, 0.5)
    base = np.select(
        [kind == PROPORTION, (kind == RATE) | (kind == COUNT)],
        [np.log(odds_base / (1.0 - odds_base)), np.log(baseline)],
        0.0,
    )
    direction = np.array([d.direction for d in designs], dtype=np.float64)
    sd = params.overdispersion_scale * np.array([d.random_effect_sd for d in designs], dtype=np.float64)
    random_effects = rng.standard_normal((population.size, len(designs))) * sd[None, :]
    type_offsets = rng.normal(0.0, params.type_offset_sd, size=(3, len(designs)))
    return IndicatorModel(
        codes=[d.code for d in designs],
        kind=kind,
        base=base,
        risk=np.where(kind == RATIO_OE, baseline, 0.0),
        volume=np.array([d.volume for d in designs], dtype=np.float64),
        signed_sensitivity=direction * np.array([d.sensitivity for d in designs], dtype=np.float64),
        direction=direction,
        trend=np.array([d.trend_per_year for d in designs], dtype=np.float64),
        seasonal_amplitude=np.array([d.seasonal_amplitude for d in designs], dtype=np.float64),
        seasonal_peak=np.array([d.seasonal_peak_month for d in designs], dtype=np.float64),
        deprivation_effect=np.array([d.deprivation_effect for d in designs], dtype=np.float64),
        multiplier=np.array([d.multiplier for d in designs], dtype=np.float64),
        random_effects=random_effects,
        type_offsets=type_offsets,
        organisation_effects=type_offsets[population.type_index] + random_effects,
    )


@dataclass(frozen=True)
class MonthIndicators:
    """One month of every indicator for every organisation (N x J). Unused cells hold 0 (counts) or NaN."""

    numerator: IntArray
    denominator: IntArray
    expected: FloatArray
    true_value: FloatArray
    linear_predictor: FloatArray


def draw_month(
    model: IndicatorModel,
    state: LatentState,
    population: Population,
    month_index: int,
    params: SimulationParameters,
    rng: np.random.Generator,
) -> MonthIndicators:
    """Draw the published numerators, denominators and expected counts of month ``month_index`` (0 = first)."""
    n, j = model.random_effects.shape
    month_of_year = month_index % 12 + 1
    season = model.seasonal_amplitude * np.cos(2.0 * np.pi * (month_of_year - model.seasonal_peak) / 12.0)
    deprivation = state.deprivation - 0.5
    fixed = model.base + model.trend * month_index / 12.0 + season
    eta = state.performance[:, None] * model.signed_sensitivity[None, :]
    eta += model.organisation_effects
    eta += fixed[None, :]
    is_ratio = model.kind == RATIO_OE
    # For O/E ratios deprivation is case-mix: it moves the expected count, and the ratio is adjusted for it.
    eta += deprivation[:, None] * np.where(is_ratio, 0.0, model.deprivation_effect)[None, :]
    staff = state.staff
    volume_season = 1.0 + params.volume_seasonality * np.cos(2.0 * np.pi * (month_of_year - 1) / 12.0)
    cases = 1 + rng.poisson(staff[:, None] * model.volume[None, :] * volume_season)
    is_count = model.kind == COUNT
    cases[:, is_count] = 0

    numerator = np.zeros((n, j), dtype=np.int64)
    expected = np.full((n, j), np.nan)
    true_value = np.empty((n, j))

    prop = model.columns(PROPORTION)
    p = expit(eta[:, prop])
    numerator[:, prop] = rng.binomial(cases[:, prop], p)
    true_value[:, prop] = p

    rate = model.columns(RATE)
    per_unit = np.exp(eta[:, rate])
    numerator[:, rate] = rng.poisson(cases[:, rate] * per_unit)
    true_value[:, rate] = per_unit * model.multiplier[rate]

    ratio = model.columns(RATIO_OE)
    casemix = np.exp(deprivation[:, None] * model.deprivation_effect[ratio][None, :])
    exp_count = np.maximum(np.round(cases[:, ratio] * model.risk[ratio][None, :] * casemix, 4), 1e-4)
    relative = np.exp(eta[:, ratio])
    numerator[:, ratio] = rng.poisson(exp_count * relative)
    expected[:, ratio] = exp_count
    true_value[:, ratio] = relative

    count = model.columns(COUNT)
    mean = staff[:, None] / 100.0 * np.exp(eta[:, count])
    numerator[:, count] = rng.poisson(mean)
    true_value[:, count] = mean
    return MonthIndicators(
        numerator=numerator, denominator=cases, expected=expected, true_value=true_value, linear_predictor=eta
    )


def observed_scale(model: IndicatorModel, month: MonthIndicators, staff: FloatArray) -> FloatArray:
    """Each observed value on its model scale (empirical logit or log rate), as a regulator would screen it."""
    below = month.denominator.astype(np.float64)
    prop = model.columns(PROPORTION)
    below[:, prop] -= month.numerator[:, prop] - 0.5
    ratio = model.columns(RATIO_OE)
    below[:, ratio] = month.expected[:, ratio]
    below[:, model.columns(COUNT)] = staff[:, None]
    out: FloatArray = np.log((month.numerator + 0.5) / below)
    return out


def observed_composite(
    model: IndicatorModel, month: MonthIndicators, population: Population, staff: FloatArray
) -> FloatArray:
    """A naive league-table score: polarity-signed z-scores within organisation type, averaged over indicators.

    Higher is better. No allowance for size, so small organisations' noisy months rank at the extremes (the
    regression-to-the-mean trap the simulator is built to show). With ``m`` and ``s`` the mean and SD of each
    indicator within type, the score is ``sum_j d_j (x_j - m_j) / s_j / sum_j |d_j|``.
    """
    x = observed_scale(model, month, staff)
    # Plain NumPy reductions, not BLAS: a threaded BLAS spins idle cores and doubled the CPU time of a run.
    types = population.type_index
    mean = np.zeros((3, x.shape[1]))
    sd = np.ones((3, x.shape[1]))
    for t in range(3):
        block = x[types == t]
        if block.shape[0]:
            mean[t] = block.mean(axis=0)
            spread = block.std(axis=0)
            sd[t] = np.where(spread > 0, spread, 1.0)
    weight = max(float(np.abs(model.direction).sum()), 1.0)
    coefficient = model.direction[None, :] / sd / weight
    offset = (mean * coefficient).sum(axis=1)
    composite: FloatArray = (x * coefficient[types]).sum(axis=1) - offset[types]
    return composite
