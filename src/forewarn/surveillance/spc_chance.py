"""How many SPC special causes of concern a scan should expect by chance alone.

Making Data Count's rules (a point beyond the limits, a run of 7 on one side, a trend of 7, two of three near a
limit) fire now and then on a process that has not changed. How often depends on the series' length and on the
limits being estimated from the same points, which no closed formula covers; so each length is simulated, once
per scan with a fixed seed, through the very chart the scan draws (:func:`forewarn.stats.spc.xmr_chart`): stable
processes of independent normal points. Real series that are autocorrelated signal more often than this.
"""

from __future__ import annotations

import functools

import numpy as np

from forewarn.stats.spc import PointType, SpcOptions, xmr_chart
from forewarn.surveillance.options import ScanOptions

SIMULATED_SERIES = 2000


def stable_concern_shares(length: int, options: ScanOptions, *, seed: int) -> tuple[float, float]:
    """For a stable process of ``length`` points: the share of series with a special cause of concern anywhere,
    and the share whose latest point is one (what the portfolio counts).

    The simulation depends on nothing but the length, the rules' lengths and the seed, so each is run once a
    process (:func:`_stable_concern_shares`): a scan of many partitions of the same window length (twenty
    indicators of 36 months) simulates one, not one per partition (about 15 ms of CPU each)."""
    return _stable_concern_shares(length, options.spc_shift_length, options.spc_trend_length, seed)


@functools.lru_cache(maxsize=256)
def _stable_concern_shares(
    length: int, shift_length: int, trend_length: int, seed: int
) -> tuple[float, float]:
    rng = np.random.default_rng(seed + length)
    values = rng.standard_normal((SIMULATED_SERIES, length))
    chart = xmr_chart(
        values,
        SpcOptions(
            improvement="increase",
            shift_length=shift_length,
            trend_length=trend_length,
        ),
    )
    concern = chart.point_type == int(PointType.SPECIAL_CAUSE_CONCERN)
    return float(concern.any(axis=1).mean()), float(concern[:, -1].mean())


def expected_spc_concerns(
    lengths: dict[str, tuple[int, int]], options: ScanOptions
) -> dict[str, dict[str, float]]:
    """Per indicator code, given (charted series, periods): the series expected by chance to show a special cause
    of concern over the window, and at the latest point."""
    out = {}
    for code, (series, periods) in lengths.items():  # one simulation per indicator (tens), vectorised
        window, current = stable_concern_shares(periods, options, seed=options.seed)
        out[code] = {
            "series": float(series),
            "periods": float(periods),
            "any_concern_expected": window * series,
            "current_concern_expected": current * series,
        }
    return out


__all__ = ["SIMULATED_SERIES", "expected_spc_concerns", "stable_concern_shares"]
