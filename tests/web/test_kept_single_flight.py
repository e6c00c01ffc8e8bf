"""A kept read is read once per key and worker however many requests miss it at once (single flight): the
portfolio's ranking (250-350 ms of CPU at 10,000 organisations) was built by every request that arrived
before the first build finished."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, insert

from forewarn.store.models import Organisation
from forewarn.views.portfolio import Ranking
from forewarn.web.pages import cached
from forewarn.web.pages.cached import by_data_version, kept_ranking

THREADS = 6


def _together(engine: Engine, read: Callable[[Connection], Any]) -> list[Any]:
    """``read`` from THREADS threads at once, each on its own connection."""
    results: list[Any] = [None] * THREADS
    errors: list[BaseException] = []

    def one(i: int) -> None:
        try:
            with engine.connect() as conn:
                results[i] = read(conn)
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    return results


def _held_until_every_key_is_read(monkeypatch: pytest.MonkeyPatch) -> tuple[list[int], threading.Event]:
    """Count the keys computed (each request's data version); a build may then wait until every thread has
    computed its key, so that every one of them misses while the first build is still running."""
    keys: list[int] = []
    everyone = threading.Event()
    real = cached.data_version

    def counting(conn: Connection) -> Any:
        found = real(conn)
        keys.append(1)
        if len(keys) >= THREADS:
            everyone.set()
        return found

    monkeypatch.setattr(cached, "data_version", counting)
    return keys, everyone


def test_requests_that_miss_the_ranking_together_build_it_once(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    with engine.begin() as conn:
        conn.execute(insert(Organisation), [{"code": f"O{i}", "name": f"Org {i}"} for i in range(3)])
    keys, everyone = _held_until_every_key_is_read(monkeypatch)
    builds: list[int] = []
    real = cached.ranked_organisations

    def slow_build(conn: Connection) -> Ranking:
        builds.append(1)
        everyone.wait(timeout=30)  # every other request has computed its key and so missed the kept ranking
        return real(conn)

    monkeypatch.setattr(cached, "ranked_organisations", slow_build)
    kept_ranking.cache_clear()
    rankings = _together(engine, kept_ranking)
    assert len(keys) == THREADS and everyone.is_set()
    assert len(builds) == 1
    assert all(r is rankings[0] for r in rankings) and len(rankings[0].rows) == 3
    # A change of data version builds it again, once.
    with engine.begin() as conn:
        conn.execute(insert(Organisation).values(code="O9", name="Org 9"))
    keys.clear()
    everyone.clear()
    again = _together(engine, kept_ranking)
    assert len(builds) == 2 and all(r is again[0] for r in again) and len(again[0].rows) == 4
    kept_ranking.cache_clear()


def test_a_failed_read_is_not_kept_and_the_next_request_reads_again(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []

    @by_data_version(2)
    def flaky(conn: Connection) -> int:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the store went away")
        return len(calls)

    with engine.connect() as conn, pytest.raises(RuntimeError):
        flaky(conn)
    with engine.connect() as conn:
        assert flaky(conn) == 2 and flaky(conn) == 2
    assert len(calls) == 2
