"""Benchmark: the risk model's rolling-origin backtest as the user runs it, on a simulated region in SQLite.

The region is simulated by the project's simulator (``forewarn.simulate``) and loaded as ``forewarn simulate
--load`` and the demo load it (organisations, indicators and events through the importer; one closed staff-survey
wave a year through the surveys service, dated in its fieldwork month). The store is kept under ``--keep`` (default
``/tmp/forewarn-riskbench``), one folder per size and seed, and reused by later runs: loading takes far longer than
the backtest at large sizes. The store is built in a process of its own: a child started by a process that has
grown large reports that process's peak as its own (Linux records the old address space's high-water mark at
``exec``, and ``subprocess`` starts children with ``vfork``), so a backtest timed in the process that had just
built a 5,000-organisation store reported 5.7 GB instead of its own 0.9 GB.

Then ``forewarn risk backtest --outcome inspection:inadequate --new-only --horizon 12 --step STEP --to DATE --json``
runs as a child process (what the user runs: the history read from the store, the as-of features at every origin,
the model fits at the test origins, the baselines, the soft-measures refit and the bootstrap intervals). ``--to`` is
set so that the backtest has ``--origins`` origins in all (default 8, a year apart); as in the CLI the test origins
are the second half. The wall time, the CPU time (user + system) and the peak RSS of the child come from ``wait4``
(the CPU time includes the child's own pool workers: they are its children, and are waited for); with
``--scheduler pool:N`` the backtest scans in a pool of N worker processes, and the peak of all its processes
together (the RSS of the child and every descendant summed, sampled every 0.1 s) is printed beside the child's own.

Run: .venv/bin/python bench/risk_bench.py [--orgs 2000] [--years 10] [--origins 8] [--step 12] [--keep DIR]
[--save-json FILE] [--compare FILE] [--scheduler pool:2] [--build-only]. The issue's size: --orgs 50000 --years 10. ``--compare`` prints how many of
the backtest JSON's values differ from an earlier run's ``--save-json`` (on the same store: a change of the code
should move none, or say why) and the largest difference between two numbers.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import multiprocessing
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from forewarn.demo import load_simulated_surveys
from forewarn.ingest.limits import Limits
from forewarn.settings import Settings
from forewarn.simulate import SimulationParameters, load, simulate
from forewarn.store import migrate
from forewarn.store.database import make_engine

FOREWARN = Path(sys.executable).with_name("forewarn")
LOADED = "loaded.json"  # written last: a folder without it holds a partial load and is rebuilt


def add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def populate(folder: Path, orgs: int, years: int, seed: int) -> dict[str, float]:
    """Simulate and load the region into ``folder/store.db`` unless a complete earlier load is there."""
    marker = folder / LOADED
    if marker.exists():
        return dict(json.loads(marker.read_text()), reused=1.0)
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("store.db*"):
        stale.unlink()
    # The importer refuses periods far in the future: the simulated years end with the last full year.
    start_year = dt.date.today().year - years
    params = SimulationParameters(n_organisations=orgs, n_years=years, seed=seed, start_year=start_year)
    started = time.perf_counter()
    summary = simulate(folder / "simulated", params, file_format="parquet")
    simulated = time.perf_counter() - started
    engine = make_engine(f"sqlite:///{folder / 'store.db'}")
    migrate.upgrade(engine)
    started = time.perf_counter()
    settings = Settings()
    load(engine, folder / "simulated", imported_by="bench", limits=Limits.from_settings(settings))
    loaded = time.perf_counter() - started
    started = time.perf_counter()
    load_simulated_surveys(engine, folder / "simulated", "bench", 10, min_group_size=settings.min_group_size)
    surveys = time.perf_counter() - started
    engine.dispose()
    figures = {
        "simulate_seconds": simulated,
        "load_seconds": loaded,
        "surveys_seconds": surveys,
        "indicator_rows": float(summary.indicator_rows),
        "survey_responses": float(summary.survey_responses),
        "start_year": float(params.start_year),
    }
    marker.write_text(json.dumps(figures))
    return figures


def populate_apart(folder: Path, orgs: int, years: int, seed: int) -> dict[str, float]:
    """:func:`populate` in a process of its own (spawned), so that this process stays small (module docstring)."""
    if not (folder / LOADED).exists():
        child = multiprocessing.get_context("spawn").Process(
            target=populate, args=(folder, orgs, years, seed)
        )
        child.start()
        child.join()
        if child.exitcode != 0:
            raise SystemExit(f"building the store failed (exit code {child.exitcode})")
        figures = json.loads((folder / LOADED).read_text())
        return dict(figures, reused=0.0)
    return populate(folder, orgs, years, seed)


def tree_peak(pid: int, done: threading.Event, peak: list[float]) -> None:
    """Sample the summed RSS (MB) of ``pid`` and all its descendants every 0.1 s until ``done``; the largest
    sum goes to ``peak[0]`` (the pool workers' memory is theirs, not the child's, in ``wait4``'s peak)."""
    import psutil

    try:
        root = psutil.Process(pid)
    except psutil.NoSuchProcess:
        return
    while not done.is_set():
        total = 0
        try:
            processes = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            break
        for process in processes:
            with contextlib.suppress(psutil.NoSuchProcess):
                total += process.memory_info().rss
        peak[0] = max(peak[0], total / 2**20)
        done.wait(0.1)


def run_backtest(
    url: str, arguments: list[str], scheduler: str | None = None
) -> tuple[float, float, float, float, dict[str, object]]:
    """The backtest as a child process: (wall seconds, CPU seconds, peak RSS MB of the child, peak MB of the child
    and its descendants together, its JSON)."""
    env = {**os.environ, "FOREWARN_DATABASE_URL": url}
    if scheduler:
        env["FOREWARN_SCHEDULER"] = scheduler
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        child = subprocess.Popen(
            [str(FOREWARN), "risk", "backtest", *arguments], env=env, stdout=out, stderr=err
        )
        done, peak = threading.Event(), [0.0]
        sampler = threading.Thread(target=tree_peak, args=(child.pid, done, peak), daemon=True)
        sampler.start()
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        done.set()
        sampler.join()
        if os.waitstatus_to_exitcode(status) != 0:
            err.seek(0)
            raise SystemExit(f"forewarn risk backtest failed:\n{err.read().decode()}")
        out.seek(0)
        text = out.read().decode()
    # --json prints the JSON document first, then the human summary: keep the document.
    payload, _ = json.JSONDecoder().raw_decode(text)
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, peak[0], payload


def differences(before: object, after: object, path: str = "") -> list[tuple[str, float]]:
    """Every value that differs between two JSON documents, with the absolute difference of numbers (inf for
    anything else that differs)."""
    if isinstance(before, dict) and isinstance(after, dict):
        return [
            d
            for key in sorted(set(before) | set(after))
            for d in differences(before.get(key), after.get(key), f"{path}/{key}")
        ]
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        return [
            d
            for i, (b, a) in enumerate(zip(before, after, strict=True))
            for d in differences(b, a, f"{path}[{i}]")
        ]
    if before == after:
        return []
    numbers = (int, float)
    if isinstance(before, numbers) and isinstance(after, numbers):
        return [(path, abs(float(before) - float(after)))]
    return [(path, float("inf"))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orgs", type=int, default=2000)
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--origins", type=int, default=8, help="origins in all (training and test)")
    parser.add_argument("--step", type=int, default=12, help="months between origins")
    parser.add_argument("--horizon", type=int, default=12)
    parser.add_argument("--keep", type=Path, default=Path("/tmp/forewarn-riskbench"), help="stores kept here")
    parser.add_argument("--save-json", type=Path, help="write the backtest's JSON here (to compare runs)")
    parser.add_argument("--compare", type=Path, help="an earlier run's --save-json: say what differs")
    parser.add_argument(
        "--scheduler", help="FOREWARN_SCHEDULER for the backtest, e.g. pool:2 (default: as set)"
    )
    parser.add_argument("--build-only", action="store_true", help="build (or find) the store, run nothing")
    args = parser.parse_args()
    # The simulation is one file per kind: 50,000 organisations x 10 years is 120M indicator rows in one import.
    os.environ.setdefault("FOREWARN_IMPORT_MAX_ROWS", str(args.orgs * args.years * 12 * 40 + 1))
    folder = args.keep / f"{args.orgs}x{args.years}y-seed{args.seed}"
    before = os.getloadavg()
    figures = populate_apart(folder, args.orgs, args.years, args.seed)
    first = dt.date(int(figures["start_year"]), 1, 1)
    # Origins start a year after the first data (forewarn.risk.backtest.default_origins); --to ends them.
    last = add_months(first, 12 + args.step * (args.origins - 1))
    arguments = [
        "--outcome", "inspection:inadequate", "--new-only", "--horizon", str(args.horizon),
        "--step", str(args.step), "--to", last.isoformat(), "--json",
    ]  # fmt: skip
    how = "reused" if figures.get("reused") else "built"
    print(
        f"risk bench: {args.orgs:,} organisations x {args.years} years monthly (seed {args.seed}), store {how} "
        f"at {folder}: {figures['indicator_rows']:,.0f} indicator rows, {figures['survey_responses']:,.0f} "
        f"survey responses; simulated in {figures['simulate_seconds']:,.1f} s, loaded in "
        f"{figures['load_seconds']:,.1f} s, surveys in {figures['surveys_seconds']:,.1f} s",
        flush=True,
    )
    if args.build_only:
        return
    print(f"  forewarn risk backtest {' '.join(arguments)}", flush=True)
    scheduler = args.scheduler or os.environ.get("FOREWARN_SCHEDULER")
    wall, cpu, peak, tree, payload = run_backtest(f"sqlite:///{folder / 'store.db'}", arguments, scheduler)
    after = os.getloadavg()
    if args.save_json:
        args.save_json.write_text(json.dumps(payload, indent=1, sort_keys=True))
    print(
        f"  wall {wall:,.1f} s  cpu {cpu:,.1f} s  peak RSS {peak:,.0f} MB (all processes {tree:,.0f} MB; "
        f"scheduler {scheduler or 'none'})  "
        f"({len(payload['test_origins'])} test origins of {args.origins}, {payload['n_cases']:,} cases, "  # type: ignore[arg-type]
        f"{payload['n_events']:,} events; AUC {payload['auc']:.3f})",
        flush=True,
    )
    if args.compare:
        moved = differences(json.loads(args.compare.read_text()), json.loads(json.dumps(payload)))
        largest = max(moved, key=lambda d: d[1]) if moved else None
        print(
            f"  against {args.compare}: {len(moved)} values differ"
            + (f", the largest by {largest[1]:.3g} ({largest[0]})" if largest else " (identical)"),
            flush=True,
        )
    print(
        f"  machine: {os.cpu_count()} CPUs, load average {before[0]:.2f} before and {after[0]:.2f} after "
        f"(1 min), {after[1]:.2f} (5 min)",
        flush=True,
    )


if __name__ == "__main__":
    main()
