"""How often the stepped-wedge interval covers the true effect when the errors are autocorrelated (issue 15).

Hussey & Hughes' (2007) model assumes exchangeable correlation within a cluster (a random intercept, independent
errors). Here the errors within each cluster follow a stationary AR(1) over the periods (``e_t = rho e_{t-1} + u``,
marginal SD ``sigma``), on top of the random intercept, and the analysis
(:func:`forewarn.stats.experiments.stepped_wedge.hussey_hughes`) is run on each simulated trial with the
model-based interval (``variance="model"``: GLS at the REML components, normal) and the cluster-robust one
(``variance="robust"``: the Mancl-DeRouen sandwich, t on G-1 df). Prints the coverage of the 95% intervals, their
mean width, the Monte Carlo SE of a coverage (sqrt(p(1-p)/R)), the CPU seconds and the load average.

Run: ``.venv/bin/python bench/stepped_wedge_coverage.py [--replicates 500] [--rhos 0 0.5 0.8 0.95]``.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from forewarn.stats.experiments.power import stepped_wedge_design
from forewarn.stats.experiments.stepped_wedge import hussey_hughes

THETA, TAU, SIGMA = 1.0, 1.0, 1.0


def trial(
    rng: np.random.Generator, design: np.ndarray, rho: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One trial: period trend, the effect from each crossover, a random intercept and AR(1) errors."""
    n_clusters, n_periods = design.shape
    innovations = rng.normal(0.0, SIGMA * np.sqrt(1 - rho**2), design.shape)
    errors = np.empty(design.shape)
    errors[:, 0] = rng.normal(0.0, SIGMA, n_clusters)  # stationary start
    for t in range(1, n_periods):  # over periods, all clusters at once
        errors[:, t] = rho * errors[:, t - 1] + innovations[:, t]
    y = (
        10.0
        + 0.1 * np.arange(n_periods)[None, :]
        + THETA * design
        + rng.normal(0, TAU, (n_clusters, 1))
        + errors
    )
    cluster = np.repeat(np.arange(n_clusters), n_periods)
    period = np.tile(np.arange(n_periods), n_clusters)
    return y.ravel(), cluster, period, design.ravel()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=500)
    parser.add_argument("--rhos", type=float, nargs="+", default=[0.0, 0.5, 0.8, 0.95])
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    designs = {
        "12 clusters, 4 steps, 5 periods": stepped_wedge_design([3, 3, 3, 3]),
        "24 clusters, 4 steps, 25 periods": np.repeat(stepped_wedge_design([6, 6, 6, 6]), 5, axis=1),
    }
    print(f"load average before: {os.getloadavg()}")
    print(f"R = {args.replicates} replicates; theta = {THETA}, tau = {TAU}, sigma = {SIGMA}; 95% intervals")
    print("| design | rho | model coverage | robust coverage | model width | robust width | CPU s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, design in designs.items():
        for rho in args.rhos:
            rng = np.random.default_rng([args.seed, int(rho * 1000), design.size])
            cpu = time.process_time()
            covered = {"model": 0, "robust": 0}
            width = {"model": 0.0, "robust": 0.0}
            for _ in range(args.replicates):
                y, cluster, period, treated = trial(rng, design, rho)
                fit = hussey_hughes(y, cluster, period, treated)
                z = 1.959963984540054
                model = (fit.estimate - z * fit.model_std_error, fit.estimate + z * fit.model_std_error)
                for kind, (low, high) in (("model", model), ("robust", (fit.ci_low, fit.ci_high))):
                    covered[kind] += low <= THETA <= high
                    width[kind] += (high - low) / args.replicates
            cpu = time.process_time() - cpu
            r = args.replicates
            print(
                f"| {name} | {rho:g} | {covered['model'] / r:.3f} | {covered['robust'] / r:.3f} "
                f"| {width['model']:.3f} | {width['robust']:.3f} | {cpu:.1f} |",
                flush=True,
            )
    print(f"Monte Carlo SE of a coverage near 0.95: {np.sqrt(0.95 * 0.05 / args.replicates):.3f}")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
