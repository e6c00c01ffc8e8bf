"""What a scan depends on, per indicator, read cheaply: so a rescan with nothing new neither loads nor computes.

A scan's results for an indicator depend on its observations, its attributes (kind, polarity, target), its SPC
rebases and the scan's options. Each indicator's digest is a SHA-256 of its data version (one row of
``indicator_data_versions``, which every import and bulk load that changes the indicator's observations moves on in
its own transaction), its attributes and its rebases: a rescan reads one row per indicator whatever the store's
size, never the observations. Edits made outside the importer (an ``UPDATE`` or ``DELETE`` by hand) do not move the
version, so a plain rescan does not see them: ``forewarn scan --full`` does (``docs/performance.md``).

A rescan loads and computes only the indicators whose digest moved (``surveillance/partitions.py``), then redoes
the store-wide steps (the funnels' false-discovery rate across every pair, from the stored p-values of the
others); with no digest and no option moved it loads and computes nothing (``docs/performance.md``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Connection, insert, select

from forewarn.store.models_surveillance import ScanFingerprint, ScanRun


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
    versions = {
        int(indicator_id): f"version {int(version)}"
        for indicator_id, version in conn.exec_driver_sql(
            "SELECT indicator_id, version FROM indicator_data_versions"
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
                versions.get(int(indicator_id), "none"),
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
