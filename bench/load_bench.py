"""Load benchmark (issue 16): many users at once, on SQLite and on PostgreSQL, on loopback only.

For each store: builds a small synthetic store (organisations x indicators x months, scanned), serves the app with
uvicorn in its own process (``--workers``) on 127.0.0.1, and measures:

1. the framework's floor: a signed-in ``GET /`` (a redirect), requests per second from 20 clients (a lean
   HTTP/1.1 generator in a process of its own, ``http_load.py``, so the generator's cost is small and apart);
2. the organisation page, the same way; its cost as a multiple of the floor (goal: within 3x);
3. 50 users at once each signing in (real Argon2) and browsing 5 pages: every answer must be a success;
4. 200 users at once browsing for ``--seconds``: no server error (503 with Retry-After is allowed, a 5xx
   without it, a 500 or a request that hangs past its timeout is not), while ``/healthz`` is probed every
   0.2 s, from a process of its own (so the crowd's event loop does not delay the probe), and must answer
   within 1 s every time.

Prints a Markdown table (docs/deploy.md keeps the latest). Every phase is bounded in requests or seconds.

    .venv/bin/python bench/load_bench.py [--stores sqlite,postgresql] [--workers 2] [--seconds 20]

PostgreSQL at FOREWARN_BENCH_POSTGRES_URL (default postgresql+psycopg://postgres@127.0.0.1:5432/postgres); the
bench creates its database and drops it at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import http_load
import httpx
from sqlalchemy import create_engine, insert, text

from forewarn.accounts.passwords import Argon2Parameters, Passwords
from forewarn.accounts.sessions import start_session
from forewarn.accounts.users import create_user
from forewarn.store import migrate
from forewarn.store.database import make_engine
from forewarn.store.models import Dataset, ImportBatch, Indicator, Observation, Organisation
from forewarn.store.models_web import Role

ADMIN_URL = os.environ.get(
    "FOREWARN_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
HOST = "127.0.0.1"  # loopback only
ORGANISATIONS, INDICATORS, MONTHS = 300, 6, 36
PASSWORD = "load bench passphrase, not a real one"
FLOOR_CLIENTS, FLOOR_REQUESTS = 20, 1500
REQUEST_TIMEOUT = 30.0  # a request the server has not answered by then counts as a hang


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def build_store(url: str, users: int) -> tuple[list[int], list[str], list[str]]:
    """Synthetic organisations, indicators and observations, scanned; ``users`` analyst accounts (real Argon2)
    and as many ready sessions. Returns organisation ids, account emails and session tokens."""
    from forewarn.surveillance.scan import run_scan

    engine = make_engine(url)
    migrate.upgrade(engine)
    rng = random.Random(20260316)
    now = dt.datetime.now(dt.UTC)
    periods = [dt.date(2020 + m // 12, m % 12 + 1, 1) for m in range(MONTHS)]
    with engine.begin() as conn:
        dataset = conn.execute(
            insert(Dataset).values(code="load", name="Load bench", simulated=True).returning(Dataset.id)
        ).scalar_one()
        batch = conn.execute(
            insert(ImportBatch)
            .values(
                source_name="load",
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
                    "code": f"L{i:04d}",
                    "name": f"Load organisation {i:04d}",
                    "region": f"Region {i % 7}",
                    "type": "Acute trust",
                    "dataset_id": dataset,
                }
                for i in range(ORGANISATIONS)
            ],
        )
        org_ids = [int(i) for i in conn.execute(text("SELECT id FROM organisations ORDER BY id")).scalars()]
        rows = []
        for k in range(INDICATORS):
            indicator = conn.execute(
                insert(Indicator)
                .values(
                    code=f"ind_{k}",
                    name=f"Load indicator {k}",
                    kind="proportion",
                    polarity="higher_is_better",
                    target=0.9,
                    multiplier=1.0,
                    dataset_id=dataset,
                    unit="%",
                )
                .returning(Indicator.id)
            ).scalar_one()
            for org in org_ids:
                level = rng.uniform(0.75, 0.95)
                for p in periods:
                    d = rng.randint(400, 4000)
                    n = min(d, max(0, round(d * level + rng.gauss(0, (d * level * (1 - level)) ** 0.5))))
                    rows.append(
                        {
                            "organisation_id": org,
                            "indicator_id": indicator,
                            "period_start": p,
                            "period_end": p + dt.timedelta(days=27),
                            "numerator": n,
                            "denominator": d,
                            "value": n / d,
                            "batch_id": batch,
                            "revision": 1,
                        }
                    )
        for start in range(0, len(rows), 20_000):
            conn.execute(insert(Observation), rows[start : start + 20_000])
        one_hash = Passwords().hash(PASSWORD)  # the server's own cost: sign-in is measured as it is
        passwords = Passwords(
            Argon2Parameters(time_cost=1, memory_cost=1024, parallelism=1)
        )  # replaced below
        emails = [f"user{i:03d}@load.test" for i in range(users)]
        tokens = []
        for email in emails:
            user = create_user(
                conn, passwords, email=email, display_name=email, password=PASSWORD, role=Role.ANALYST
            )
            conn.execute(
                text("UPDATE users SET password_hash = :h WHERE id = :i"), {"h": one_hash, "i": user}
            )
            tokens.append(start_session(conn, user).token)
    run_scan(engine)
    engine.dispose()
    return org_ids, emails, tokens


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def start_server(url: str, port: int, workers: int, data_dir: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "FOREWARN_DATABASE_URL": url,
        "FOREWARN_ENVIRONMENT": "test",
        "FOREWARN_SECRET_KEY": uuid.uuid4().hex * 2,
        "FOREWARN_DATA_DIR": str(data_dir),
        "FOREWARN_LOG_LEVEL": "WARNING",
        "FOREWARN_SIGNIN_MAX_FAILURES_PER_ADDRESS": "100000",  # every bench user comes from 127.0.0.1
    }
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "forewarn.web.server:_app_from_environment",
        "--factory",
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--timeout-keep-alive",
        "30",  # as a reverse proxy holds its upstream connections; uvicorn's 5 s races idle clients
        "--no-access-log",
    ]
    return subprocess.Popen(command, env=env)


def wait_for(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
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


@dataclass
class Tally:
    statuses: Counter[str] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)  # 5xx other than 503 + Retry-After, hangs
    latencies: list[float] = field(default_factory=list)

    def note(self, response: httpx.Response | None, path: str, started: float, ok: tuple[int, ...]) -> None:
        self.latencies.append(time.perf_counter() - started)
        if response is None:
            self.statuses["hang"] += 1
            self.server_errors.append(f"no answer in {REQUEST_TIMEOUT:g} s: {path}")
            return
        code = response.status_code
        if code == 503 and response.headers.get("retry-after"):
            self.statuses["503+Retry-After"] += 1
        elif code in ok:
            self.statuses[str(code)] += 1
        else:
            self.statuses[str(code)] += 1
            if code >= 500:
                self.server_errors.append(f"{code} {path}")

    @property
    def errors(self) -> int:
        return sum(n for s, n in self.statuses.items() if s not in ("200", "303"))


async def get(http: httpx.AsyncClient, path: str, tally: Tally, ok: tuple[int, ...] = (200,)) -> None:
    started = time.perf_counter()
    response: httpx.Response | None
    try:
        response = await http.get(path)
    except httpx.TimeoutException:
        response = None
    except httpx.TransportError as exc:  # the connection dropped: counted as a server error
        tally.statuses["dropped"] += 1
        tally.server_errors.append(f"{type(exc).__name__} {path}")
        return
    tally.note(response, path, started, ok)


def throughput(base: str, token: str, paths: list[str], ok: tuple[int, ...]) -> tuple[float, list[str]]:
    """Requests per second for ``paths`` from FLOOR_CLIENTS keep-alive clients, and the failures; driven from a
    lean generator in a process of its own (``http_load``: about 0.1 ms of CPU a request against 2-3 ms for an
    httpx client parsing a large page), so the ratio to the floor is the server's, not the generator's."""
    host, port = base.removeprefix("http://").split(":")
    result = http_load.generate(host, int(port), f"forewarn_session={token}", paths, FLOOR_CLIENTS, ok)
    return len(result.latencies_ms) / result.wall_s, result.failures


async def sign_in_and_browse(base: str, email: str, pages: list[str], tally: Tally) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=REQUEST_TIMEOUT) as http:
        started = time.perf_counter()
        try:
            form = await http.get("/sign-in")
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
            response: httpx.Response | None = await http.post(
                "/sign-in",
                data={"email": email, "password": PASSWORD, "csrf_token": csrf.group(1) if csrf else ""},
            )
        except httpx.TimeoutException:
            response = None
        except httpx.TransportError as exc:
            tally.statuses["dropped"] += 1
            tally.server_errors.append(f"{type(exc).__name__} POST /sign-in")
            return
        tally.note(response, "POST /sign-in", started, (303,))
        for page in pages:
            await get(http, page, tally)


def probe_health(base: str, seconds: float) -> list[float]:
    """Seconds each ``/healthz`` probe took (inf when it failed), one every 0.2 s for ``seconds``; run in a
    process of its own (``--probe``) so the crowd's event loop in this one does not delay it."""
    health: list[float] = []
    stop = time.monotonic() + seconds
    with httpx.Client(base_url=base, timeout=REQUEST_TIMEOUT) as http:
        while time.monotonic() < stop:
            started = time.perf_counter()
            try:
                ok = http.get("/healthz").status_code == 200
            except httpx.HTTPError:
                ok = False
            health.append(time.perf_counter() - started if ok else float("inf"))
            time.sleep(0.2)
    return health


