"""``forewarn scan``: compute every method for every organisation and indicator in the store, and store the signals.

A rescan first reads what each indicator's results depend on (``forewarn.surveillance.fingerprint``: the
importer's data version of each indicator, not the observations): when nothing moved since the last scan and the options are the same, it loads and
computes nothing and records a scan run carrying the last run's figures. Otherwise it loads and computes only the
indicators whose digest moved (:mod:`forewarn.surveillance.partitions`, in this process or on a Dask cluster),
recomputes the store-wide false-discovery rate and summary from their new rows and the stored rows of the others
(:mod:`forewarn.surveillance.storewide`), and writes only the rows whose results changed, so readers see a stable
store and the scan run says how much moved. ``full=True`` always recomputes everything.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import polars as pl
from sqlalchemy import Connection, Engine, insert, select, update

from forewarn.store import adbc_write
from forewarn.store.columnar import delete_keys, read_frame, write_frame
from forewarn.store.models_surveillance import ScanFingerprint, ScanRun
from forewarn.store.signals import pack_signals, unpack_frame
from forewarn.surveillance.compute import SurveillanceResult
from forewarn.surveillance.fingerprint import (
    LastScan,
    indicator_digests,
    last_scan_if_unchanged,
    store_digests,
)
from forewarn.surveillance.options import ScanOptions
from forewarn.surveillance.panel import INDICATOR_SCHEMA, OBSERVATION_SCHEMA, Panel, build_panel
from forewarn.surveillance.partitions import (
    PARTITION_ROWS,
    STATUS_COLUMNS,
    STATUS_SCHEMA,
    PartitionResult,
    load_partitions,
    phase_panel,
    pool_workers,
    run_partitions,
    scan_partitions,
    status_rows,
)
from forewarn.surveillance.partitions import period_dates as _dates
from forewarn.surveillance.pool import scan_store_in_pool
from forewarn.surveillance.storewide import (
    IndicatorPart,
    funnel_fdr,
    funnel_signal_frame,
    parts_from_summary,
    scan_summary,
)

SIGNAL_COLUMNS = ("series", "method", "rule", "direction", "t", "value")


METHOD_ORDER = {"spc": 0, "funnel": 1, "cusum": 2}


@dataclass(frozen=True)
class ScanResult:
    scan_id: int
    series_scanned: int
    series_changed: int
    series_removed: int
    signals_written: int
    summary: dict[str, object]

    def to_dict(self) -> dict[str, object]:
        return self.__dict__.copy()


def load_panel(conn: Connection) -> tuple[Panel, pl.DataFrame]:
    """Every observation in the store as a panel, with the store's rebase baselines as a phase panel.

    Read column by column (``forewarn.store.columnar``): no SQLAlchemy row per observation.
    """
    observations = read_frame(
        conn, f"SELECT {', '.join(OBSERVATION_SCHEMA)} FROM observations", OBSERVATION_SCHEMA, bulk=True
    )
    indicators = read_frame(
        conn,
        "SELECT id, code, kind, polarity, target FROM indicators",
        INDICATOR_SCHEMA,
    )
    baselines = read_frame(
        conn,
        "SELECT organisation_id, indicator_id, rebase_from FROM spc_baselines",
        {"organisation_id": pl.Int64, "indicator_id": pl.Int64, "rebase_from": pl.Date},
    )
    return build_panel(observations, indicators, consume=True), baselines


def _existing_status(conn: Connection) -> pl.DataFrame:
    columns = ["organisation_id", "indicator_id", *STATUS_COLUMNS]
    schema = {c: STATUS_SCHEMA[c] for c in columns}
    if conn.exec_driver_sql("SELECT 1 FROM series_status LIMIT 1").first() is None:
        # A first scan: no bulk reader (on SQLite a child process) to start for nothing.
        return pl.DataFrame(schema=schema)
    return read_frame(conn, f"SELECT {', '.join(columns)} FROM series_status", schema, bulk=True)


def _changed(new: pl.DataFrame, old: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """New or changed status rows, and keys of rows no longer produced."""
    keys = ["organisation_id", "indicator_id"]
    if old.is_empty():
        return new, old.select(keys)
    old = old.cast({c: new.schema[c] for c in new.columns if c in old.columns}, strict=False)
    joined = new.join(old, on=keys, how="left", suffix="__old")
    same = pl.all_horizontal(
        [
            (pl.col(c).round(12).eq_missing(pl.col(f"{c}__old").round(12)))
            if new.schema[c] == pl.Float64
            else pl.col(c).eq_missing(pl.col(f"{c}__old"))
            for c in STATUS_COLUMNS
        ]
    )
    changed = joined.filter(~same).select(new.columns)
    removed = old.join(new, on=keys, how="anti").select(keys)
    return changed, removed


@dataclass(frozen=True)
class _Previous:
    """The scan whose results the store holds: the digests it computed from and its indicators' summary parts."""

    digests: dict[int, str]
    parts: dict[str, IndicatorPart]


