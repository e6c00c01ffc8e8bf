"""Benchmark: simulate 50,000 organisations x 20 indicators x 36 months (36M indicator rows) streamed to Parquet.

Prints rows per second and peak memory (ru_maxrss). Run: ``.venv/bin/python bench/simulate_bench.py [--orgs N]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from forewarn.simulate import SimulationParameters, simulate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--orgs", type=int, default=50_000)
    parser.add_argument("--years", type=int, default=3)
    parser.add_argument("--seed", type=int, default=20240501)
    parser.add_argument("--format", choices=("parquet", "csv"), default="parquet")
    parser.add_argument(
        "--out", type=Path, default=None, help="keep the output here (default: a temporary folder)"
    )
    args = parser.parse_args()
    params = SimulationParameters(n_organisations=args.orgs, n_years=args.years, seed=args.seed)
    with tempfile.TemporaryDirectory(prefix="forewarn-sim-bench-") as tmp:
        out = args.out or Path(tmp)
        started = time.perf_counter()
        summary = simulate(out, params, file_format=args.format)
        seconds = time.perf_counter() - started
        size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    usage = resource.getrusage(resource.RUSAGE_SELF)
    # ru_maxrss is in kilobytes on Linux and in bytes on macOS.
    peak = usage.ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)
    cpu = usage.ru_utime + usage.ru_stime
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    shape = (
        f"{summary.organisations:,} organisations x {summary.indicators} indicators x {summary.months} months"
    )
    print(f"simulate: {shape}")
    print(f"  indicator rows     {summary.indicator_rows:,}")
    print(
        f"  survey responses   {summary.survey_responses:,} in {summary.survey_groups:,} groups "
        f"({summary.small_survey_groups:,} smaller than 5)"
    )
    print(f"  events             {sum(summary.events.values()):,}")
    print(f"  wall time          {seconds:.1f} s")
    print(f"  rows per second    {summary.indicator_rows / seconds:,.0f}")
    print(
        f"  cpu time           {cpu:.1f} s (user + system, all threads; {os.cpu_count()} CPUs, load {load:.1f})"
    )
    print(f"  peak memory        {peak:,.0f} MiB (ru_maxrss)")
    print(f"  output size        {size / 1e6:,.0f} MB ({args.format})")


if __name__ == "__main__":
    main()