def crowd(base: str, tokens: list[str], pages: list[str], seconds: float) -> tuple[Tally, list[float]]:
    """``len(tokens)`` signed-in users browsing for ``seconds``; /healthz probed every 0.2 s meanwhile from
    another process."""
    probe = subprocess.Popen(
        [sys.executable, __file__, "--probe", base, "--seconds", str(seconds)], stdout=subprocess.PIPE
    )
    tally = asyncio.run(_crowd(base, tokens, pages, seconds))
    out, _ = probe.communicate(timeout=seconds + 2 * REQUEST_TIMEOUT + 30)
    return tally, [float(v) for v in json.loads(out)]


async def _crowd(base: str, tokens: list[str], pages: list[str], seconds: float) -> Tally:
    tally = Tally()
    stop = time.monotonic() + seconds

    async def user(token: str) -> None:
        async with httpx.AsyncClient(
            base_url=base,
            cookies={"forewarn_session": token},
            timeout=REQUEST_TIMEOUT,
            limits=httpx.Limits(max_connections=1),
        ) as http:
            while time.monotonic() < stop:
                await get(http, random.choice(pages), tally)

    await asyncio.gather(*(user(t) for t in tokens))
    return tally


RATIO_GOAL = 3.0  # the organisation page's cost as a multiple of the framework's floor (issue 16)


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))] if ordered else float("nan")


