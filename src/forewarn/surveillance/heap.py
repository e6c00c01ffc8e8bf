"""Keeping the memory the maths frees in the process while a scan's partitions are computed (glibc only).

The maths of a partition makes and frees many panel-sized NumPy arrays (tens of MB each for an indicator of
50,000 organisations). glibc's allocator hands blocks that large back to the kernel when they are freed (``mmap``
above its threshold, ``trim`` of the heap's top), and the next partition's arrays fault fresh zeroed pages back
in: a quarter to a third of the maths' CPU was system time on the loaded bench machine (docs/performance.md,
"The maths at size"). While the partitions are computed, :func:`kept_heap` raises both thresholds
(``mallopt(M_MMAP_THRESHOLD)``, ``mallopt(M_TRIM_THRESHOLD)``) so freed blocks stay in the heap for the next
arrays, then restores glibc's default thresholds and gives the free memory back (``malloc_trim``). Elsewhere
(musl, macOS, Windows) it does nothing. Results do not depend on it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform
from collections.abc import Iterator
from contextlib import contextmanager

# mallopt parameters (glibc's malloc.h) and glibc's default thresholds.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
DEFAULT_THRESHOLD = 128 * 1024
# Blocks below this come from the heap while the maths runs: above any one array of a partition.
KEPT_MMAP_THRESHOLD = 1 << 30
KEPT_TRIM_THRESHOLD = (1 << 31) - 1


def _glibc() -> ctypes.CDLL | None:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def keep_heap() -> bool:
    """From now on, keep freed memory in this process's heap (a process that computes partitions and then
    exits: a pool worker). True where it took effect (glibc)."""
    libc = _glibc()
    if libc is None:
        return False
    return bool(libc.mallopt(M_MMAP_THRESHOLD, KEPT_MMAP_THRESHOLD)) and bool(
        libc.mallopt(M_TRIM_THRESHOLD, KEPT_TRIM_THRESHOLD)
    )


@contextmanager
def kept_heap() -> Iterator[None]:
    """Keep freed memory in this process's heap inside the block; after it, glibc's default thresholds (static
    from then on) and the free memory given back to the kernel."""
    libc = _glibc()
    kept = keep_heap() if libc is not None else False
    try:
        yield
    finally:
        if libc is not None and kept:
            libc.mallopt(M_MMAP_THRESHOLD, DEFAULT_THRESHOLD)
            libc.mallopt(M_TRIM_THRESHOLD, DEFAULT_THRESHOLD)
            libc.malloc_trim(0)


__all__ = ["keep_heap", "kept_heap"]