def _previous_scan(conn: Connection, options: ScanOptions) -> _Previous | None:
    """What the stored results were computed from, when a rescan may keep them for unchanged indicators: the
    last full set of digests, from one finished scan with the same options that recorded its parts."""
    rows = list(
        conn.execute(select(ScanFingerprint.indicator_id, ScanFingerprint.digest, ScanFingerprint.scan_id))
    )
    if not rows or len({int(r.scan_id) for r in rows}) != 1:
        return None
    run = conn.execute(
        select(ScanRun.summary, ScanRun.finished_at, ScanRun.options).where(
            ScanRun.id == int(rows[0].scan_id)
        )
    ).one_or_none()
    if run is None or run.finished_at is None or run.options != options.to_dict():
        return None
    parts = parts_from_summary(dict(run.summary or {}))
    if parts is None:
        return None
    return _Previous({int(r.indicator_id): str(r.digest) for r in rows}, parts)


def run_scan(
    engine: Engine,
    options: ScanOptions | None = None,
    *,
    full: bool = False,
    stage: Callable[[str, int | None], Callable[[int], None]] | None = None,
    scheduler: str | None = None,
    partition_rows: int = PARTITION_ROWS,
) -> ScanResult:
    """Scan the store and store series status and signals (only where they changed).

    Unless ``full``, a store where no indicator's observations, attributes or rebases changed since the last scan
    with the same options is not scanned again: the run is recorded with the last run's figures; and where some
    changed, only those indicators are loaded and computed (the partitions, :mod:`.partitions`), the funnels'
    false-discovery rate is recomputed across the new rows and the stored rows of the others, and only rows that
    moved are written. ``scheduler`` names a Dask scheduler to run the partitions on (``FOREWARN_SCHEDULER``);
    ``partition_rows`` bounds the observations of one partition.
    """
    options = options or ScanOptions()
    tick = stage("Scanning", None) if stage else None
    started = dt.datetime.now(dt.UTC)
    with engine.connect() as conn:
        # Read before the observations: an import landing in between leaves digests older than the results,
        # which only makes the next rescan recompute.
        digests = indicator_digests(conn)
        last = None if full else last_scan_if_unchanged(conn, digests, options.to_dict())
        if last is None:
            previous = None if full else _previous_scan(conn, options)
            recompute = sorted(
                i for i, d in digests.items() if previous is None or previous.digests.get(i) != d
            )
            indicators = read_frame(
                conn,
                "SELECT id, code, polarity FROM indicators ORDER BY id",
                {"indicator_id": pl.Int64, "code": pl.String, "polarity": pl.String},
            )
            workers = pool_workers(scheduler)
            if scheduler and workers is None:
                partitions = load_partitions(conn, recompute, max_rows=1)
            else:
                # One partition in memory at a time, read while the previous one computes (docs/performance.md,
                # "One partition at a time"): in this process, or in a local pool of worker processes.
                # A pool's workers read their own partitions (surveillance/pool.py).
                results = (
                    scan_store_in_pool(conn, recompute, options, workers, partition_rows)
                    if workers
                    else scan_partitions(
                        load_partitions(conn, recompute, max_rows=partition_rows, lazy=True), options
                    )
                )
    if last is not None:
        return _record_unchanged(engine, last, options, started)
    if scheduler and workers is None:
        results = run_partitions(partitions, options, scheduler)
    if tick:
        tick(1)
    # The writes go through files attached on SQLite (forewarn.store.adbc_write), detached after the transaction.
    with adbc_write.transaction(engine) as conn:
        old_status = _existing_status(conn)
        scan_id = int(
            conn.execute(
                insert(ScanRun).values(started_at=started, options=options.to_dict()).returning(ScanRun.id)
            ).scalar_one()
        )
        counts = _store_results(
            conn,
            scan_id,
            old_status,
            results,
            recompute,
            digests,
            indicators,
            previous.parts if previous is not None else {},
            options,
        )
        store_digests(conn, digests, scan_id)
        conn.execute(
            update(ScanRun)
            .where(ScanRun.id == scan_id)
            .values(
                finished_at=dt.datetime.now(dt.UTC),
                series_scanned=counts.series_scanned,
                series_changed=counts.series_changed,
                signals_written=counts.signals_written,
                summary=counts.summary,
            )
        )
    return ScanResult(scan_id=scan_id, **counts.__dict__)


