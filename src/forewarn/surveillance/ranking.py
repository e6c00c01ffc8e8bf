"""Ranks with intervals at each indicator's latest year, instead of a league table.

Each organisation's estimate and standard error come from its totals over the funnel window; the rank
distribution follows Goldstein & Spiegelhalter (1996, JRSS A 159:385) and Marshall & Spiegelhalter (1998, BMJ
316:1701): simulated by :func:`forewarn.stats.ranks.rank_uncertainty` for tables of ordinary size, and by the
conditional expected rank (:func:`forewarn.stats.rank_bounds.conditional_rank_intervals`, the same model) for very
large ones. Rank 1 is the best given the indicator's polarity. Indicators without a standard error (means,
counts) or without a direction (neutral) are not ranked.
"""

from __future__ import annotations

import numpy as np

from forewarn.stats.rank_bounds import conditional_rank_intervals
from forewarn.stats.ranks import RankOptions, rank_uncertainty
from forewarn.surveillance.options import ScanOptions
from forewarn.surveillance.panel import FloatArray, Panel


def estimates_with_standard_errors(
    kind: np.ndarray, numerator: FloatArray, denominator: FloatArray, expected: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Estimate and standard error per unit: binomial for proportions, Poisson for rates and O/E ratios.

    A zero count gets the standard error of half an event, so an organisation with no events is not ranked as
    certain.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        p = numerator / denominator
        clipped = np.clip(p, 0.5 / denominator, 1 - 0.5 / denominator)
        proportion_se = np.sqrt(clipped * (1 - clipped) / denominator)
        rate_se = np.sqrt(np.maximum(numerator, 0.5)) / denominator
        ratio = numerator / expected
        ratio_se = np.sqrt(np.maximum(numerator, 0.5)) / expected
    estimate = np.where(kind == "proportion", p, np.where(kind == "ratio_oe", ratio, p))
    se = np.where(kind == "proportion", proportion_se, np.where(kind == "ratio_oe", ratio_se, rate_se))
    usable = (
        np.isin(kind, ("proportion", "rate", "ratio_oe")) & np.isfinite(estimate) & np.isfinite(se) & (se > 0)
    )
    return np.where(usable, estimate, np.nan), np.where(usable, se, np.nan)


def latest_rank_intervals(
    panel: Panel, options: ScanOptions, window: tuple[FloatArray, FloatArray, FloatArray] | None = None
) -> dict[str, np.ndarray]:
    from forewarn.surveillance.compute import _latest_period_units, _series_attr, _window_sums

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
    units, at = _latest_period_units(panel)
    numerator, denominator, expected = (
        window if window is not None else _window_sums(panel, at, options.funnel_window_days)
    )
    kind = _series_attr(panel, "kind")
    polarity = _series_attr(panel, "polarity")
    estimate, se = estimates_with_standard_errors(kind, numerator, denominator, expected)
    for pol, descending in (("higher_is_better", True), ("lower_is_better", False)):
        rows = units[(polarity[units] == pol) & np.isfinite(estimate[units])]
        if rows.size == 0:
            continue
        table = panel.indicator_index[rows]
        large = np.bincount(table)[table] > options.rank_simulation_max_units
        for chosen, simulate in ((rows[~large], True), (rows[large], False)):
            if chosen.size == 0:
                continue
            if simulate:
                simulated = rank_uncertainty(
                    estimate[chosen],
                    se[chosen],
                    group=panel.indicator_index[chosen],
                    options=RankOptions(
                        n_draws=options.rank_replicates, seed=options.seed, descending=descending
                    ),
                )
                median = simulated.median_rank
                low, high = simulated.lower_rank.astype(np.float64), simulated.upper_rank.astype(np.float64)
                n_table = simulated.group_size
            else:
                bounds = conditional_rank_intervals(
                    estimate[chosen], se[chosen], group=panel.indicator_index[chosen], descending=descending
                )
                median, low, high, n_table = (
                    bounds.rank,
                    bounds.lower_rank,
                    bounds.upper_rank,
                    bounds.group_size,
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
