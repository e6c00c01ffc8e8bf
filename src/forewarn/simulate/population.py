"""Organisations, their slowly drifting context, and the latent dynamics of learning capacity and performance.

Everything is vectorised over all organisations; the service loops over months only. Equations and defaults are in
docs/simulator.md (sections "Organisations and context" and "Latent learning capacity").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from forewarn.simulate.model import ORGANISATION_TYPES, REGION_NAMES, SimulationParameters, lag_weights
from forewarn.stats.arrays import BoolArray, FloatArray, IntArray


def expit(x: FloatArray) -> FloatArray:
    out: FloatArray = 1.0 / (1.0 + np.exp(-x))
    return out


@dataclass(frozen=True)
class Population:
    """What does not change: codes, names, type, region, the capacity level each organisation tends to."""

    codes: list[str]
    names: list[str]
    type_index: IntArray
    region_index: IntArray
    region_names: tuple[str, ...]
    capacity_base: FloatArray
    response_rate: FloatArray
    facet_loadings: FloatArray

    @property
    def size(self) -> int:
        return len(self.codes)

    @property
    def type_names(self) -> list[str]:
        return [ORGANISATION_TYPES[i] for i in self.type_index]


@dataclass
class LatentState:
    """The latent state after the latest month; arrays are updated in place, one month at a time."""

    log_staff: FloatArray
    deprivation_logit: FloatArray
    capacity: FloatArray
    capacity_target: FloatArray
    development_gain: FloatArray
    facet_unique: FloatArray
    shock: FloatArray
    enforcement_boost: FloatArray
    performance: FloatArray
    history: FloatArray
    weights: FloatArray
    month: int = 0

    @property
    def staff(self) -> FloatArray:
        return np.exp(self.log_staff)

    @property
    def deprivation(self) -> FloatArray:
        return expit(self.deprivation_logit)

    def facets(self, loadings: FloatArray) -> FloatArray:
        """Organisation-level scores of the instrument's dimensions: loading x capacity + a slow unique part."""
        out: FloatArray = self.capacity[:, None] * loadings[None, :] + self.facet_unique
        return out


def make_population(
    params: SimulationParameters, core_mask: BoolArray, rng: np.random.Generator
) -> tuple[Population, LatentState]:
    """Draw the organisations and their state at the start of the burn-in."""
    n = params.n_organisations
    shares = np.asarray(params.type_shares, dtype=np.float64)
    type_index = rng.choice(3, size=n, p=shares / shares.sum()).astype(np.int64)
    region_index = rng.integers(0, params.n_regions, size=n).astype(np.int64)
    region_deprivation = rng.normal(0.0, params.deprivation_region_sd, size=params.n_regions)
    region_capacity = rng.normal(0.0, params.capacity_region_sd, size=params.n_regions)
    deprivation_logit = region_deprivation[region_index] + rng.normal(0.0, params.deprivation_sd, size=n)
    median = np.log(np.asarray(params.staff_median, dtype=np.float64))[type_index]
    sdlog = np.asarray(params.staff_sdlog, dtype=np.float64)[type_index]
    log_staff = median + sdlog * rng.standard_normal(n)
    capacity_base = region_capacity[region_index] + rng.normal(0.0, params.capacity_level_sd, size=n)
    mean_rr = params.survey_response_rate_mean
    conc = params.survey_response_rate_concentration
    response_rate = rng.beta(mean_rr * conc, (1.0 - mean_rr) * conc, size=n)

    kappa = params.capacity_reversion
    stationary_sd = params.capacity_innovation_sd / np.sqrt(kappa * (2.0 - kappa))
    capacity_base = capacity_base + equilibrium_offset(params)
    target = capacity_base + params.capacity_deprivation_effect * (expit(deprivation_logit) - 0.5)
    capacity = target + stationary_sd * rng.standard_normal(n)
    loadings = np.where(core_mask, params.facet_core_loading, params.facet_loading).astype(np.float64)
    facet_unique = rng.standard_normal((n, loadings.size)) * np.sqrt(1.0 - loadings**2)[None, :]
    weights = lag_weights(params.performance_lag_months, params.performance_lag_spread)
    history = np.repeat(capacity[:, None], weights.size, axis=1)

    width = len(str(n))
    codes = [f"{params.code_prefix}{i + 1:0{max(5, width)}d}" for i in range(n)]
    names = [f"SIMULATED {ORGANISATION_TYPES[t]} {i + 1}" for i, t in enumerate(type_index)]
    population = Population(
        codes=codes,
        names=names,
        type_index=type_index,
        region_index=region_index,
        region_names=tuple(f"SIMULATED {REGION_NAMES[r]}" for r in range(params.n_regions)),
        capacity_base=capacity_base,
        response_rate=response_rate,
        facet_loadings=loadings,
    )
    state = LatentState(
        log_staff=log_staff,
        deprivation_logit=deprivation_logit,
        capacity=capacity,
        capacity_target=target,
        development_gain=np.zeros(n),
        facet_unique=facet_unique,
        shock=np.zeros(n),
        enforcement_boost=np.zeros(n),
        performance=(history * weights[None, :]).sum(axis=1),
        history=history,
        weights=weights,
    )
    return population, state


