"""A population simulator with known truth: organisations, latent learning capacity, hard indicators, inspections,
interventions and staff surveys. SIMULATED data only; the generative model is documented in docs/simulator.md."""

from forewarn.simulate.model import DEFAULT_INDICATORS, IndicatorDesign, SimulationParameters
from forewarn.simulate.service import LoadResult, SimulationSummary, load, simulate

__all__ = [
    "DEFAULT_INDICATORS",
    "IndicatorDesign",
    "LoadResult",
    "SimulationParameters",
    "SimulationSummary",
    "load",
    "simulate",
]
