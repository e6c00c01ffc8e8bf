"""``forewarn scan``: compute every method for every organisation and indicator in the store, and store the signals.

A rescan first reads what each indicator's results depend on (``forewarn.surveillance.fingerprint``: one grouped
query, not the observations): when nothing moved since the last scan and the options are the same, it loads and
computes nothing and records a scan run carrying the last run's figures. Otherwise it recomputes everything (a
funnel's limits and the FDR depend on every organisation and indicator), but writes only the series whose results
changed, so readers see a stable store and the scan run says how much moved. ``full=True`` always recomputes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl
from sqlalchemy import Connection, Engine, insert, update

from forewarn.store.columnar import delete_keys, read_frame, write_frame
from forewarn.store.models_surveillance import ScanRun
from forewarn.store.signals import pack_signals
from forewarn.surveillance.compute import SurveillanceResult, compute_surveillance
from forewarn.surveillance.fingerprint import (
    LastScan,
    indicator_digests,
    last_scan_if_unchanged,
    store_digests,
)
from forewarn.surveillance.options import ScanOptions
from forewarn.surveillance.panel import INDICATOR_SCHEMA, OBSERVATION_SCHEMA, Panel, build_panel

SIGNAL_COLUMNS = ("series", "method", "rule", "direction", "t", "value")
STATUS_COLUMNS = (
    "fingerprint",
    "n_points",
    "last_period",
    "last_value",
    "spc_variation",
    "spc_assurance",
    "spc_mean",
    "spc_lpl",
    "spc_upl",
    "spc_points",
    "spc_segments",
    "funnel_period",
    "funnel_z",
    "funnel_p",
    "funnel_q",
    "funnel_outlier",
    "funnel_data_type",
    "funnel_ratio",
    "funnel_denominator",
    "funnel_lower",
    "funnel_upper",
    "funnel_target",
    "funnel_phi",
    "funnel_tau2",
    "cusum_value",
    "cusum_alarms",
    "cusum_last_alarm",
    "cusum_current",
    "trend_slope",
    "trend_se",
    "trend_p",
    "rank",
    "rank_lower",
    "rank_upper",
    "rank_of",
    "rank_distinguishable",
)


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


def phase_panel(panel: Panel, baselines: pl.DataFrame) -> np.ndarray | None:
    """Rebase segment of every point: how many of its series' rebase dates fall on or before it."""
    if baselines.is_empty():
        return None
    keys = pl.DataFrame(
        {"organisation_id": panel.organisation_id, "indicator_id": panel.indicator_id}
    ).with_row_index("s")
    hits = keys.join(baselines, on=["organisation_id", "indicator_id"])
    phase = np.zeros(panel.value.shape, dtype=np.int64)
    for s, date in zip(
        hits["s"].to_numpy(), hits["rebase_from"].to_numpy().astype("datetime64[D]"), strict=True
    ):
        phase[s] += (panel.period[s] >= date) & ~np.isnat(panel.period[s])
    return np.maximum.accumulate(phase, axis=1)


def _dates(panel: Panel, series: np.ndarray, t: np.ndarray) -> pl.Series:
    """The period start of each (series, t), null where t < 0 (no such point)."""
    out = np.full(len(series), np.datetime64("NaT"), dtype="datetime64[D]")
    valid = t >= 0
    out[valid] = panel.period[series[valid], t[valid]].astype("datetime64[D]")
    return pl.Series(out, dtype=pl.Date)


def status_rows(panel: Panel, result: SurveillanceResult) -> pl.DataFrame:
    status = result.status
    series = status["series"].to_numpy()
    return status.with_columns(
        _dates(panel, series, status["last_t"].to_numpy()).alias("last_period"),
        _dates(panel, series, status["funnel_period_t"].to_numpy()).alias("funnel_period"),
        _dates(panel, series, status["cusum_last_alarm_t"].to_numpy()).alias("cusum_last_alarm"),
    ).select("organisation_id", "indicator_id", *STATUS_COLUMNS)


def _existing_status(conn: Connection, schema: pl.Schema) -> pl.DataFrame:
    columns = ["organisation_id", "indicator_id", *STATUS_COLUMNS]
    return read_frame(
        conn, f"SELECT {', '.join(columns)} FROM series_status", {c: schema[c] for c in columns}, bulk=True
    )


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


def run_scan(
    engine: Engine,
    options: ScanOptions | None = None,
    *,
    full: bool = False,
    stage: Callable[[str, int | None], Callable[[int], None]] | None = None,
) -> ScanResult:
    """Scan the whole store in one pass and store series status and signals (only where they changed).

    Unless ``full``, a store where no indicator's observations, attributes or rebases changed since the last scan
    with the same options is not scanned again: the run is recorded with the last run's figures.
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
            panel, baselines = load_panel(conn)
    if last is not None:
        return _record_unchanged(engine, last, options, started)
    result = compute_surveillance(panel, options, phase_panel(panel, baselines))
    new_status = status_rows(panel, result)
    if tick:
        tick(1)
    with engine.begin() as conn:
        old_status = _existing_status(conn, new_status.schema)
        changed, removed = _changed(new_status, old_status)
        scan_id = int(
            conn.execute(
                insert(ScanRun)
                .values(started_at=started, options=options.to_dict(), series_scanned=panel.n_series)
                .returning(ScanRun.id)
            ).scalar_one()
        )
        touched = pl.concat([changed.select("organisation_id", "indicator_id"), removed])
        if touched.height and touched.height >= old_status.height:
            # Every stored series is rewritten or removed (a first scan, a store reloaded): empty both tables.
            conn.exec_driver_sql("DELETE FROM series_signals")
            conn.exec_driver_sql("DELETE FROM series_status")
        elif old_status.height:
            delete_keys(conn, ["series_status", "series_signals"], touched)
        write_frame(
            conn, "series_status", changed.with_columns(pl.lit(scan_id, dtype=pl.Int64).alias("scan_id"))
        )
        signals = signal_frame(panel, result, changed, scan_id)
        write_frame(conn, "series_signals", pack_signals(signals))
        summary = {**result.summary, "series_removed": removed.height}
        store_digests(conn, digests, scan_id)
        conn.execute(
            update(ScanRun)
            .where(ScanRun.id == scan_id)
            .values(
                finished_at=dt.datetime.now(dt.UTC),
                series_changed=changed.height,
                signals_written=signals.height,
                summary=summary,
            )
        )
    return ScanResult(
        scan_id=scan_id,
        series_scanned=panel.n_series,
        series_changed=changed.height,
        series_removed=removed.height,
        signals_written=signals.height,
        summary=summary,
    )


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
    if result.signals.is_empty() or changed.is_empty():
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


def _finite(column: pl.Expr) -> pl.Expr:
    return pl.when(column.is_finite()).then(column).otherwise(None)
