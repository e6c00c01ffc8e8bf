"""The scan's signals, stored once and compactly: one ``series_signals`` row per organisation x indicator, its
signals packed in one text (``models_surveillance.SeriesSignals``), instead of a row per rule per point with a
JSON text of its own.

``pack_signals`` builds the rows from the scan's signal frame column-wise (Polars: one text per signal, joined per
series), so writing costs a row per series; :func:`read_signals` is the one reader every page, case and report
goes through, and returns the signals of the series' current status only (those of the scan that wrote it).
Values are written as the shortest text that reads back to the same double, so a value read equals the value
computed, to the bit. Sizes and times, before and after: ``docs/performance.md``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl
from sqlalchemy import Connection, and_, select

from forewarn.store.models import Indicator
from forewarn.store.models_surveillance import SeriesSignals, SeriesStatus

ENTRY_SEPARATOR = ";"
FIELD_SEPARATOR = ","
PACKED_SCHEMA = {
    "organisation_id": pl.Int64,
    "indicator_id": pl.Int64,
    "scan_id": pl.Int64,
    "signal_count": pl.Int64,
    "entries": pl.String,
}


@dataclass(frozen=True)
class StoredSignal:
    """One rule that fired for one organisation x indicator (at one period, where that applies)."""

    indicator_id: int
    indicator_code: str
    indicator_name: str
    scan_id: int
    method: str  # spc | funnel | cusum
    rule: str  # e.g. outside_limits, shift, trend, two_in_three, outlier_high, alarm
    direction: str  # concern | improvement | neutral
    period_start: dt.date | None
    value: float | None


def pack_signals(signals: pl.DataFrame) -> pl.DataFrame:
    """``series_signals`` rows from one row per signal (organisation_id, indicator_id, scan_id, method, rule,
    direction, period_start, value), keeping the signals' order within each series; series in order of their
    first signal. Method, rule and direction must not contain the separators."""
    if signals.is_empty():
        return pl.DataFrame(schema=PACKED_SCHEMA)
    for name in ("method", "rule", "direction"):
        bad = signals.filter(
            pl.col(name).str.contains(f"[{FIELD_SEPARATOR}{ENTRY_SEPARATOR}]", literal=False)
        )
        if bad.height:
            raise ValueError(
                f"signal {name} {bad[name][0]!r} contains a separator ({FIELD_SEPARATOR}{ENTRY_SEPARATOR})"
            )
    entry = pl.concat_str(
        pl.col("method"),
        pl.col("rule"),
        pl.col("direction"),
        pl.col("period_start").dt.strftime("%Y-%m-%d").fill_null(""),
        pl.col("value").cast(pl.String).fill_null(""),  # Polars writes the shortest exact text of a double
        separator=FIELD_SEPARATOR,
    )
    return (
        signals.with_columns(entry.alias("entry"))
        .group_by("organisation_id", "indicator_id", maintain_order=True)
        .agg(
            pl.col("scan_id").first(),
            pl.len().cast(pl.Int64).alias("signal_count"),
            pl.col("entry").str.join(ENTRY_SEPARATOR).alias("entries"),
        )
        .select(list(PACKED_SCHEMA))
    )


def in_order(signals: list[StoredSignal], *fields: str) -> list[StoredSignal]:
    """``signals`` (as :func:`read_signals` gives them) sorted within each indicator by ``fields``, indicators kept
    in the order read (the database's collation); an unknown period sorts first, as SQLite sorts NULL."""
    rank: dict[int, int] = {}
    for signal in signals:
        rank.setdefault(signal.indicator_id, len(rank))

    def key(signal: StoredSignal) -> tuple[object, ...]:
        values = [getattr(signal, f) for f in fields]
        return (
            rank[signal.indicator_id],
            *(
                (v is not None, v or 0) if f == "period_start" else v
                for f, v in zip(fields, values, strict=True)
            ),
        )

    return sorted(signals, key=key)


def unpack_entries(entries: str) -> list[tuple[str, str, str, dt.date | None, float | None]]:
    """(method, rule, direction, period_start, value) of each signal packed in ``entries``, in order."""
    out = []
    for entry in entries.split(ENTRY_SEPARATOR):
        method, rule, direction, period, value = entry.split(FIELD_SEPARATOR)
        out.append(
            (
                method,
                rule,
                direction,
                dt.date.fromisoformat(period) if period else None,
                float(value) if value else None,
            )
        )
    return out


def read_signals(
    conn: Connection,
    organisation_id: int,
    *,
    indicator_id: int | None = None,
    scan_id: int | None = None,
    by_name: bool = False,
) -> list[StoredSignal]:
    """The signals of one organisation's series (of one indicator, when given), from the scan that wrote each
    series' current status (only those series the scan ``scan_id`` wrote, when given), in the scan's order within
    each series, series by indicator code (by name, then code, when ``by_name``: the database's collation)."""
    query = (
        select(
            SeriesSignals.indicator_id,
            Indicator.code,
            Indicator.name,
            SeriesSignals.scan_id,
            SeriesSignals.entries,
        )
        .join(Indicator, Indicator.id == SeriesSignals.indicator_id)
        .join(
            SeriesStatus,
            and_(
                SeriesStatus.indicator_id == SeriesSignals.indicator_id,
                SeriesStatus.organisation_id == SeriesSignals.organisation_id,
                SeriesStatus.scan_id == SeriesSignals.scan_id,
            ),
        )
        .where(SeriesSignals.organisation_id == organisation_id)
        .order_by(*((Indicator.name, Indicator.code) if by_name else (Indicator.code,)))
    )
    if indicator_id is not None:
        query = query.where(SeriesSignals.indicator_id == indicator_id)
    if scan_id is not None:
        query = query.where(SeriesSignals.scan_id == scan_id)
    return [
        StoredSignal(int(i), str(code), str(name), int(scan), *entry)
        for i, code, name, scan, entries in conn.execute(query)
        for entry in unpack_entries(entries)
    ]


def unpack_frame(packed: pl.DataFrame) -> pl.DataFrame:
    """One row per signal (organisation_id, indicator_id, method, rule, direction, period_start, value) from
    ``series_signals`` rows (at least organisation_id, indicator_id and entries), in the packed order: the inverse
    of :func:`pack_signals` over whole frames (values read back to the bit: they were written as the shortest text
    of each double)."""
    fields = ["method", "rule", "direction", "period_text", "value_text"]
    if packed.is_empty():
        return pl.DataFrame(
            schema={
                "organisation_id": pl.Int64,
                "indicator_id": pl.Int64,
                **dict.fromkeys(fields[:3], pl.String),
                "period_start": pl.Date,
                "value": pl.Float64,
            }
        )
    return (
        packed.select("organisation_id", "indicator_id", pl.col("entries").str.split(ENTRY_SEPARATOR))
        .explode("entries")
        .with_columns(pl.col("entries").str.split_exact(FIELD_SEPARATOR, 4).struct.rename_fields(fields))
        .unnest("entries")
        .with_columns(
            pl.when(pl.col("period_text") == "")
            .then(None)
            .otherwise(pl.col("period_text"))
            .str.to_date("%Y-%m-%d")
            .alias("period_start"),
            pl.when(pl.col("value_text") == "")
            .then(None)
            .otherwise(pl.col("value_text"))
            .cast(pl.Float64)
            .alias("value"),
        )
        .select("organisation_id", "indicator_id", *fields[:3], "period_start", "value")
    )


def current_signals(conn: Connection, organisation_ids: list[int] | None = None) -> pl.DataFrame:
    """Every series' current signals (those of the scan that wrote its status), one row per signal as
    :func:`unpack_frame` gives them, for all organisations or ``organisation_ids``: the set-based read beside
    :func:`read_signals`'s one organisation."""
    query = (
        select(SeriesSignals.organisation_id, SeriesSignals.indicator_id, SeriesSignals.entries)
        .join(
            SeriesStatus,
            and_(
                SeriesStatus.indicator_id == SeriesSignals.indicator_id,
                SeriesStatus.organisation_id == SeriesSignals.organisation_id,
                SeriesStatus.scan_id == SeriesSignals.scan_id,
            ),
        )
        .order_by(SeriesSignals.organisation_id, SeriesSignals.indicator_id)
    )
    if organisation_ids is not None:
        query = query.where(SeriesSignals.organisation_id.in_([int(i) for i in organisation_ids]))
    packed = pl.DataFrame(
        [tuple(r) for r in conn.execute(query)],
        schema={"organisation_id": pl.Int64, "indicator_id": pl.Int64, "entries": pl.String},
        orient="row",
    )
    return unpack_frame(packed)
