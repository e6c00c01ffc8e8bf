"""``bulk_parts.ahead``: the parts of an import made one ahead in a thread, in their order, a failure of either
side raised in the caller's thread, and the thread gone when the caller stops early."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from forewarn.store.bulk_parts import ahead


def _alive() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "forewarn-parts-ahead"]


def test_every_item_comes_in_its_order() -> None:
    assert list(ahead(range(50))) == list(range(50))
    assert list(ahead([])) == []
    assert not _alive()


def test_a_failure_of_the_producer_is_raised_where_its_item_would_have_come() -> None:
    def failing() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("bad part")

    items = ahead(failing())
    assert [next(items), next(items)] == [1, 2]
    with pytest.raises(ValueError, match="bad part"):
        next(items)
    assert not _alive()


def test_a_caller_that_stops_early_stops_the_producer() -> None:
    made: list[int] = []
    closed = threading.Event()

    def endless() -> Iterator[int]:
        try:
            n = 0
            while True:
                made.append(n)
                yield n
                n += 1
        finally:
            closed.set()

    items = ahead(endless())
    assert [next(items), next(items)] == [0, 1]
    items.close()  # what a ``for`` loop broken by an error does
    assert not _alive()
    assert closed.wait(5)
    # One ahead at most: the two taken, one waiting in the hand-over, and one made while it waited.
    assert len(made) <= 4
