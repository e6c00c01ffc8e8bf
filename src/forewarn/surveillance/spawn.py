"""The scan's local worker processes: spawned, one computing thread each, with the heap kept, results as files.

A pool of N workers on N cores already gives every core one process of maths. Each spawned worker would
otherwise start Polars' thread pool and OpenBLAS's at one thread per core, N x N threads in all, whose steps
(the fingerprints' hash, the result frames) then compete with the other worker's maths for the same cores. One
thread each is the plain choice for a process pool; on the bench machine, loaded, it measured within the noise of
the threads' default (docs/performance.md, "The maths, third pass"). The thread counts are read once, when each
library starts in the worker, so they are set in the environment the workers are spawned with (restored in this
process afterwards; a variable the user set is left as it is).

A worker's result frames (a partition's status rows and signals, about 29 MB for 50,000 series) go back as Arrow
IPC files in a folder of the pool's life (:func:`spool_frames`, :func:`unspool_frames`), and the pipe carries
their paths. Pickled, they went through the pool's pipe 64 KB at a time, each write waiting for this process's
result thread to be given a core to read it, while both cores ran the workers' maths; and Polars' own
serialisation of a frame costs about twice its IPC write.
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl

from forewarn.surveillance.heap import keep_heap

# One thread each for the libraries that would start a pool of their own in every worker.
WORKER_THREADS = {
    "POLARS_MAX_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}


@contextmanager
def worker_environment() -> Iterator[None]:
    """Inside the block, processes started from this one get :data:`WORKER_THREADS` (those the environment
    does not already set); this process's environment is restored after it."""
    added = {name: value for name, value in WORKER_THREADS.items() if name not in os.environ}
    os.environ.update(added)
    try:
        yield
    finally:
        for name in added:
            os.environ.pop(name, None)


@contextmanager
def worker_pool(
    workers: int,
    initializer: Callable[..., object] = keep_heap,
    initargs: tuple[Any, ...] = (),
) -> Iterator[ProcessPoolExecutor]:
    """A pool of ``workers`` spawned processes (a fork would copy this process's Polars thread pool and
    database connections, which a child cannot use safely), each with one computing thread
    (:func:`worker_environment`, held for the pool's whole life: spawned pools start their workers as tasks
    arrive) and its heap kept (:func:`forewarn.surveillance.heap.keep_heap`, the default ``initializer``)."""
    context = multiprocessing.get_context("spawn")
    with (
        worker_environment(),
        ProcessPoolExecutor(
            max_workers=workers, mp_context=context, initializer=initializer, initargs=initargs
        ) as pool,
    ):
        yield pool


@contextmanager
def spool_folder(parent: str | Path | None = None) -> Iterator[str]:
    """A temporary folder for the workers' result files, removed with whatever is left in it after the block."""
    with tempfile.TemporaryDirectory(prefix="forewarn-results-", dir=parent) as folder:
        yield folder


def spool_frames(frames: tuple[pl.DataFrame, ...], folder: str) -> tuple[str, ...]:
    """Write ``frames`` as uncompressed Arrow IPC files in ``folder`` (names of their own); their paths."""
    stem = Path(folder) / uuid.uuid4().hex
    paths = []
    for i, frame in enumerate(frames):
        path = f"{stem}.{i}.arrow"
        frame.write_ipc(path, compression="uncompressed")
        paths.append(path)
    return tuple(paths)


def unspool_frames(paths: tuple[str, ...]) -> tuple[pl.DataFrame, ...]:
    """The frames :func:`spool_frames` wrote (the same columns, types and values), read whole into memory and
    their files removed."""
    frames = []
    for path in paths:
        # The file's bytes, not a memory map of it: the file can go at once (on every platform).
        frames.append(pl.read_ipc(Path(path).read_bytes()))
        os.unlink(path)
    return tuple(frames)


__all__ = [
    "WORKER_THREADS",
    "spool_folder",
    "spool_frames",
    "unspool_frames",
    "worker_environment",
    "worker_pool",
]