@dataclass(frozen=True)
class _Counts:
    series_scanned: int
    series_changed: int
    series_removed: int
    signals_written: int
    summary: dict[str, object]


def _store_results(
    conn: Connection,
    scan_id: int,
    old_status: pl.DataFrame,
    results: list[PartitionResult],
    recompute: list[int],
    digests: dict[int, str],
    indicators: pl.DataFrame,
    previous_parts: dict[str, IndicatorPart],
    options: ScanOptions,
) -> _Counts:
    """The store-wide steps over the new rows of recomputed indicators and the stored rows of the others, then
    the writes: changed rows of recomputed indicators with all their signals; rows of the others whose q or
    outlier flag moved, with their indicators' funnel signals."""
    keys = ["organisation_id", "indicator_id"]
    recomputed = pl.col("indicator_id").is_in(recompute)
    kept = old_status.filter(~recomputed & pl.col("indicator_id").is_in(list(digests)))
    new_status = pl.concat([r.status for r in results] or [pl.DataFrame(schema=STATUS_SCHEMA)])
    status = pl.concat([new_status, kept.select(new_status.columns)])
    fdr = funnel_fdr(status, options)
    status = status.with_columns(fdr.q, fdr.outlier)
    changed, removed = _changed(status, old_status)
    changed_new = changed.filter(recomputed)
    touched = pl.concat([changed_new.select(keys), removed])
    # Series of the other indicators whose funnel q or flag moved: their status rows are rewritten by this scan,
    # and their packed signals with them (a series' signals are those of the scan that wrote its status): the SPC
    # and CUSUM signals as stored (not recomputed), the funnel's as now.
    rekeyed = changed.filter(~recomputed).select(keys)
    carried = unpack_frame(pl.DataFrame(schema={**dict.fromkeys(keys, pl.Int64), "entries": pl.String}))
    if old_status.height and kept.is_empty() and old_status.join(touched, on=keys, how="anti").is_empty():
        # Every stored series is rewritten or removed (a first scan, a store reloaded): empty both tables.
        conn.exec_driver_sql("DELETE FROM series_signals")
        conn.exec_driver_sql("DELETE FROM series_status")
    elif old_status.height:
        carried = _stored_signals(conn, rekeyed).filter(pl.col("method") != "funnel")
        delete_keys(conn, ["series_status", "series_signals"], touched)
        delete_keys(conn, ["series_status", "series_signals"], rekeyed)
    write_frame(conn, "series_status", changed.with_columns(pl.lit(scan_id, dtype=pl.Int64).alias("scan_id")))
    flagged = status.filter(pl.col("funnel_outlier").is_not_null() & (pl.col("funnel_outlier") != 0))
    polarity = flagged.join(indicators, on="indicator_id", how="left", maintain_order="left")["polarity"]
    funnel = funnel_signal_frame(flagged, polarity.to_numpy(), key=keys, period="funnel_period").rename(
        {"funnel_period": "period_start"}
    )
    # In the order a whole-store computation gives: SPC, funnel, CUSUM, each in series order.
    computed = _in_method_order(pl.concat([*(r.signals for r in results), funnel], how="diagonal_relaxed"))
    signals = pl.concat(
        [
            signal_rows(computed, changed_new.select(keys), scan_id),
            signal_rows(
                _in_method_order(pl.concat([carried, funnel], how="diagonal_relaxed")), rekeyed, scan_id
            ),
        ]
    )
    write_frame(conn, "series_signals", pack_signals(signals))
    kept_codes = set(indicators.filter(~recomputed & pl.col("indicator_id").is_in(list(digests)))["code"])
    parts = {code: part for code, part in previous_parts.items() if code in kept_codes}
    parts.update({code: part for r in results for code, part in r.parts.items()})
    ordered = [parts[c] for c in indicators["code"].to_list() if c in parts]
    summary = {**scan_summary(ordered, fdr.summary, funnel.height), "series_removed": removed.height}
    return _Counts(status.height, changed.height, removed.height, signals.height, summary)


