"""What a scan depends on, per indicator, read cheaply: so a rescan with nothing new neither loads nor computes.

A scan's results for an indicator depend on its observations, its attributes (kind, polarity, target), its SPC
rebases and the scan's options. Each indicator's digest is a SHA-256 of one aggregate row over its observations
(count; sums of ids, revisions and import batches; count and sum of every value column), its attributes and its
rebases: one grouped query over ``observations``, never a row per observation in Python. The importer gives every
inserted row a new id and bumps ``revision`` and ``batch_id`` of every replaced one, so any import that changes an
indicator changes its digest; the value sums also catch edits made outside the importer short of ones that keep
every sum, which ``forewarn scan --full`` is for.

The unit of recomputation is the whole store, not the indicator: funnel outliers are kept at a false-discovery
rate across every organisation x indicator pair, and rank intervals of all tables of one polarity are simulated
from one seeded random stream, so recomputing one indicator alone would not give what a full scan gives
(``docs/performance.md``). A rescan therefore skips everything when no digest and no option moved, and otherwise
recomputes everything (and still writes only the series whose results changed).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Connection, insert, select

from forewarn.store.models_surveillance import ScanFingerprint, ScanRun

VALUE_COLUMNS = ("numerator", "denominator", "value", "expected", "standard_error")
_AGGREGATES = ", ".join(
    ["count(*)", "sum(id)", "sum(revision)", "sum(batch_id)"]
    + [f"count({c}), sum({c})" for c in VALUE_COLUMNS]
)


def _text(value: object) -> str:
    """One aggregate as exact text, the same whichever driver returned it (PostgreSQL sums integers as numeric)."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return value.hex()
    if isinstance(value, Decimal):
        return str(int(value)) if value == value.to_integral_value() else str(value)
    return str(value)


@dataclass(frozen=True)
class LastScan:
    """The scan run whose results a rescan with nothing new keeps."""

    id: int
    series_scanned: int
    summary: dict[str, object]


def indicator_digests(conn: Connection) -> dict[int, str]:
    """The digest of every indicator in the store, by indicator id."""
    if conn.dialect.name == "postgresql":
        # Parallel workers would add each sum's floats in an arbitrary order; one scan in table order keeps the
        # same data giving the same digest.
        conn.exec_driver_sql("SET LOCAL max_parallel_workers_per_gather = 0")
    aggregates = {
        int(row[0]): "|".join(_text(v) for v in row[1:])
        for row in conn.exec_driver_sql(
            f"SELECT indicator_id, {_AGGREGATES} FROM observations GROUP BY indicator_id"
        )
    }
    rebases: dict[int, list[str]] = {}
    for indicator_id, organisation_id, rebase_from in conn.exec_driver_sql(
        "SELECT indicator_id, organisation_id, rebase_from FROM spc_baselines "
        "ORDER BY indicator_id, organisation_id, rebase_from"
    ):
        rebases.setdefault(int(indicator_id), []).append(f"{organisation_id}@{rebase_from}")
    digests = {}
    for indicator_id, code, kind, polarity, target in conn.exec_driver_sql(
        "SELECT id, code, kind, polarity, target FROM indicators"
    ):
        text = "\n".join(
            [
                f"{code}|{kind}|{polarity}|{_text(target)}",
                aggregates.get(int(indicator_id), "none"),
                ",".join(rebases.get(int(indicator_id), [])),
            ]
        )
        digests[int(indicator_id)] = hashlib.sha256(text.encode()).hexdigest()
    return digests


def last_scan_if_unchanged(
    conn: Connection, digests: dict[int, str], options: dict[str, object]
) -> LastScan | None:
    """The scan run whose results still hold: every digest and the options as that scan saw them; else None."""
    stored = conn.execute(
        select(ScanFingerprint.indicator_id, ScanFingerprint.digest, ScanFingerprint.scan_id)
    )
    rows = list(stored)
    if not rows or {int(r.indicator_id): r.digest for r in rows} != digests:
        return None
    scan_ids = {int(r.scan_id) for r in rows}
    if len(scan_ids) != 1:
        return None
    run = conn.execute(
        select(
            ScanRun.id, ScanRun.series_scanned, ScanRun.summary, ScanRun.finished_at, ScanRun.options
        ).where(ScanRun.id == scan_ids.pop())
    ).one_or_none()
    if run is None or run.finished_at is None or run.options != options:
        return None
    return LastScan(id=int(run.id), series_scanned=int(run.series_scanned), summary=dict(run.summary or {}))


def store_digests(conn: Connection, digests: dict[int, str], scan_id: int) -> None:
    """Replace the stored digests with those the scan ``scan_id`` computed from."""
    conn.exec_driver_sql("DELETE FROM scan_fingerprints")
    if digests:
        conn.execute(
            insert(ScanFingerprint),
            [{"indicator_id": i, "scan_id": scan_id, "digest": d} for i, d in digests.items()],
        )


__all__ = ["LastScan", "indicator_digests", "last_scan_if_unchanged", "store_digests"]
