"""Benchmark: 1,000,000 survey responses x 32 items over 10,000 organisations, scored and aggregated.

Simulated answers to the built-in instrument (8 dimensions x 4 items, one reversed in each, 5-point scale, 2% of
answers missing; each organisation has its own level on each dimension, so ICC(1) is around 0.1). Times, then
measures the peak memory of, each stage through :mod:`forewarn.stats.psychometrics`, and the whole results
service (:func:`forewarn.surveys.results.analyse_groups`: suppression, aggregation report with random-group
resampling, reliability of every dimension, one result per organisation x dimension).

Run: ``.venv/bin/python bench/psychometrics_bench.py [--respondents N] [--organisations G] [--resamples R]``
(default 20 resamples). Resampling draws R random pseudo-groups per distinct organisation size, so its cost grows
with R x the largest organisation, not R x respondents; two more lines time the service default (200 resamples):
the aggregation report alone (scoring included) and the whole results service, both exactly as the service calls
them.
"""

from __future__ import annotations

import argparse
import gc
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np

from forewarn.stats.psychometrics import (
    AggregationOptions,
    RandomGroupOptions,
    ReliabilityOptions,
    aggregation_report,
    reverse_key,
    scale_reliability,
    score_scales,
)
from forewarn.surveys.instrument import resolve_instrument
from forewarn.surveys.privacy import DisclosureControl
from forewarn.surveys.results import DEFAULT_RESAMPLES, ScaleLayout, analyse_groups


def simulate(
    n_respondents: int, n_groups: int, layout: ScaleLayout, seed: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    groups = np.sort(rng.integers(0, n_groups, n_respondents))
    n_dims = len(layout.dimension_codes)
    level = rng.normal(0.0, 0.35, (n_groups, n_dims)).astype(np.float32)
    person = rng.normal(0.0, 0.8, (n_respondents, n_dims)).astype(np.float32)
    dim = np.asarray(layout.item_dimension)
    latent = (
        3.4
        + level[groups][:, dim]
        + person[:, dim]
        + rng.normal(0.0, 0.6, (n_respondents, dim.size)).astype(np.float32)
    )
    answers = np.clip(np.rint(latent), 1, 5)
    reverse = np.asarray(layout.reverse_keyed)
    answers[:, reverse] = 6.0 - answers[:, reverse]
    answers = answers.astype(np.float64)
    answers[rng.random(answers.shape) < 0.02] = np.nan
    return answers, groups.astype(np.int64)


def measure(name: str, work: Callable[[], Any]) -> Any:
    gc.collect()
    start = time.perf_counter()
    result = work()
    seconds = time.perf_counter() - start
    del result
    gc.collect()
    tracemalloc.start()
    result = work()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"{name:<58} {seconds:8.2f} s   peak {peak / 2**20:8.0f} MiB", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--respondents", type=int, default=1_000_000)
    parser.add_argument("--organisations", type=int, default=10_000)
    parser.add_argument("--resamples", type=int, default=20)
    args = parser.parse_args()

    layout = ScaleLayout.from_instrument(resolve_instrument("forewarn_lc"))
    spec = layout.spec()
    answers, groups = simulate(args.respondents, args.organisations, layout)
    print(
        f"{answers.shape[0]:,} responses x {answers.shape[1]} items over {args.organisations:,} organisations "
        f"(input {answers.nbytes / 2**20:.0f} MiB); {args.resamples} random-group resamples"
    )
    measure("score_scales (reverse keys, min answers)", lambda: score_scales(answers, spec))
    measure(
        "aggregation_report, no resampling",
        lambda: aggregation_report(
            answers, spec, groups, args.organisations, AggregationOptions(resampling=RandomGroupOptions(0))
        ),
    )
    measure(
        f"aggregation_report, {args.resamples} resamples",
        lambda: aggregation_report(
            answers,
            spec,
            groups,
            args.organisations,
            AggregationOptions(resampling=RandomGroupOptions(args.resamples)),
        ),
    )
    measure(
        f"aggregation_report, service default ({DEFAULT_RESAMPLES} resamples)",
        lambda: aggregation_report(
            answers,
            spec,
            groups,
            args.organisations,
            AggregationOptions(resampling=RandomGroupOptions(DEFAULT_RESAMPLES)),
        ),
    )
    keyed = reverse_key(answers, layout.reverse_keyed, 1.0, 5.0)
    dims = np.asarray(layout.item_dimension)
    measure(
        "scale_reliability x 8 (alpha, Feldt CI, omega, item stats)",
        lambda: [
            scale_reliability(keyed[:, dims == d], options=ReliabilityOptions())
            for d in range(dims.max() + 1)
        ],
    )
    labels = [f"ORG{g:05d}" for g in range(args.organisations)]
    result = measure(
        f"results service analyse_groups ({args.resamples} resamples)",
        lambda: analyse_groups(
            answers, groups, labels, layout, DisclosureControl(5), n_resamples=args.resamples
        ),
    )
    aggregated = sum(c.verdict == "aggregate" for c in result.cells)
    print(f"{len(result.cells):,} organisation x dimension results, {aggregated:,} judged fit to aggregate")
    result = measure(
        f"analyse_groups, service default ({DEFAULT_RESAMPLES} resamples)",
        lambda: analyse_groups(answers, groups, labels, layout, DisclosureControl(5)),
    )
    aggregated = sum(c.verdict == "aggregate" for c in result.cells)
    print(f"{len(result.cells):,} organisation x dimension results, {aggregated:,} judged fit to aggregate")


if __name__ == "__main__":
    main()
