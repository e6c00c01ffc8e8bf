"""Ranks with intervals at each indicator's latest year, instead of a league table.

Each organisation's estimate comes from its totals over the funnel window, on the funnel's variance-stabilised
scale (arcsine of a proportion; square root of O/E, a rate being O/E against the pooled rate), so ranks use the
same over-dispersion model as the funnel and the CUSUM:

- the error of each estimate is its sampling variance plus the indicator's within-organisation period-to-period
  variance tau_w^2 (from change detection) averaged over the periods in the window: the year-to-year noise that
  reshuffles league tables without any real change;
- organisations differ by the DerSimonian-Laird tau^2 of those estimates, and ranks are drawn from each
  organisation's random-effects posterior (:func:`forewarn.stats.random_effects.random_effects_posterior`).

The rank distribution follows Goldstein & Spiegelhalter (1996, JRSS A 159:385) and Marshall & Spiegelhalter
(1998, BMJ 316:1701): simulated by :func:`forewarn.stats.ranks.rank_uncertainty` for tables of ordinary size,
and by the conditional expected rank (:func:`forewarn.stats.rank_bounds.conditional_rank_intervals`, the same
model) for very large ones. Each league table (an indicator) draws from its own random stream, seeded from the
scan's seed and the indicator's code (:func:`table_seed`), so one table's new units never move another's draws
and an indicator's ranks are the same whichever indicators are scanned beside it. Rank 1 is the best given the indicator's polarity. Means and counts are ranked when
they were published with a standard error (their precision-weighted mean over the window); without one, or
without a direction (neutral), an indicator is not ranked.
"""

from __future__ import annotations

import hashlib

import numpy as np

from forewarn.domain import Polarity, improvement_side
from forewarn.stats.arrays import FloatArray
from forewarn.stats.random_effects import random_effects_posterior
from forewarn.stats.rank_bounds import conditional_rank_intervals
from forewarn.stats.ranks import RankOptions, rank_uncertainty
from forewarn.surveillance.kinds import ESTIMATE_KINDS
from forewarn.surveillance.options import ScanOptions
from forewarn.surveillance.panel import Panel
from forewarn.surveillance.windows import (
    latest_period_units,
    series_attribute,
    window_estimates,
    window_periods,
    window_sums,
)


def scaled_estimates(
    kind: np.ndarray,
    numerator: FloatArray,
    denominator: FloatArray,
    expected: FloatArray,
    pooled_rate: FloatArray,
) -> tuple[FloatArray, FloatArray]:
    """Estimate on the funnel's scale and its sampling variance per unit (NaN where it cannot be ranked).

    Proportions: ``arcsin(sqrt(O/N))``, variance ``1/(4N)``; ratios O/E: ``sqrt(O/E)``, ``1/(4E)``; rates: the
    same with ``E = N x pooled rate`` (Spiegelhalter 2005b). Both transforms keep the order of the raw values.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        p = numerator / denominator
        proportion = np.arcsin(np.sqrt(np.clip(p, 0.0, 1.0)))
        proportion_variance = 1.0 / (4.0 * denominator)
        rate_expected = denominator * pooled_rate
        reference = np.where(kind == "ratio_oe", expected, rate_expected)
        ratio = np.sqrt(np.maximum(numerator, 0.0) / reference)
        ratio_variance = 1.0 / (4.0 * reference)
    is_proportion = kind == "proportion"
    estimate = np.where(is_proportion, proportion, ratio)
    variance = np.where(is_proportion, proportion_variance, ratio_variance)
    usable = (
        np.isin(kind, ("proportion", "rate", "ratio_oe"))
        & np.isfinite(estimate)
        & np.isfinite(variance)
        & (variance > 0)
        & (numerator >= 0)
        & ~(is_proportion & (numerator > denominator))
    )
    return np.where(usable, estimate, np.nan), np.where(usable, variance, np.nan)


def table_seed(seed: int, code: str) -> int:
    """The seed of one league table's random stream: ``numpy.random.SeedSequence`` over the scan's ``seed`` and a
    stable hash of the indicator's ``code`` (the first 8 bytes of its SHA-256; Python's ``hash`` of a string
    changes between processes)."""
    code_hash = int.from_bytes(hashlib.sha256(code.encode()).digest()[:8], "little")
    return int(np.random.SeedSequence([seed, code_hash]).generate_state(1, np.uint64)[0])


def _simulated_tables(
    mean: FloatArray,
    sd: FloatArray,
    table: np.ndarray,
    codes: list[str],
    options: ScanOptions,
    descending: bool,
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Simulated median rank, interval and table size of every unit, one league table at a time, each table with
    its own generator (:func:`table_seed`); one table's units are one vectorised call."""
    median, low, high, size = (np.empty(mean.size) for _ in range(4))
    order = np.argsort(table, kind="stable")
    bounds = np.flatnonzero(np.diff(table[order])) + 1
    for members in np.split(order, bounds):  # league tables (indicators): tens, not series
        index = int(table[members[0]])
        simulated = rank_uncertainty(
            mean[members],
            sd[members],
            options=RankOptions(
                n_draws=options.rank_replicates,
                seed=table_seed(options.seed, codes[index]),
                descending=descending,
            ),
        )
        median[members] = simulated.median_rank
        low[members] = simulated.lower_rank
        high[members] = simulated.upper_rank
        size[members] = simulated.group_size
    return median, low, high, size