def bench_store(kind: str, url: str, workers: int, seconds: float, crowd_size: int) -> dict[str, str]:
    say(f"{kind}: building the store")
    org_ids, emails, tokens = build_store(url, max(crowd_size, 50))
    with tempfile.TemporaryDirectory() as data_dir:
        port = free_port()
        base = f"http://{HOST}:{port}"
        server = start_server(url, port, workers, Path(data_dir))
        try:
            wait_for(base, server)
            # The organisation page as it is revisited: 100 organisations, each first requested 12 times so that
            # both workers have kept it (the kernel hands a connection to either worker; a page one has not seen
            # is then about e^-6 likely). A first view builds twenty charts (about 100 ms of CPU), once per worker
            # and data version; with a warm-up of 100 random requests most of the measured ones were first views.
            revisited = org_ids[:100]
            org_pages = [f"/organisations/{random.choice(revisited)}" for _ in range(FLOOR_REQUESTS)]
            throughput(base, tokens[0], [f"/organisations/{i}" for i in revisited] * 12, (200,))
            floor, floor_failures = throughput(base, tokens[0], ["/"] * FLOOR_REQUESTS, (303,))
            say(f"{kind}: floor (redirect) {floor:.0f} req/s")
            org_rate, org_failures = throughput(base, tokens[0], org_pages, (200,))
            say(f"{kind}: organisation page {org_rate:.0f} req/s")
            browse = ["/portfolio", *[f"/organisations/{random.choice(org_ids)}" for _ in range(4)]]
            fifty = Tally()
            started = time.perf_counter()

            async def fifty_users() -> None:
                await asyncio.gather(*(sign_in_and_browse(base, e, browse, fifty) for e in emails[:50]))

            asyncio.run(fifty_users())
            fifty_seconds = time.perf_counter() - started
            say(f"{kind}: 50 users signed in and browsed in {fifty_seconds:.1f} s: {dict(fifty.statuses)}")
            pages = ["/portfolio", *[f"/organisations/{i}" for i in org_ids[:50]]]
            big, health = crowd(base, tokens[:crowd_size], pages, seconds)
            say(
                f"{kind}: {crowd_size} users for {seconds:g} s: {dict(big.statuses)}; healthz max {max(health):.3f} s"
            )
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
    answered = sum(n for s, n in big.statuses.items() if s == "200")
    shed = big.statuses.get("503+Retry-After", 0)
    return {
        "store": kind,
        "floor": f"{floor:.0f}",
        "org": f"{org_rate:.0f}",
        "ratio": f"{floor / org_rate:.1f}x",
        "fifty": f"{fifty.errors} errors of {sum(fifty.statuses.values())} ({fifty_seconds:.0f} s, p95 "
        f"{p95(fifty.latencies):.2f} s)",
        "crowd": f"{len(big.server_errors)} server errors; {answered} pages, {shed} refused 503+Retry-After, "
        f"p95 {p95(big.latencies):.2f} s",
        "health": f"max {max(health):.3f} s over {len(health)} probes",
        "ok": str(
            fifty.errors == 0
            and not big.server_errors
            and max(health) < 1.0
            and not floor_failures
            and not org_failures
            and floor / org_rate <= RATIO_GOAL
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stores", default="sqlite,postgresql")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument("--seconds", type=float, default=20, help="length of the 200-user phase")
    parser.add_argument("--crowd", type=int, default=200, help="users in the crowd phase")
    parser.add_argument("--probe", metavar="URL", help=argparse.SUPPRESS)  # the /healthz probe's own process
    args = parser.parse_args()
    if args.probe:
        print(json.dumps([v if v != float("inf") else "inf" for v in probe_health(args.probe, args.seconds)]))
        return
    results = []
    for kind in args.stores.split(","):
        if kind == "sqlite":
            with tempfile.TemporaryDirectory() as folder:
                results.append(
                    bench_store(kind, f"sqlite:///{folder}/load.db", args.workers, args.seconds, args.crowd)
                )
        else:
            name = f"forewarn_load_{uuid.uuid4().hex[:10]}"
            admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
            try:
                url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
                results.append(bench_store(kind, url, args.workers, args.seconds, args.crowd))
            finally:
                with admin.connect() as conn:
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
                admin.dispose()
    print(
        f"\n{os.cpu_count()} CPUs, {args.workers} uvicorn workers, {ORGANISATIONS} organisations x "
        f"{INDICATORS} indicators x {MONTHS} months\n"
    )
    print(
        "| store | floor: redirect (req/s) | organisation page (req/s) | page / floor | 50 users signing in and "
        f"browsing | {args.crowd} users for {args.seconds:g} s | /healthz meanwhile | all goals met |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in results:
        print(
            f"| {r['store']} | {r['floor']} | {r['org']} | {r['ratio']} | {r['fifty']} | {r['crowd']} | "
            f"{r['health']} | {r['ok']} |"
        )


if __name__ == "__main__":
    main()
