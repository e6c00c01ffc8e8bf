"""Benchmark: the whole surveillance scan over 50,000 organisations x 20 indicators x 36 months (36M observations).

Prints seconds, observations per second and peak memory, against the memory of the raw long-form panel, and the
time of Forewarn's own SPC and CUSUM functions called one series at a time, extrapolated from a sample (a measure
of the vectorisation, not of a peer). This times the maths alone, on an idealised in-memory panel (no gaps, no
store); ``bench/scan_bench.py`` times ``forewarn scan`` as the user runs it, on a populated store.
Run: .venv/bin/python bench/surveillance_bench.py [--orgs 50000] [--indicators 20] [--months 36]
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import polars as pl

from forewarn.surveillance.compute import compute_surveillance
from forewarn.surveillance.options import ScanOptions
from forewarn.surveillance.panel import Panel

KINDS = ("proportion", "ratio_oe", "rate", "mean")
POLARITIES = ("higher_is_better", "lower_is_better", "lower_is_better", "neutral")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_panel(orgs: int, indicators: int, months: int, seed: int = 1) -> Panel:
    """A synthetic panel filled one indicator at a time, so building it needs little beyond the panel itself."""
    rng = np.random.default_rng(seed)
    n = orgs * indicators
    indicator_index = np.repeat(np.arange(indicators), orgs)
    kinds = np.array([KINDS[i % len(KINDS)] for i in range(indicators)])
    value = np.empty((n, months))
    numerator = np.empty((n, months))
    denominator = np.empty((n, months))
    expected = np.empty((n, months))
    season = 1 + 0.1 * np.sin(np.arange(months) / 12 * 2 * np.pi)
    for i, kind in enumerate(kinds):
        rows = slice(i * orgs, (i + 1) * orgs)
        size = rng.lognormal(6, 0.7, orgs)[:, None]
        denominator[rows] = np.round(size * season)
        base = rng.normal(0, 0.3, orgs)[:, None]  # between-organisation over-dispersion
        expected[rows] = denominator[rows] * 0.05
        if kind == "proportion":
            numerator[rows] = rng.binomial(
                denominator[rows].astype(np.int64), 1 / (1 + np.exp(-(1.5 + base)))
            )
        else:
            numerator[rows] = rng.poisson(expected[rows] * np.exp(base))
        value[rows] = numerator[rows] / (expected[rows] if kind == "ratio_oe" else denominator[rows])
    period = (np.datetime64("2021-01-01", "M") + np.arange(months)).astype("datetime64[D]")
    frame = pl.DataFrame(
        {
            "indicator_id": np.arange(indicators, dtype=np.int64),
            "code": [f"ind{i}" for i in range(indicators)],
            "kind": kinds,
            "polarity": [POLARITIES[i % len(POLARITIES)] for i in range(indicators)],
            "target": [0.8 if k == "proportion" else None for k in kinds],
        }
    )
    return Panel(
        organisation_id=np.tile(np.arange(orgs, dtype=np.int64), indicators),
        indicator_id=indicator_index.astype(np.int64),
        indicator_index=indicator_index.astype(np.int64),
        n_points=np.full(n, months, dtype=np.int64),
        value=value,
        numerator=numerator,
        denominator=denominator,
        expected=expected,
        standard_error=np.broadcast_to(np.nan, (n, months)),  # no standard errors: one NaN, not n x months
        period=np.broadcast_to(period, (n, months)),  # one period axis shared by every series: no copy
        indicators=frame,
        fingerprint=np.zeros(n, dtype=np.int64),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orgs", type=int, default=50_000)
    parser.add_argument("--indicators", type=int, default=20)
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--sample", type=int, default=200, help="series timed one at a time (0: none)")
    args = parser.parse_args()
    observations = args.orgs * args.indicators * args.months
    # Long-form raw panel: org (int32), indicator (int16), period (int16), numerator, denominator (float64).
    raw_mb = observations * (4 + 2 + 2 + 8 + 8) / 2**20
    before = peak_mb()
    panel = make_panel(args.orgs, args.indicators, args.months)
    built = peak_mb()
    options = ScanOptions()
    start, cpu_start = time.perf_counter(), time.process_time()
    result = compute_surveillance(panel, options)
    seconds = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    peak = peak_mb()
    print(
        f"panel: {args.orgs:,} organisations x {args.indicators} indicators x {args.months} months = {observations:,} observations"
    )
    print(f"whole scan (SPC, funnels + FDR, CUSUM, rank intervals): {seconds:.2f} s wall, {cpu:.2f} s CPU")
    print(f"observations per second: {observations / seconds:,.0f}")
    print(
        f"peak memory: {peak:,.0f} MB (interpreter and libraries {before:,.0f} MB; with the panel built {built:,.0f} MB)"
    )
    print(
        f"raw long-form panel: {raw_mb:,.0f} MB; peak / raw = {peak / raw_mb:.2f}; "
        f"scan's own peak (peak - libraries) / raw = {(peak - before) / raw_mb:.2f}"
    )
    print(
        f"signals: {result.signals.height:,}; funnel flags after FDR: {result.summary.get('funnel_flags_after_fdr')}"
    )

    if args.sample <= 0:
        return
    # Forewarn's own SPC and CUSUM functions called one series at a time: the cost of not vectorising.
    from forewarn.stats.cusum import risk_adjusted_cusum
    from forewarn.stats.spc import SpcOptions, xmr_chart

    rows = np.random.default_rng(2).choice(panel.n_series, args.sample, replace=False)
    start = time.perf_counter()
    for s in rows:
        xmr_chart(panel.value[s : s + 1], SpcOptions())
        risk_adjusted_cusum(panel.numerator[s], panel.denominator[s] * 0.2, 5.0)
    per_series = (time.perf_counter() - start) / args.sample
    loop_seconds = per_series * panel.n_series
    print(
        f"Forewarn's functions one series at a time (SPC + CUSUM only, {args.sample} sampled; not a peer): {per_series * 1e3:.2f} ms per series, "
        f"{loop_seconds:,.0f} s extrapolated to {panel.n_series:,} series; ratio {loop_seconds / seconds:,.0f}x"
    )


if __name__ == "__main__":
    main()
