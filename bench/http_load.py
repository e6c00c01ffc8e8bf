"""A lean HTTP/1.1 load generator that runs in a process of its own, so its cost is measured, not hidden.

The web bench used to drive the server with httpx from its own event loop: about 2-3 ms of CPU per request on
the same two cores as the server and PostgreSQL, and any stall in that loop (building a client, a slow
callback) was counted as server latency. Here each client is a keep-alive connection speaking HTTP/1.1
over asyncio streams (uvloop where installed) with the request bytes built once, in a child process; the child
reports its own CPU time so the bench can print what the generator cost beside what the server cost.

Latency is measured from just before the request is written to when the last byte of its body has been read.
Closed loop: each client sends its next request when the previous answer is complete, so the figures are what
``concurrency`` users clicking without pause would see (queueing included); that is the bench's question.
"""

from __future__ import annotations

import asyncio
import resource
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from urllib.parse import quote


@dataclass(frozen=True)
class LoadResult:
    latencies_ms: list[float]
    failures: list[str]
    generator_cpu_s: float
    wall_s: float


async def _read_response(reader: asyncio.StreamReader) -> int:
    """Read one response (Content-Length or chunked body); return its status code."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length: int | None = None
    chunked = False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        key = name.strip().lower()
        if key == b"content-length":
            length = int(value.strip())
        elif key == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length:
        await reader.readexactly(length)
    return status


async def _drive(
    host: str, port: int, cookie: str, paths: list[str], concurrency: int, ok: tuple[int, ...]
) -> LoadResult:
    queue: asyncio.Queue[str] = asyncio.Queue()
    for path in paths:
        queue.put_nowait(path)
    latencies: list[float] = []
    failures: list[str] = []
    prefix = f"Host: {host}:{port}\r\nCookie: {cookie}\r\nAccept: text/html\r\n\r\n".encode()

    async def client() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            # One untimed request opens the keep-alive connection (and warms the worker that accepted it).
            writer.write(b"GET /healthz HTTP/1.1\r\n" + prefix)
            await _read_response(reader)
            await ready.wait()
            while not queue.empty():
                path = queue.get_nowait()
                request = f"GET {quote(path, safe='/?=&%:+')} HTTP/1.1\r\n".encode() + prefix
                start = time.perf_counter()
                writer.write(request)
                try:
                    status = await _read_response(reader)
                except (asyncio.IncompleteReadError, ConnectionError) as exc:
                    # The server closed the connection: a failure of this request; carry on on a new one.
                    failures.append(f"closed ({type(exc).__name__}) {path}")
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, port)
                    continue
                latencies.append((time.perf_counter() - start) * 1000)
                if status not in ok:
                    failures.append(f"{status} {path}")
        finally:
            writer.close()

    ready = asyncio.Event()
    tasks = [asyncio.create_task(client()) for _ in range(concurrency)]
    await asyncio.sleep(0.5)  # every connection open and warmed before the clock starts
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    ready.set()
    await asyncio.gather(*tasks)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    used = (after.ru_utime - cpu.ru_utime) + (after.ru_stime - cpu.ru_stime)
    return LoadResult(latencies, failures, used, wall)


def _run(
    host: str, port: int, cookie: str, paths: list[str], concurrency: int, ok: tuple[int, ...]
) -> LoadResult:
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop is locked on Linux
        pass
    return asyncio.run(_drive(host, port, cookie, paths, concurrency, ok))


def generate(
    host: str, port: int, cookie: str, paths: list[str], concurrency: int, ok: tuple[int, ...] = (200,)
) -> LoadResult:
    """Issue ``paths`` from ``concurrency`` keep-alive clients in a separate process; a status not in ``ok``
    is a failure."""
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        return pool.submit(_run, host, port, cookie, paths, concurrency, ok).result()