def equilibrium_offset(params: SimulationParameters) -> float:
    """How far the capacity target is raised so that the expected erosion (shocks, churn) leaves the mean near 0.

    At capacity 0 shock pressure averages ``E[S] = (shock_rate / 12) * shock_mean_size / (1 - 0.5 ** (1 / h))``
    and leadership changes arrive at ``(leadership_change_rate / 12) * (1 + leadership_pressure_effect * E[S])``
    a month; each month they take ``shock_capacity_erosion * E[S] + leadership_change_capacity_drop * churn``
    from capacity, which mean reversion balances at ``offset = erosion / capacity_reversion``.
    """
    decay = float(0.5 ** (1.0 / params.shock_half_life_months))
    pressure = params.shock_rate / 12.0 * params.shock_mean_size / (1.0 - decay)
    churn = params.leadership_change_rate / 12.0 * (1.0 + params.leadership_pressure_effect * pressure)
    erosion = params.shock_capacity_erosion * pressure + params.leadership_change_capacity_drop * churn
    return float(erosion / params.capacity_reversion)


@dataclass(frozen=True)
class MonthDraws:
    """What happened to the latent state this month (for events and truth)."""

    leadership_change: BoolArray
    shock_arrived: BoolArray


def step_latent(
    state: LatentState,
    population: Population,
    params: SimulationParameters,
    development_active: BoolArray,
    enforcement_active: BoolArray,
    rngs: dict[str, np.random.Generator],
) -> MonthDraws:
    """Advance every organisation by one month: context drift, shocks, churn, capacity, facets, performance."""
    n = population.size
    context, shocks, churn, capacity = rngs["context"], rngs["shocks"], rngs["leadership"], rngs["capacity"]
    scale = params.intervention_effect_scale

    state.log_staff += params.staff_drift_sd * context.standard_normal(n)
    state.deprivation_logit += params.deprivation_drift_sd * context.standard_normal(n)

    # Low capacity lengthens the half-life of a shock: such organisations recover slowly.
    half_life = np.clip(
        params.shock_half_life_months * np.exp(-params.shock_recovery_capacity_effect * state.capacity),
        0.5,
        120.0,
    )
    arrived = shocks.random(n) < params.shock_rate / 12.0
    size = shocks.exponential(params.shock_mean_size, size=n)
    state.shock = state.shock * 0.5 ** (1.0 / half_life) + np.where(arrived, size, 0.0)

    hazard = params.leadership_change_rate / 12.0 * (1.0 + params.leadership_pressure_effect * state.shock)
    changed = churn.random(n) < np.minimum(hazard, 1.0)

    growth = scale * params.development_growth * development_active
    state.development_gain += growth * params.development_persistent_share
    state.capacity_target = (
        population.capacity_base
        + params.capacity_deprivation_effect * (state.deprivation - 0.5)
        + state.development_gain
    )
    state.capacity = (
        state.capacity
        + params.capacity_reversion * (state.capacity_target - state.capacity)
        - params.shock_capacity_erosion * state.shock
        - params.leadership_change_capacity_drop * changed
        + growth
        - scale * params.enforcement_capacity_cost * enforcement_active
        + params.capacity_innovation_sd * capacity.standard_normal(n)
    )

    phi = params.facet_persistence
    innovation = capacity.standard_normal(state.facet_unique.shape)
    unique_sd = np.sqrt(1.0 - population.facet_loadings**2)[None, :]
    state.facet_unique = phi * state.facet_unique + np.sqrt(1.0 - phi**2) * unique_sd * innovation

    fade = 0.5 ** (1.0 / params.enforcement_fade_half_life_months)
    state.enforcement_boost = np.where(
        enforcement_active, scale * params.enforcement_performance_boost, state.enforcement_boost * fade
    )
    state.month += 1
    update_performance(state, params)
    return MonthDraws(leadership_change=changed, shock_arrived=arrived)


def update_performance(state: LatentState, params: SimulationParameters) -> None:
    """Performance = distributed lag of capacity - shock impact (worse when capacity is low) + enforcement boost."""
    k = state.weights.size
    state.history[:, state.month % k] = state.capacity
    # Column (month - l) % k of the ring buffer holds capacity l months ago.
    order = np.empty(k, dtype=np.float64)
    order[(state.month - np.arange(k)) % k] = state.weights
    # An explicit sum rather than a BLAS matrix-vector product: threaded BLAS would spin the other cores.
    lagged = (state.history * order[None, :]).sum(axis=1)
    impact = (
        params.shock_performance_effect
        * state.shock
        * (1.0 + params.shock_amplification * np.maximum(0.0, -state.capacity))
    )
    state.performance = lagged - impact + state.enforcement_boost


def apply_capacity_drop(state: LatentState, who: BoolArray, drop: float) -> None:
    """A forced leadership replacement: capacity falls at once (performance follows through the lag)."""
    state.capacity = state.capacity - drop * who
    state.history[:, state.month % state.weights.size] = state.capacity
