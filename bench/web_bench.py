"""Web benchmark: portfolio and organisation pages under 20 concurrent clients, on PostgreSQL.

Loads 10,000 organisations x 20 indicators x 36 months (7.2 million observations, by COPY) into a PostgreSQL
database it creates (and drops at the end), runs the surveillance scan, serves the app with uvicorn on loopback
in its own process, and measures latency with a lean HTTP/1.1 generator in a process of its own
(`http_load.py`): 20 keep-alive clients in parallel, a fixed number of requests each. Prints p50/p95/p99 per
page, throughput, and the CPU each request cost the server's processes, PostgreSQL's backends and the generator
(read from the processes over the same interval), so queueing on the shared cores can be told from work.

    .venv/bin/python bench/web_bench.py [--organisations 10000] [--requests 600] [--workers 2] [--keep NAME]

Needs PostgreSQL at FOREWARN_BENCH_POSTGRES_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/postgres).
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import random
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import http_load
import httpx
import numpy as np
import polars as pl
import psutil
from sqlalchemy import create_engine, insert, text

from forewarn.access.policy import grant_peers
from forewarn.accounts.passwords import Argon2Parameters, Passwords
from forewarn.accounts.sessions import SessionPolicy, start_session
from forewarn.accounts.users import create_user
from forewarn.store import migrate
from forewarn.store.database import make_engine
from forewarn.store.models import Dataset, ImportBatch, Indicator, Organisation
from forewarn.store.models_risk import RiskModel, RiskScore
from forewarn.store.models_web import Role

ADMIN_URL = os.environ.get(
    "FOREWARN_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
CONCURRENCY = 20
HEALTHCHECK_SECONDS = 60
MONTHS = 36
INDICATORS = 20


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def timed(label: str, work: Callable[[], object]) -> object:
    start = time.perf_counter()
    result = work()
    say(f"{label}: {time.perf_counter() - start:.1f} s")
    return result


def load(url: str, n_orgs: int) -> tuple[list[int], int, int]:
    """Organisations, indicators and observations by COPY; returns organisation ids, analyst and member ids."""
    engine = make_engine(url)
    migrate.upgrade(engine)
    rng = np.random.default_rng(20260101)
    now = dt.datetime.now(dt.UTC)
    periods = [dt.date(2016 + m // 12, m % 12 + 1, 1) for m in range(MONTHS)]
    ends = [(p.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1) for p in periods]
    regions = [f"Region {i}" for i in range(9)]
    kinds = ["Acute trust", "Community trust", "Mental health trust", "Ambulance trust"]
    with engine.begin() as conn:
        dataset = conn.execute(
            insert(Dataset)
            .values(code="bench", name="Benchmark population", simulated=True)
            .returning(Dataset.id)
        ).scalar_one()
        batch = conn.execute(
            insert(ImportBatch)
            .values(
                source_name="bench",
                checksum="0" * 64,
                mapping_checksum="0" * 64,
                dataset_id=dataset,
                imported_by="bench",
                started_at=now,
                finished_at=now,
            )
            .returning(ImportBatch.id)
        ).scalar_one()
        conn.execute(
            insert(Organisation),
            [
                {
                    "code": f"B{i:05d}",
                    "name": f"Benchmark organisation {i:05d}",
                    "type": kinds[i % 4],
                    "region": regions[i % 9],
                    "dataset_id": dataset,
                }
                for i in range(n_orgs)
            ],
        )
        org_ids = [int(i) for i in conn.execute(text("SELECT id FROM organisations ORDER BY id")).scalars()]
        indicator_ids = []
        for k in range(INDICATORS):
            kind = ("proportion", "rate", "mean", "count")[k % 4]
            indicator_ids.append(
                conn.execute(
                    insert(Indicator)
                    .values(
                        code=f"ind_{k:02d}",
                        name=f"Benchmark indicator {k:02d} ({kind})",
                        kind=kind,
                        polarity=("higher_is_better", "lower_is_better", "neutral")[k % 3],
                        target=0.9 if kind == "proportion" else None,
                        multiplier=1000.0 if kind == "rate" else 1.0,
                        dataset_id=dataset,
                        unit=kind,
                    )
                    .returning(Indicator.id)
                ).scalar_one()
            )
        raw = conn.connection.driver_connection
        columns = "organisation_id, indicator_id, period_start, period_end, numerator, denominator, value, batch_id, revision"
        with raw.cursor() as cursor:  # type: ignore[union-attr]
            for k, indicator_id in enumerate(indicator_ids):
                kind = ("proportion", "rate", "mean", "count")[k % 4]
                size = rng.integers(500, 20000, n_orgs).astype(float)
                level = rng.normal(0.85, 0.04, n_orgs).clip(0.3, 0.99)
                frames = []
                for t in range(MONTHS):
                    denominator = np.round(size * rng.uniform(0.9, 1.1, n_orgs))
                    if kind == "proportion":
                        numerator = rng.binomial(denominator.astype(np.int64), level).astype(float)
                        value = numerator / denominator
                    elif kind == "rate":
                        numerator = rng.poisson(denominator * 0.004).astype(float)
                        value = numerator / denominator * 1000
                    elif kind == "mean":
                        numerator = np.full(n_orgs, np.nan)
                        value = rng.normal(50 + 10 * level, 3)
                    else:
                        numerator = rng.poisson(size / 100).astype(float)
                        value = numerator
                    frames.append(
                        pl.DataFrame(
                            {
                                "organisation_id": org_ids,
                                "indicator_id": indicator_id,
                                "period_start": periods[t],
                                "period_end": ends[t],
                                "numerator": numerator,
                                "denominator": None if kind in ("mean", "count") else denominator,
                                "value": value,
                                "batch_id": batch,
                                "revision": 1,
                            }
                        ).with_columns(pl.col("numerator", "denominator").cast(pl.Float64).fill_nan(None))
                    )
                buffer = io.StringIO()
                pl.concat(frames).write_csv(buffer, separator="\t", null_value="\\N", include_header=False)
                with cursor.copy(f"COPY observations ({columns}) FROM STDIN") as copy:
                    copy.write(buffer.getvalue())
                say(f"  indicator {k + 1}/{INDICATORS} copied")
        passwords = Passwords(Argon2Parameters(time_cost=1, memory_cost=1024, parallelism=1))
        analyst = create_user(
            conn,
            passwords,
            email="analyst@bench.test",
            display_name="Analyst",
            password="bench analyst password",
            role=Role.ANALYST,
        )
        member = create_user(
            conn,
            passwords,
            email="member@bench.test",
            display_name="Member",
            password="bench member password",
            role=Role.MEMBER,
            organisation_id=org_ids[0],
        )
        grant_peers(conn, org_ids[0], org_ids[1:31], "bench")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")
    engine.dispose()
    return org_ids, analyst, member


SYNTHETIC_MODEL = "bench-synthetic"


def store_risk_scores(url: str, org_ids: list[int], share: float = 0.97) -> int:
    """Synthetic risk scores for ``share`` of the organisations (the portfolio is then the watchlist, ordered by
    calibrated risk, the rest "not scored"), as ``forewarn risk score`` stores them: one model, one date. Stored
    once per database; returns the scores stored (0 when already there)."""
    engine = make_engine(url)
    now = dt.datetime.now(dt.UTC)
    rng = np.random.default_rng(20261207)
    try:
        with engine.begin() as conn:
            if conn.execute(
                text("SELECT 1 FROM risk_models WHERE version = :v"), {"v": SYNTHETIC_MODEL}
            ).first():
                return 0
            model_id = conn.execute(
                insert(RiskModel)
                .values(
                    version=SYNTHETIC_MODEL,
                    kind="logistic",
                    outcome="inspection:inadequate",
                    new_only=True,
                    horizon_months=12,
                    step_months=6,
                    trained_as_of=dt.date(2018, 12, 1),
                    trained_at=now,
                    trained_by="bench",
                    features=["funnel_z_mean", "signal_count"],
                    medians=[0.0, 0.0],
                    indicator_features=[],
                    means=[0.0, 1.0],
                    scales=[1.0, 1.0],
                    coefficients=[0.8, 0.3],
                    intercept=-3.0,
                    refits=[],
                    calibration={},
                    training_origins=["2017-06-01", "2017-12-01"],
                    n_cases=10_000,
                    n_events=300,
                    datasets=None,
                    data_version="0" * 16,
                    code_version="bench",
                )
                .returning(RiskModel.id)
            ).scalar_one()
            chosen = [i for i in org_ids if rng.random() < share]
            logit = rng.normal(-3.0, 1.0, len(chosen))
            width = rng.uniform(0.1, 0.6, len(chosen))
            rows = [
                {
                    "model_id": model_id,
                    "organisation_id": organisation,
                    "as_of": dt.date(2018, 12, 1),
                    "probability": float(1 / (1 + np.exp(-z))),
                    "lower": float(1 / (1 + np.exp(-(z - w)))),
                    "upper": float(1 / (1 + np.exp(-(z + w)))),
                    "contributions": {"funnel_z_mean": float(z + 3.0), "signal_count": 0.1},
                    "reasons": ["its indicators sit on the side of concern on average (mean funnel z 1.2)"],
                    "scored_at": now,
                }
                for organisation, z, w in zip(chosen, logit, width, strict=True)
            ]
            conn.execute(insert(RiskScore), rows)
            return len(rows)
    finally:
        engine.dispose()


def existing(url: str) -> tuple[list[int], int, int]:
    """Organisation ids and the analyst's and member's user ids of a database kept by an earlier run."""
    engine = make_engine(url)
    migrate.upgrade(engine)
    with engine.connect() as conn:
        org_ids = [int(i) for i in conn.execute(text("SELECT id FROM organisations ORDER BY id")).scalars()]
        users: dict[str, int] = dict(conn.execute(text("SELECT email, id FROM users")).tuples().all())
    engine.dispose()
    return org_ids, int(users["analyst@bench.test"]), int(users["member@bench.test"])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(
    url: str, port: int, workers: int, data_dir: Path, server_src: str | None = None
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        **({"PYTHONPATH": server_src} if server_src else {}),
        "FOREWARN_DATABASE_URL": url,
        "FOREWARN_ENVIRONMENT": "test",
        "FOREWARN_SECRET_KEY": uuid.uuid4().hex * 2,
        "FOREWARN_DATA_DIR": str(data_dir),
        "FOREWARN_LOG_LEVEL": "WARNING",
    }
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "forewarn.web.server:_app_from_environment",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--no-access-log",
        # uvicorn kills a worker that does not answer its health ping within 5 s by default: on this shared
        # machine (load averages of 30 to 40 from other work) a worker busy building a kept read missed it and
        # was killed mid-request, its kept reads lost (docs/web.md, "The watchlist, continued").
        "--timeout-worker-healthcheck",
        str(HEALTHCHECK_SECONDS),
    ]
    return subprocess.Popen(command, env=env)


def wait_for(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 300  # a loaded machine imports the app slowly
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the server exited")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the server did not start")


def process_cpu(processes: list[psutil.Process]) -> dict[int, float]:
    """CPU seconds (user + system) so far of each process still alive, by pid."""
    seconds: dict[int, float] = {}
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        seconds[process.pid] = times.user + times.system
    return seconds


def server_processes(server: subprocess.Popen[bytes]) -> list[psutil.Process]:
    parent = psutil.Process(server.pid)
    return [parent, *parent.children(recursive=True)]


def database_processes(name: str) -> list[psutil.Process]:
    """PostgreSQL backends serving the bench database (their command line names it)."""
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        cmdline = " ".join(process.info.get("cmdline") or [])
        if process.info.get("name") == "postgres" and f" {name} " in f" {cmdline} ":
            found.append(process)
    return found


@dataclass(frozen=True)
class Row:
    latencies: list[float]
    server_cpu_ms: float
    database_cpu_ms: float
    generator_cpu_ms: float
    throughput: float


def measure(
    base: str,
    cookie: str,
    paths: list[str],
    server: subprocess.Popen[bytes],
    database: str,
    cookie_name: str = "forewarn_session",
    ok: tuple[int, ...] = (200,),
) -> Row:
    """Issue ``paths`` from CONCURRENCY clients at once (a separate generator process); time and cost them.

    CPU per request is read from the server's processes, the database's backends and the generator's own
    rusage over the same interval, so queueing can be told from work: on two shared cores, a closed loop of
    20 clients waits about 20 x (server + database + generator CPU) / 2 for each answer.
    """
    host, port = base.removeprefix("http://").split(":")
    watched = server_processes(server) + database_processes(database)
    before = process_cpu(watched)
    result = http_load.generate(host, int(port), f"{cookie_name}={cookie}", paths, CONCURRENCY, ok)
    after = process_cpu(watched)
    if result.failures:
        raise RuntimeError(f"{len(result.failures)} requests failed, e.g. {result.failures[:3]}")
    server_pids = {p.pid for p in server_processes(server)}
    used = {pid: after[pid] - before.get(pid, 0.0) for pid in after}
    n = len(paths)
    return Row(
        latencies=result.latencies_ms,
        server_cpu_ms=1000 * sum(v for pid, v in used.items() if pid in server_pids) / n,
        database_cpu_ms=1000 * sum(v for pid, v in used.items() if pid not in server_pids) / n,
        generator_cpu_ms=1000 * result.generator_cpu_s / n,
        throughput=n / result.wall_s,
    )


def summary(label: str, row: Row) -> str:
    ordered = sorted(row.latencies)

    def p(q: float) -> float:
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    return (
        f"{label:<44} n={len(ordered):>5}  p50={statistics.median(ordered):7.1f} ms  p95={p(0.95):7.1f} ms  "
        f"p99={p(0.99):7.1f} ms  max={ordered[-1]:7.1f} ms  {row.throughput:5.0f} req/s  CPU a request: "
        f"server {row.server_cpu_ms:5.1f} ms, database {row.database_cpu_ms:4.1f} ms, "
        f"generator {row.generator_cpu_ms:4.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--organisations", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=600, help="requests per page kind")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes (one per core here)")
    parser.add_argument("--no-scan", action="store_true")
    parser.add_argument(
        "--server-src",
        help="serve the app from this source folder (another checkout's src/) to compare versions on one database",
    )
    parser.add_argument(
        "--rows",
        default="all",
        help="comma-separated rows to measure: floor, portfolio, filtered, member, revisits, cold, json, svg "
        "(default all)",
    )
    parser.add_argument(
        "--risk-scores",
        action="store_true",
        help="store synthetic risk scores for 97%% of the organisations first (once per database), so that the "
        "analyst's portfolio is the watchlist ordered by calibrated risk",
    )
    parser.add_argument(
        "--keep",
        metavar="NAME",
        help="keep the loaded database under this name and reuse it on later runs (skips load and scan)",
    )
    args = parser.parse_args()

    name = args.keep or f"forewarn_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    data_dir = Path(f"/tmp/{name}")
    server: subprocess.Popen[bytes] | None = None
    reused = bool(exists) and args.keep is not None
    try:
        if reused:
            org_ids, analyst, member = existing(url)
            say(f"reusing database {name}: {len(org_ids):,} organisations (no load, no scan)")
        else:
            org_ids, analyst, member = timed("load", lambda: load(url, args.organisations))  # type: ignore[misc]
        if not args.no_scan and not reused:
            try:
                from forewarn.surveillance.scan import run_scan
            except ImportError:
                say("no surveillance scan available: pages show data without signals")
            else:
                result = timed("scan", lambda: run_scan(make_engine(url)))
                say(f"scan: {result.series_scanned} series, {result.signals_written} signals")  # type: ignore[attr-defined]
        if args.risk_scores:
            say(f"risk scores: {store_risk_scores(url, org_ids)} stored")
        engine = make_engine(url)
        with engine.begin() as conn:
            long = SessionPolicy(idle=dt.timedelta(days=1), absolute=dt.timedelta(days=2))
            analyst_cookie = start_session(conn, analyst, policy=long).token
            member_cookie = start_session(conn, member, policy=long).token
        engine.dispose()
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = start_server(url, port, args.workers, data_dir, args.server_src)
        wait_for(base, server)
        rng = random.Random(7)
        n = args.requests
        regions = [f"Region {i}" for i in range(9)]
        warm = measure(base, analyst_cookie, ["/portfolio"] * 4 * CONCURRENCY, server, name)
        say(f"warm-up (first portfolios of each worker): max {max(warm.latencies):.0f} ms")
        revisits = [f"/organisations/{org_ids[k % 100]}" for k in range(n)]
        # Fills each worker's kept pages: the kernel hands connections to either worker, so each of the 100 is
        # requested about 12 times (a page one worker has not seen yet is then about e^-6 likely), not 6 (e^-3:
        # a few first views, 200 ms of CPU each, then counted as revisits).
        measure(base, analyst_cookie, revisits * 4, server, name)
        # In this order: the revisits come before the cold pages, which would push them out of each worker's
        # kept pages.
        rows: list[tuple[str, str, str, list[str]]] = [
            # The framework's floor: a signed-in request answered with a redirect (session lookup, no page).
            ("floor", "floor: signed-in GET / (a redirect)", analyst_cookie, ["/"] * n),
            (
                "portfolio",
                "portfolio, analyst (10,000 orgs, page 1..200)",
                analyst_cookie,
                [f"/portfolio?page={rng.randint(1, 200)}" for _ in range(n)],
            ),
            (
                "filtered",
                "portfolio, analyst, filtered by region",
                analyst_cookie,
                [f"/portfolio?region={rng.choice(regions)}" for _ in range(n)],
            ),
            ("member", "portfolio, member (own + 30 peers)", member_cookie, ["/portfolio"] * n),
            ("revisits", "organisation page, revisits of 100 orgs (cached)", analyst_cookie, revisits),
            (
                "cold",
                "organisation page, analyst (20 SPC charts)",
                analyst_cookie,
                [f"/organisations/{rng.choice(org_ids)}" for _ in range(n)],
            ),
            (
                "json",
                "organisation JSON, analyst",
                analyst_cookie,
                [f"/api/v1/organisations/{rng.choice(org_ids)}" for _ in range(n)],
            ),
            (
                "svg",
                "SPC chart SVG, server-drawn, cold (no-JS only)",
                analyst_cookie,
                [f"/organisations/{rng.choice(org_ids)}/charts/ind_00.svg" for _ in range(60)],
            ),
        ]
        wanted = {r[0] for r in rows} if args.rows == "all" else set(args.rows.split(","))
        results = [
            (label, measure(base, cookie, paths, server, name, ok=(303,) if key == "floor" else (200,)))
            for key, label, cookie, paths in rows
            if key in wanted
        ]
        print(
            f"Forewarn web benchmark: {args.organisations:,} organisations x {INDICATORS} indicators x {MONTHS} months, "
            f"PostgreSQL, uvicorn {args.workers} worker(s), {CONCURRENCY} concurrent clients, loopback"
        )
        for label, latencies in results:
            print(summary(label, latencies))
    finally:
        if server is not None:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
        if args.keep is None:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
