"""``forewarn scan``: compute every method for every organisation and indicator in the store, and store the signals.

A rescan recomputes everything (it is cheap, and a funnel's limits depend on every organisation), but writes only
the series whose results changed, so readers see a stable store and the scan run says how much moved.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl
from sqlalchemy import Connection, Engine, delete, insert, select, tuple_, update

from forewarn.store.models import Indicator, Observation
from forewarn.store.models_surveillance import ScanRun, SeriesStatus, Signal, SpcBaseline
from forewarn.surveillance.compute import SurveillanceResult, compute_surveillance
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
    """Every observation in the store as a panel, with the store's rebase baselines as a phase panel."""
    observations = pl.DataFrame(
        conn.execute(
            select(
                Observation.organisation_id,
                Observation.indicator_id,
                Observation.period_start,
                Observation.numerator,
                Observation.denominator,
                Observation.value,
                Observation.expected,
                Observation.standard_error,
            )
        ).all(),
        schema=OBSERVATION_SCHEMA,
        orient="row",
    )
    indicators = pl.DataFrame(
        conn.execute(
            select(Indicator.id, Indicator.code, Indicator.kind, Indicator.polarity, Indicator.target)
        ).all(),
        schema=INDICATOR_SCHEMA,
        orient="row",
    ).with_columns(pl.col("kind", "polarity").cast(pl.String))
    baselines = pl.DataFrame(
        conn.execute(
            select(SpcBaseline.organisation_id, SpcBaseline.indicator_id, SpcBaseline.rebase_from)
        ).all(),
        schema={"organisation_id": pl.Int64, "indicator_id": pl.Int64, "rebase_from": pl.Date},
        orient="row",
    )
    return build_panel(observations, indicators), baselines


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


def _dates(panel: Panel, series: np.ndarray, t: np.ndarray) -> list[dt.date | None]:
    valid = t >= 0
    out: list[dt.date | None] = [None] * len(series)
    if valid.any():
        values = panel.period[series[valid], t[valid]].astype("datetime64[D]").astype(object)
        for i, v in zip(np.flatnonzero(valid), values, strict=True):
            out[i] = v
    return out


def status_rows(panel: Panel, result: SurveillanceResult) -> pl.DataFrame:
    status = result.status
    series = status["series"].to_numpy()
    return status.with_columns(
        pl.Series("last_period", _dates(panel, series, status["last_t"].to_numpy()), dtype=pl.Date),
        pl.Series(
            "funnel_period", _dates(panel, series, status["funnel_period_t"].to_numpy()), dtype=pl.Date
        ),
        pl.Series(
            "cusum_last_alarm", _dates(panel, series, status["cusum_last_alarm_t"].to_numpy()), dtype=pl.Date
        ),
    ).select("organisation_id", "indicator_id", *STATUS_COLUMNS)


def _existing_status(conn: Connection) -> pl.DataFrame:
    columns = [
        SeriesStatus.organisation_id,
        SeriesStatus.indicator_id,
        *[getattr(SeriesStatus, c) for c in STATUS_COLUMNS],
    ]
    rows = conn.execute(select(*columns)).all()
    return pl.DataFrame(rows, schema=[c.key for c in columns], orient="row", infer_schema_length=None)


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
    stage: Callable[[str, int | None], Callable[[int], None]] | None = None,
) -> ScanResult:
    """Scan the whole store in one pass and store series status and signals (only where they changed)."""
    options = options or ScanOptions()
    tick = stage("Scanning", None) if stage else None
    started = dt.datetime.now(dt.UTC)
    with engine.connect() as conn:
        panel, baselines = load_panel(conn)
    result = compute_surveillance(panel, options, phase_panel(panel, baselines))
    new_status = status_rows(panel, result)
    if tick:
        tick(1)
    with engine.begin() as conn:
        old_status = _existing_status(conn)
        changed, removed = _changed(new_status, old_status)
        scan_id = int(
            conn.execute(
                insert(ScanRun)
                .values(started_at=started, options=options.to_dict(), series_scanned=panel.n_series)
                .returning(ScanRun.id)
            ).scalar_one()
        )
        touched = pl.concat([changed.select("organisation_id", "indicator_id"), removed])
        key_pairs = [tuple(k) for k in touched.iter_rows()]
        for start in range(0, len(key_pairs), 500):
            chunk = key_pairs[start : start + 500]
            pair = tuple_(SeriesStatus.organisation_id, SeriesStatus.indicator_id)
            conn.execute(delete(SeriesStatus).where(pair.in_(chunk)))
            conn.execute(delete(Signal).where(tuple_(Signal.organisation_id, Signal.indicator_id).in_(chunk)))
        if changed.height:
            conn.execute(
                insert(SeriesStatus), [{**row, "scan_id": scan_id} for row in changed.iter_rows(named=True)]
            )
        signals = _signal_rows(panel, result, changed, scan_id)
        if signals:
            conn.execute(insert(Signal), signals)
        summary = {**result.summary, "series_removed": removed.height}
        conn.execute(
            update(ScanRun)
            .where(ScanRun.id == scan_id)
            .values(
                finished_at=dt.datetime.now(dt.UTC),
                series_changed=changed.height,
                signals_written=len(signals),
                summary=summary,
            )
        )
    return ScanResult(
        scan_id=scan_id,
        series_scanned=panel.n_series,
        series_changed=changed.height,
        series_removed=removed.height,
        signals_written=len(signals),
        summary=summary,
    )


def _signal_rows(
    panel: Panel, result: SurveillanceResult, changed: pl.DataFrame, scan_id: int
) -> list[dict[str, object]]:
    if result.signals.is_empty() or changed.is_empty():
        return []
    wanted = set(changed.select("organisation_id", "indicator_id").iter_rows())
    series = result.signals["series"].to_numpy()
    t = result.signals["t"].to_numpy()
    periods = _dates(panel, series, t)
    rows = []
    detail_columns = [c for c in result.signals.columns if c not in SIGNAL_COLUMNS]
    details_all = result.signals.select(detail_columns).to_dicts()
    for i, (s, method, rule, direction, value) in enumerate(
        result.signals.select("series", "method", "rule", "direction", "value").iter_rows()
    ):
        details = {k: v for k, v in details_all[i].items() if v is not None and np.isfinite(v)}
        key = (int(panel.organisation_id[s]), int(panel.indicator_id[s]))
        if key not in wanted:
            continue
        rows.append(
            {
                "organisation_id": key[0],
                "indicator_id": key[1],
                "scan_id": scan_id,
                "method": method,
                "rule": rule,
                "direction": direction,
                "period_start": periods[i],
                "value": None if value is None or not np.isfinite(value) else float(value),
                "details": details,
            }
        )
    return rows
