"""Work handed to a second thread one item ahead: the parts of an import made (or written) on the second core
while the caller's thread writes the one before."""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterable
from typing import TypeVar

T = TypeVar("T")

__all__ = ["ahead"]


class _Done:
    """The end of :func:`ahead`'s queue, carrying the producer's exception if it failed."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


def ahead(items: Iterable[T]) -> Generator[T, None, None]:
    """``items``, each made in a thread of its own while the caller works on the one before (one ahead at most).

    The parts of an import are computed by Polars (the ids, the sort, the dates as text) and written by ADBC's
    SQLite driver or ``COPY``, which all release the GIL: so the next part is made on the second core while this
    one is written. An exception in the producer is raised here, in the caller's thread, at the point the part
    would have come; if the caller stops early (an error while writing), the producer stops at its next part."""
    handoff: queue.Queue[T | _Done] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def put(item: T | _Done) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    source = iter(items)

    def produce() -> None:
        try:
            for item in source:
                if not put(item):
                    return
        except BaseException as exc:  # handed to the caller's thread, raised there
            put(_Done(exc))
            return
        finally:
            if isinstance(source, Generator):
                source.close()  # a caller that stopped early: the source's own clean-up runs now
        put(_Done())

    worker = threading.Thread(target=produce, name="forewarn-parts-ahead", daemon=True)
    worker.start()
    try:
        while True:
            item = handoff.get()
            if isinstance(item, _Done):
                if item.error is not None:
                    raise item.error
                return
            yield item
    finally:
        stop.set()
        worker.join()
