"""The risk-adjusted CUSUM's threshold h for a target in-control average run length (ARL).

By the Markov chain of the chart on a rational lattice at the typical expected count (Brook & Evans 1972,
Biometrika 59:539, with the counted-data CUSUM of Lucas 1985, Technometrics 27:129, as R ``surveillance``
1.20.3 ``arlCusum`` builds it; :mod:`forewarn.stats.arl.count_cusum`), or by simulating paths with the series'
own expected patterns and reading ARL(h) for a whole grid of h from the running maximum (Steiner et al. 2000,
Biostatistics 1:441). The charts themselves are in :mod:`forewarn.stats.cusum`.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from forewarn.stats.arl.count_cusum import Direction, binomial_cusum_crit, poisson_cusum_crit
from forewarn.stats.arrays import FloatArray, IntArray
from forewarn.stats.cusum_types import (
    CusumThreshold,
    LikelihoodForm,
    RiskAdjustedCusumOptions,
    ThresholdMethod,
    _check_choice,
    _is_number,
)

# Grid points over h when the threshold is found by simulation (resolution h_max / 4000).
_SIMULATION_GRID_POINTS = 4001


# Times the simulation grid may be widened before giving up.
_MAX_GRID_DOUBLINGS = 20


def _typical(values: FloatArray) -> float:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        raise ValueError("expected has no finite values to take a typical expected count from")
    return float(np.median(finite))


def llr_cusum_threshold(
    target_arl: float,
    expected: ArrayLike,
    *,
    rate_ratio: float = 2.0,
    form: LikelihoodForm = "poisson",
    denominators: ArrayLike | None = None,
    method: ThresholdMethod = "markov",
    max_denominator: int = 200,
    n_paths: int = 4000,
    horizon_multiple: float = 10.0,
    seed: int = 20000441,
) -> CusumThreshold:
    """Threshold h of the risk-adjusted CUSUM for a target in-control ARL (in periods, e.g. months).

    Parameters
    ----------
    target_arl : float
        Required in-control ARL in periods, > 1 (e.g. 60 for one false alarm per five years of months).
    expected : float or array_like
        Expected counts per period: a number, a series (time pattern, cycled), or a panel (series x time).
    rate_ratio : float
        R of the chart (> 0, not 1); R < 1 gives the threshold of the lower CUSUM.
    form : {"poisson", "bernoulli"}
        Likelihood form, as in :func:`llr_increments`.
    denominators : float or array_like or None
        Patients per period (Bernoulli form), shaped like ``expected``.
    method : {"markov", "simulation"}
        ``"markov"`` (default): exact Markov chain of the CUSUM with constant expected count, the median E of
        ``expected`` (and median N). ``"simulation"``: Monte Carlo with in-control counts drawn for the given
        pattern of E (and N), for when E varies too much over time or between series for one typical value.
    max_denominator : int
        Markov method: the reference value k is read as a fraction with at most this denominator (so the chain
        is exact for a k within ``1/max_denominator^2`` of the true one).
    n_paths : int
        Simulation: number of simulated in-control paths (default 4000: ARL standard error about 1.6%).
    horizon_multiple : float
        Simulation: paths run for ``horizon_multiple * target_arl`` periods (runs longer than that are
        censored; with the default 10 the bias is below 1e-4 relative).
    seed : int
        Simulation: seed of the numpy Generator, so the threshold is reproducible.

    Returns
    -------
    CusumThreshold
        h, the in-control ARL at h, its Monte Carlo standard error, the method and the typical E used.

    Raises
    ------
    ValueError
        If an argument is out of range.

    Notes
    -----
    Markov method: dividing W by ``|ln R|`` turns the chart into a CUSUM of counts,
    ``S/|ln R| = max(0, S/|ln R| + sign(ln R) (O - k))`` with ``k = (R - 1) E / ln R`` (Poisson) or
    ``k = N ln(1 - p + R p) / ln R`` (Bernoulli, O ~ binomial(N, p = E/N)), whose ARL is exact on the
    lattice of multiples of 1/m (:func:`forewarn.stats.arl.poisson_cusum_crit`). The ARL rises in steps
    between lattice points, so h is the smallest lattice value whose ARL reaches the target, times ``|ln R|``.

    Simulation: before its first alarm the chart never resets, so the run length for threshold h is the first
    time the running maximum ``M_t = max_{s <= t} S_s`` reaches h, and ``ARL(h) = sum_t P(M_t < h)``. One set
    of simulated paths (each with the E pattern of a randomly drawn series) therefore gives the ARL of every h
    on a grid at once; h is interpolated where the estimated ARL crosses the target. The standard error comes
    from ``RL^2 = sum_t (2t + 1) 1[RL > t]`` accumulated the same way.

    References
    ----------
    Steiner, S. H., Cook, R. J., Farewell, V. T. & Treasure, T. (2000). Monitoring surgical performance using
    risk-adjusted cumulative sum charts. Biostatistics 1, 441-452.
    Lucas, J. M. (1985). Counted data CUSUM's. Technometrics 27, 129-144.

    Examples
    --------
    With R = 2 and E = 2.4 expected deaths a month, k = 2.4/ln 2 is read as 277/80 and the threshold on the
    count scale is h/ln 2 = 3.55 = 284/80; R ``surveillance::arlCusum(h = 3.55, k = 3.4625, theta = 2.4,
    digits = 4)$ARL`` builds the same chain:

    >>> threshold = llr_cusum_threshold(60.0, 2.4)
    >>> round(threshold.h / math.log(2), 6), round(threshold.arl, 4)
    (3.55, 66.3893)
    """
    target = float(target_arl)
    if not (_is_number(target_arl) and target > 1):
        raise ValueError(f"target_arl must be a finite number > 1; got {target_arl!r}")
    RiskAdjustedCusumOptions(rate_ratio=rate_ratio, form=form)
    _check_choice("method", method, ("markov", "simulation"))
    expected_values = np.atleast_1d(np.asarray(expected, dtype=np.float64))
    if np.isinf(expected_values).any() or (expected_values < 0).any():
        raise ValueError("expected counts must be finite and >= 0 (NaN for missing)")
    denominator_values: FloatArray | None = None
    if form == "bernoulli":
        if denominators is None:
            raise ValueError("the Bernoulli form needs denominators (patients per period)")
        denominator_values = np.atleast_1d(np.asarray(denominators, dtype=np.float64))
        if denominator_values.shape != expected_values.shape:
            raise ValueError("denominators must have the shape of expected")
        if (expected_values > denominator_values).any() or (denominator_values < 0).any():
            raise ValueError("denominators must be >= 0 and >= expected")
    log_ratio = math.log(rate_ratio)
    direction: Direction = "upper" if rate_ratio > 1 else "lower"
    if method == "markov":
        typical_expected = _typical(expected_values)
        if typical_expected <= 0:
            raise ValueError(
                "the typical (median) expected count is 0: no events are expected, so no threshold"
            )
        if denominator_values is None:
            k = (rate_ratio - 1.0) * typical_expected / log_ratio
            lattice = poisson_cusum_crit(
                typical_expected, k, target, direction=direction, max_denominator=max_denominator
            )
        else:
            trials = max(1, round(_typical(denominator_values)))
            risk = min(typical_expected / trials, 1.0)
            k = trials * math.log1p((rate_ratio - 1.0) * risk) / log_ratio
            lattice = binomial_cusum_crit(
                risk, k, target, trials=trials, direction=direction, max_denominator=max_denominator
            )
        return CusumThreshold(
            h=lattice.h * abs(log_ratio),
            arl=lattice.arl,
            arl_standard_error=0.0,
            method="markov",
            expected=typical_expected,
        )
    if not (isinstance(n_paths, int) and n_paths >= 100):
        raise ValueError(f"n_paths must be an integer >= 100; got {n_paths!r}")
    if not (_is_number(horizon_multiple) and horizon_multiple >= 2):
        raise ValueError(f"horizon_multiple must be >= 2; got {horizon_multiple!r}")
    return _simulated_threshold(
        target, expected_values, denominator_values, float(rate_ratio), n_paths, float(horizon_multiple), seed
    )


def _simulated_threshold(
    target: float,
    expected: FloatArray,
    denominators: FloatArray | None,
    rate_ratio: float,
    n_paths: int,
    horizon_multiple: float,
    seed: int,
) -> CusumThreshold:
    patterns = expected.reshape(-1, expected.shape[-1])
    denominator_patterns = None if denominators is None else denominators.reshape(patterns.shape)
    usable = np.isfinite(patterns).any(axis=1)
    if not usable.any():
        raise ValueError("expected has no finite values to simulate from")
    usable_rows = np.flatnonzero(usable)
    horizon = math.ceil(horizon_multiple * target)
    mean_expected = float(np.nanmean(patterns))
    if mean_expected <= 0:
        raise ValueError("every expected count is 0: no events are expected, so no threshold")
    # The grid's top starts at twice the Poisson-form Markov threshold at the mean E (a scale, not an answer)
    # and is doubled until the estimated ARL at the top reaches the target.
    top = 2.0 * llr_cusum_threshold(target, mean_expected, rate_ratio=rate_ratio).h
    for _ in range(_MAX_GRID_DOUBLINGS):
        rng = np.random.default_rng(seed)
        grid = np.linspace(0.0, top, _SIMULATION_GRID_POINTS)
        sum_run, sum_square = _simulate_run_lengths(
            rng, grid, patterns, denominator_patterns, usable_rows, rate_ratio, n_paths, horizon
        )
        arl = sum_run / n_paths
        if arl[-1] >= target:
            break
        top *= 2.0
    else:
        raise ValueError(f"no threshold up to h = {top:g} reaches the target ARL {target:g}")
    above = int(np.argmax(arl >= target))
    if above == 0:
        raise ValueError("the target ARL is reached at h = 0; it must exceed 1")
    fraction = (target - arl[above - 1]) / (arl[above] - arl[above - 1])
    h = float(grid[above - 1] + fraction * (grid[above] - grid[above - 1]))
    variance = sum_square[above] / n_paths - arl[above] ** 2
    return CusumThreshold(
        h=h,
        arl=float(target),
        arl_standard_error=float(math.sqrt(max(variance, 0.0) / n_paths)),
        method="simulation",
        expected=math.nan,
    )


def _simulate_run_lengths(
    rng: np.random.Generator,
    grid: FloatArray,
    patterns: FloatArray,
    denominator_patterns: FloatArray | None,
    usable_rows: IntArray,
    rate_ratio: float,
    n_paths: int,
    horizon: int,
) -> tuple[FloatArray, FloatArray]:
    """Sums over paths of RL(h) and RL(h)^2 for every h on the grid (RL censored at horizon + 1)."""
    log_ratio = math.log(rate_ratio)
    period_count = patterns.shape[1]
    chosen = rng.choice(usable_rows, size=n_paths)
    path_expected = patterns[chosen]
    path_denominators = None if denominator_patterns is None else denominator_patterns[chosen]
    statistic = np.zeros(n_paths)
    running_max = np.zeros(n_paths)
    # counts[g] accumulates, over t >= 1 and paths, 1[M_t < grid[g]] via the first grid index above M_t.
    below_counts = np.zeros(grid.size + 1)
    below_weighted = np.zeros(grid.size + 1)
    active = np.arange(n_paths)
    for t in range(1, horizon + 1):
        column = (t - 1) % period_count
        mean = path_expected[active, column]
        present = np.isfinite(mean)
        safe_mean = np.where(present, mean, 0.0)
        if path_denominators is None:
            counts = rng.poisson(safe_mean)
            increment = counts * log_ratio - (rate_ratio - 1.0) * safe_mean
        else:
            trials = np.where(present, path_denominators[active, column], 0.0)
            risk = np.divide(safe_mean, trials, out=np.zeros_like(safe_mean), where=trials > 0)
            counts = rng.binomial(trials.astype(np.int64), risk)
            increment = counts * log_ratio - trials * np.log1p((rate_ratio - 1.0) * risk)
        increment = np.where(present, increment, 0.0)
        statistic[active] = np.maximum(statistic[active] + increment, 0.0)
        running_max[active] = np.maximum(running_max[active], statistic[active])
        first_above = np.searchsorted(grid, running_max[active], side="right")
        tally = np.bincount(first_above, minlength=grid.size + 1).astype(np.float64)
        below_counts += tally
        below_weighted += (2.0 * t + 1.0) * tally
        # a path past the top of the grid adds nothing more to any grid point
        active = active[first_above < grid.size]
        if active.size == 0:
            break
    # RL = 1 + sum_{t>=1} 1[M_t < h]; RL^2 = 1 + sum_{t>=1} (2t + 1) 1[M_t < h]
    sum_run = n_paths + np.cumsum(below_counts)[: grid.size]
    sum_square = n_paths + np.cumsum(below_weighted)[: grid.size]
    return sum_run, sum_square