def latest_rank_intervals(
    panel: Panel,
    options: ScanOptions,
    window: tuple[FloatArray, FloatArray, FloatArray] | None = None,
    tau2_within: FloatArray | None = None,
    estimates: tuple[FloatArray, FloatArray] | None = None,
) -> dict[str, np.ndarray]:
    """Median rank, 95% interval and whether each series can be told from the middle of its table.

    ``tau2_within`` is each indicator's within-organisation variance per period on the funnel scale (0 where
    None or NaN); ``window`` and ``estimates`` are :func:`window_sums` and :func:`window_estimates` at the
    latest periods, when the caller has them.
    """
    n = panel.n_series
    out: dict[str, np.ndarray] = {
        "rank": np.full(n, np.nan),
        "rank_lower": np.full(n, np.nan),
        "rank_upper": np.full(n, np.nan),
        "rank_of": np.full(n, None, dtype=object),
        "rank_distinguishable": np.full(n, None, dtype=object),
    }
    if n == 0:
        return out
    units, at = latest_period_units(panel)
    numerator, denominator, expected = (
        window if window is not None else window_sums(panel, at, options.funnel_window_days)
    )
    kind = series_attribute(panel, "kind")
    polarity = series_attribute(panel, "polarity")
    k = panel.indicators.height
    codes = [str(code) for code in panel.indicators["code"].to_list()]
    in_units = np.zeros(n, dtype=bool)
    in_units[units] = True
    rated = in_units & (kind == "rate") & np.isfinite(numerator) & (denominator > 0)
    pooled_num = np.bincount(panel.indicator_index[rated], weights=numerator[rated], minlength=k)
    pooled_den = np.bincount(panel.indicator_index[rated], weights=denominator[rated], minlength=k)
    with np.errstate(invalid="ignore", divide="ignore"):
        pooled_rate = (pooled_num / pooled_den)[panel.indicator_index]
    estimate, variance = scaled_estimates(kind, numerator, denominator, expected, pooled_rate)
    # Means and counts published with a standard error: the window's precision-weighted mean, on its own scale.
    published, published_se = (
        estimates if estimates is not None else window_estimates(panel, at, options.funnel_window_days)
    )
    is_estimate = np.isin(kind, ESTIMATE_KINDS) & np.isfinite(published) & (published_se > 0)
    estimate = np.where(is_estimate, published, estimate)
    variance = np.where(is_estimate, published_se * published_se, variance)
    within = np.zeros(k) if tau2_within is None else np.nan_to_num(np.asarray(tau2_within, dtype=float))
    periods = np.maximum(window_periods(panel, at, options.funnel_window_days), 1.0)
    variance = variance + within[panel.indicator_index] / periods
    for pol in (Polarity.HIGHER_IS_BETTER, Polarity.LOWER_IS_BETTER):
        descending = improvement_side(pol) > 0  # rank 1 is the best: the highest where higher is better
        rows = units[(polarity[units] == pol.value) & np.isfinite(estimate[units])]
        if rows.size == 0:
            continue
        table = panel.indicator_index[rows]
        # Tables as 0..G-1 for the random-effects model, one DerSimonian-Laird tau^2 each.
        _, dense = np.unique(table, return_inverse=True)
        posterior = random_effects_posterior(estimate[rows], variance[rows], dense)
        large = np.bincount(table)[table] > options.rank_simulation_max_units
        for chosen_mask, simulate in ((~large, True), (large, False)):
            chosen = rows[chosen_mask]
            if chosen.size == 0:
                continue
            mean, sd = posterior.mean[chosen_mask], posterior.sd[chosen_mask]
            if simulate:
                median, low, high, n_table = _simulated_tables(
                    mean, sd, panel.indicator_index[chosen], codes, options, descending
                )
            else:
                bounds = conditional_rank_intervals(
                    mean, sd, group=panel.indicator_index[chosen], descending=descending
                )
                median, low, high, n_table = (
                    bounds.rank,
                    bounds.lower_rank,
                    bounds.upper_rank,
                    bounds.group_size.astype(np.float64),
                )
            middle = (n_table + 1) / 2
            out["rank"][chosen] = median
            out["rank_lower"][chosen] = low
            out["rank_upper"][chosen] = high
            out["rank_of"][chosen] = n_table.astype(int)
            # +1: the whole interval is on the better side of the middle rank; -1 the worse side; 0 cannot tell.
            out["rank_distinguishable"][chosen] = np.where(
                high < middle, 1, np.where(low > middle, -1, 0)
            ).astype(int)
    return out