def _record_unchanged(
    engine: Engine, last: LastScan, options: ScanOptions, started: dt.datetime
) -> ScanResult:
    """A scan run for a store unchanged since ``last``: nothing written but the run, the figures carried over."""
    summary = {**last.summary, "series_removed": 0, "unchanged_since_scan": last.id}
    with engine.begin() as conn:
        scan_id = int(
            conn.execute(
                insert(ScanRun)
                .values(
                    started_at=started,
                    finished_at=dt.datetime.now(dt.UTC),
                    options=options.to_dict(),
                    series_scanned=last.series_scanned,
                    series_changed=0,
                    signals_written=0,
                    summary=summary,
                )
                .returning(ScanRun.id)
            ).scalar_one()
        )
    return ScanResult(
        scan_id=scan_id,
        series_scanned=last.series_scanned,
        series_changed=0,
        series_removed=0,
        signals_written=0,
        summary=summary,
    )


def signal_frame(
    panel: Panel, result: SurveillanceResult, changed: pl.DataFrame, scan_id: int
) -> pl.DataFrame:
    """One row per signal of the series in ``changed``, in the order of ``result.signals``, built column-wise;
    stored packed per series (``forewarn.store.signals.pack_signals``)."""
    columns = ["organisation_id", "indicator_id", "scan_id", "method", "rule", "direction", "period_start"]
    if result.signals.is_empty():
        return pl.DataFrame(
            schema={
                **dict.fromkeys(["organisation_id", "indicator_id", "scan_id"], pl.Int64),
                **dict.fromkeys(["method", "rule", "direction"], pl.String),
                "period_start": pl.Date,
                "value": pl.Float64,
            }
        )
    series = result.signals["series"].to_numpy()
    return (
        result.signals.with_columns(
            pl.Series("organisation_id", panel.organisation_id[series]),
            pl.Series("indicator_id", panel.indicator_id[series]),
            _dates(panel, series, result.signals["t"].to_numpy()).alias("period_start"),
            pl.lit(scan_id, dtype=pl.Int64).alias("scan_id"),
            _finite(pl.col("value").cast(pl.Float64)),
        )
        .join(
            changed.select("organisation_id", "indicator_id"),
            on=["organisation_id", "indicator_id"],
            how="semi",
            maintain_order="left",
        )
        .select(*columns, "value")
    )


def signal_rows(signals: pl.DataFrame, changed: pl.DataFrame | None, scan_id: int) -> pl.DataFrame:
    """One row per signal of ``signals`` (keyed by organisation, indicator and ``period_start``) for the series in
    ``changed`` (all when None), with ``scan_id``: what :func:`forewarn.store.signals.pack_signals` packs."""
    keys = ["organisation_id", "indicator_id"]
    columns = [*keys, "scan_id", "method", "rule", "direction", "period_start"]
    frame = signals if changed is None else signals.join(changed, on=keys, how="semi", maintain_order="left")
    if frame.is_empty():
        return pl.DataFrame(
            schema={
                **dict.fromkeys([*keys, "scan_id"], pl.Int64),
                **dict.fromkeys(["method", "rule", "direction"], pl.String),
                "period_start": pl.Date,
                "value": pl.Float64,
            }
        )
    return frame.with_columns(
        pl.lit(scan_id, dtype=pl.Int64).alias("scan_id"), _finite(pl.col("value").cast(pl.Float64))
    ).select(*columns, "value")


def _in_method_order(signals: pl.DataFrame) -> pl.DataFrame:
    """``signals`` ordered SPC, funnel, CUSUM (the order a whole-store computation gives), each kept in order."""
    return signals.sort(
        pl.col("method").replace_strict(METHOD_ORDER, default=len(METHOD_ORDER), return_dtype=pl.Int8),
        maintain_order=True,
    )


def _stored_signals(conn: Connection, series: pl.DataFrame) -> pl.DataFrame:
    """The stored signals of ``series`` (organisation_id, indicator_id), one row per signal, in packed order."""
    if series.is_empty():
        return unpack_frame(
            pl.DataFrame(schema={"organisation_id": pl.Int64, "indicator_id": pl.Int64, "entries": pl.String})
        )
    listed = ", ".join(str(int(i)) for i in series["indicator_id"].unique().sort())
    packed = read_frame(
        conn,
        f"SELECT organisation_id, indicator_id, entries FROM series_signals WHERE indicator_id IN ({listed})",
        {"organisation_id": pl.Int64, "indicator_id": pl.Int64, "entries": pl.String},
    ).join(series, on=["organisation_id", "indicator_id"], how="semi", maintain_order="left")
    return unpack_frame(packed)


def _finite(column: pl.Expr) -> pl.Expr:
    return pl.when(column.is_finite()).then(column).otherwise(None)


__all__ = [
    "STATUS_COLUMNS",
    "ScanResult",
    "load_panel",
    "phase_panel",
    "run_scan",
    "signal_frame",
    "signal_rows",
    "status_rows",
]
