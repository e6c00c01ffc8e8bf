"""What issue 14's web additions cost on a populated store: the board report as the command line writes it (a
process), the follow-up flags the watchlists keep per data version, and the CSV of the whole portfolio.

1. Simulates a region and loads it into a SQLite store (kept under ``--keep``, reused by later runs), scans it
   (``forewarn scan``, a process), and opens ``--cases`` cases on organisations the simulator intervened on, each
   with its first intervention recorded and withdrawn as the simulator did.
2. ``forewarn report org CODE --pdf FILE`` as a process: wall and CPU seconds (user + sys of the child).
3. ``follow_up_flags``: every case's follow-up, what the first portfolio or watchlist request after a data change
   pays (then kept); wall and CPU seconds of this process.
4. The portfolio's CSV: every organisation's row through the view and ``Table.csv``.

Run: .venv/bin/python bench/cases_web_bench.py [--orgs 500] [--years 4] [--seed 5] [--cases 20] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import select

from forewarn.access.policy import ALL_ORGANISATIONS
from forewarn.cases import interventions, service
from forewarn.simulate import SimulationParameters, load, simulate
from forewarn.store import migrate
from forewarn.store.database import make_engine
from forewarn.store.models import Event, Organisation
from forewarn.views.follow_up import follow_up_flags
from forewarn.views.portfolio import PortfolioFilters, portfolio
from forewarn.views.tables import portfolio_table

FORWARN = Path(sys.executable).with_name("forewarn")


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _run(args: list[str], env: dict[str, str]) -> dict[str, float]:
    wall, cpu = time.perf_counter(), _cpu(resource.RUSAGE_CHILDREN)
    subprocess.run([str(FORWARN), *args], env=env, check=True, capture_output=True)
    return {
        "wall_s": round(time.perf_counter() - wall, 2),
        "cpu_s": round(_cpu(resource.RUSAGE_CHILDREN) - cpu, 2),
    }


def _timed(what: object) -> tuple[object, dict[str, float]]:
    wall, cpu = time.perf_counter(), _cpu(resource.RUSAGE_SELF)
    result = what()  # type: ignore[operator]
    return result, {
        "wall_s": round(time.perf_counter() - wall, 3),
        "cpu_s": round(_cpu(resource.RUSAGE_SELF) - cpu, 3),
    }


def populate(folder: Path, orgs: int, years: int, seed: int, cases: int, env: dict[str, str]) -> None:
    marker = folder / "loaded.json"
    if marker.exists():
        return
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("store.db*"):
        old.unlink()
    simulate(folder / "sim", SimulationParameters(n_organisations=orgs, n_years=years, seed=seed))
    engine = make_engine(env["FOREWARN_DATABASE_URL"])
    migrate.upgrade(engine)
    load(engine, folder / "sim")
    with engine.begin() as conn:
        starts = conn.execute(
            select(Organisation.code, Event.date, Event.organisation_id)
            .join(Organisation, Organisation.id == Event.organisation_id)
            .where(Event.kind == "intervention_start")
            .order_by(Event.organisation_id, Event.date)
        ).all()
        done: set[int] = set()
        for code, start, organisation_id in starts:
            if organisation_id in done or len(done) >= cases:
                continue
            end = conn.execute(
                select(Event.date).where(
                    Event.organisation_id == organisation_id,
                    Event.kind == "intervention_end",
                    Event.date > start,
                )
            ).scalar()
            if end is None:
                continue
            case_id = service.open_case(
                conn, code, support="development", owner="bench", concern="bench", actor="bench", pull=False
            )
            interventions.start_intervention(
                conn, case_id, start=start, indicators=["sim_timely_care", "sim_incident_rate"], actor="bench"
            )
            interventions.end_intervention(conn, case_id, end=end, actor="bench")
            done.add(organisation_id)
    engine.dispose()
    _run(["scan"], env)
    marker.write_text(json.dumps({"orgs": orgs, "years": years, "seed": seed, "cases": len(done)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orgs", type=int, default=500)
    parser.add_argument("--years", type=int, default=4)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--cases", type=int, default=20)
    parser.add_argument("--keep", type=Path, default=Path(tempfile.gettempdir()) / "forewarn-casesbench")
    args = parser.parse_args()
    folder = args.keep / f"orgs{args.orgs}-years{args.years}-seed{args.seed}-cases{args.cases}"
    env = {
        **os.environ,
        "FOREWARN_DATABASE_URL": f"sqlite:///{folder / 'store.db'}",
        "FOREWARN_DATA_DIR": str(folder / "var"),
    }
    populate(folder, args.orgs, args.years, args.seed, args.cases, env)
    results: dict[str, object] = json.loads((folder / "loaded.json").read_text())
    engine = make_engine(env["FOREWARN_DATABASE_URL"])
    with engine.connect() as conn:
        code = conn.execute(
            select(Organisation.code).join(Event, Event.organisation_id == Organisation.id).limit(1)
        ).scalar_one()
        flags, results["follow_up_flags"] = _timed(lambda: follow_up_flags(conn))
        results["relapses_flagged"] = len(flags)  # type: ignore[arg-type]
        whole, results["portfolio_view"] = _timed(
            lambda: portfolio(conn, ALL_ORGANISATIONS, PortfolioFilters(), may_filter=True, page_size=10**6)
        )
        text, results["portfolio_csv"] = _timed(lambda: portfolio_table(whole.page).csv())  # type: ignore[attr-defined]
        results["portfolio_csv_bytes"] = len(text)  # type: ignore[arg-type]
    engine.dispose()
    results["report_org_pdf"] = _run(["report", "org", code, "--pdf", str(folder / "board.pdf")], env)
    results["load_average"] = [round(x, 1) for x in os.getloadavg()]
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
