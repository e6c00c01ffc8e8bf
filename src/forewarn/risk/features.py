"""Features of every organisation at an origin date, from what was known then (:meth:`StoreHistory.as_of`).

- **Surveillance state**: the surveillance scan run as of the origin (SPC, funnels with over-dispersion, CUSUM
  against each organisation's own baseline), per organisation: funnel z on the side of concern (mean and
  worst over its indicators), SPC special causes of concern, current CUSUM alarms, the recent trend of each
  indicator in the direction of concern, and missing data; and every indicator pooled by a one-factor model
  into an estimate of lasting performance, recent and against the organisation's own baseline
  (:mod:`forewarn.risk.latent`).
- **Soft measures**: every published survey wave's organisation means, pooled into the best linear predictor of
  each organisation's current standing (shrunk by sample size, older waves weighted by how persistent
  standings are), and the change of its shrunken standing since the wave before; and, when the store holds
  any, learning activity in the two years before (practice-library documents the organisation wrote,
  experiments it registered, started and analysed: :mod:`forewarn.risk.activity`).
- **Context**: size and deprivation (the latest dated attributes), type.
- **History**: the last inspection grade, months since it, special measures, recent interventions and
  leadership changes; and the regulator's own commitments (an intervention not yet followed by an inspection,
  one under way, the months since one ended: :mod:`forewarn.risk.oversight`).

Baselines computed beside them: today's signal count (the portfolio's order), a naive mean z of the latest
values ignoring over-dispersion, and the last grade.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import polars as pl

from forewarn.domain import concern_side_expr
from forewarn.risk.activity import activity_features
from forewarn.risk.history import DAYS_A_MONTH, ObservationReader, StoreHistory, row_hash_sum
from forewarn.risk.latent import WINDOW_ORDER, latent_features, latent_from_levels, window_levels
from forewarn.risk.outcomes import GRADE_ORDER
from forewarn.risk.oversight import oversight_features
from forewarn.risk.shapes import shape_features
from forewarn.risk.soft import capacity_estimates
from forewarn.surveillance.compute import compute_partition
from forewarn.surveillance.options import ScanOptions
from forewarn.surveillance.panel import OBSERVATION_SCHEMA, build_panel
from forewarn.surveillance.spawn import worker_pool
from forewarn.surveillance.storewide import funnel_fdr

SOFT_PREFIX = "soft_"
BASELINES = ("signal_count", "naive_mean_z", "last_grade")
# Ranks are not features: the as-of scans skip the league tables' rank intervals (``rank_intervals=False``); the
# rank options stay as they were (the conditional expected rank, not a simulation) for any scan that takes them.
_SCAN = ScanOptions(rank_replicates=100, rank_simulation_max_units=0)
_TREND_PERIODS = 6
# Observations scanned at once (whole indicators): about 0.4 KB of panel and scan memory each at the peak.
_SCAN_ROWS = 1_000_000
# What the features read of the scan's status (and what its false-discovery rate needs).
_STATUS_USED = (
    "funnel_z",
    "funnel_p",
    "funnel_ratio",
    "funnel_lower",
    "funnel_upper",
    "spc_variation",
    "cusum_current",
)


# One batch's results: at each origin its series and its window levels (Nones where nothing was known then).
Parts = list[tuple[dt.date, pl.DataFrame | None, pl.DataFrame | None]]


@dataclass(frozen=True)
class OriginFeatures:
    """One row per organisation known at the origin: ``organisation_id``, the features, the baselines."""

    origin: dt.date
    frame: pl.DataFrame

    @property
    def feature_columns(self) -> list[str]:
        """Every column but the organisation: the baselines are features too (the model should at least know
        what they know), and are also scored on their own."""
        return [c for c in self.frame.columns if c != "organisation_id"]


def _indicator_series(observations: pl.DataFrame, indicators: pl.DataFrame, origin: dt.date) -> pl.DataFrame:
    """Some indicators' series at ``origin`` (their observations known then): the surveillance scan's
    per-indicator part (:func:`forewarn.surveillance.compute.compute_partition`: SPC, funnel, CUSUM, each
    depending on its indicator's series alone), the recent trend, the latest value and its age. One row a series,
    the funnel's false-discovery rate not yet applied (it is across every series: :func:`_known_series`)."""
    panel = build_panel(observations, indicators, consume=True, fingerprints=False)  # no fingerprint is read
    status = compute_partition(panel, _SCAN, rank_intervals=False).status
    # Recent trend of each series in the direction of concern, in the indicator's cross-sectional sds a period.
    last = panel.last_index
    rows = np.arange(panel.n_series)
    window = np.clip(last[:, None] - np.arange(_TREND_PERIODS)[::-1][None, :], 0, None)
    recent = panel.value[rows[:, None], window]
    x = np.arange(_TREND_PERIODS, dtype=float) - (_TREND_PERIODS - 1) / 2
    ok = np.isfinite(recent)
    with np.errstate(invalid="ignore", divide="ignore"):
        xm = np.where(ok, x[None, :], 0.0)
        xm = xm - (xm.sum(axis=1) / ok.sum(axis=1))[:, None] * ok
        slope = (xm * np.where(ok, recent, 0.0)).sum(axis=1) / (xm * xm).sum(axis=1)
    latest_value = recent[:, -1]
    periods = panel.period[rows, last].astype("datetime64[D]")
    stale_days = (np.datetime64(origin, "D") - periods).astype(np.float64)
    series = pl.DataFrame(
        {
            "organisation_id": panel.organisation_id,
            "indicator_id": panel.indicator_id,
            "slope": slope,
            "latest": latest_value,
            "stale_days": stale_days,
        }
    ).with_columns(pl.col(pl.Float64).fill_nan(None))
    # Series come in the panel's order (organisation within the indicator), as in a panel of every indicator.
    return pl.concat([series, status.select(_STATUS_USED)], how="horizontal")


def _scan_batch(
    batch: pl.DataFrame | list[pl.DataFrame], indicators: pl.DataFrame, origins: list[dt.date], levels: bool
) -> list[tuple[dt.date, pl.DataFrame | None, pl.DataFrame | None]]:
    """One batch's part at each of ``origins``: its series (:func:`_indicator_series`) and, with ``levels``, its
    one-factor window levels (:func:`forewarn.risk.latent.window_levels`); Nones where nothing was known then.
    In this process or in a pool worker (:func:`_scan_batches_in_pool`): the same work and values either way.
    ``batch`` in a list of one is taken out of it, so that the caller holds no reference to it and it is freed
    here once sorted (a batch is one indicator at 50,000 organisations, about 0.5 GB)."""
    out: list[tuple[dt.date, pl.DataFrame | None, pl.DataFrame | None]] = []
    rows = batch.pop() if isinstance(batch, list) else batch
    del batch
    # The window levels read each series' rows in order: sorted once here, not once an origin (a sorted frame
    # stays sorted when filtered; at 2,000 organisations the sorts were half the window levels' time).
    # The panel's layout does not depend on the rows' order, so the sorted rows serve the scan too. Only the
    # columns read below, filtered and sorted in one step (no origin here reads rows known later).
    ordered = (
        rows.lazy()
        .select(*OBSERVATION_SCHEMA, "known_on")
        .filter(pl.col("known_on") <= max(origins))
        .pipe(lambda frame: frame.sort(*WINDOW_ORDER) if levels else frame)
        .collect()
    )
    del rows
    for origin in origins:
        known = ordered.filter(pl.col("known_on") <= origin)
        if not known.height:
            out.append((origin, None, None))
            continue
        windows = window_levels(known, indicators, ordered=True) if levels else None
        chosen = indicators.join(known.select("indicator_id").unique(), on="indicator_id")
        # The panel is built from these columns, each dropped once laid out (``consume``): ``known`` goes first.
        observations = known.select(list(OBSERVATION_SCHEMA))
        del known
        series = _indicator_series(observations, chosen, origin)
        out.append((origin, series, windows))
    return out


def _scan_batches_here(
    batches: Iterator[pl.DataFrame], indicators: pl.DataFrame, origins: list[dt.date], levels: bool
) -> Iterator[list[tuple[dt.date, pl.DataFrame | None, pl.DataFrame | None]]]:
    """:func:`_scan_batch` of each batch in this process. Each batch goes from the reader straight into a list
    of one that :func:`_scan_batch` empties, never into a variable here: a loop's variable would keep the batch
    alive beside its filtered, sorted copy until the next one came."""
    while True:
        held: list[pl.DataFrame] = []
        try:
            held.append(next(batches))
        except StopIteration:
            return
        yield _scan_batch(held, indicators, origins, levels)


def _origin_groups(batch: pl.DataFrame, origins: list[dt.date], workers: int) -> list[list[dt.date]]:
    """``origins`` split into up to ``workers`` groups of about the same number of observations known (the work
    of an origin's scan grows with them): the largest first, each to the lightest group so far. Each group's
    origins stay in ascending order."""
    known = [(batch.filter(pl.col("known_on") <= o).height, o) for o in origins]
    groups: list[list[dt.date]] = [[] for _ in range(workers)]
    loads = [0] * workers
    for rows, origin in sorted(known, key=lambda k: (-k[0], k[1])):
        lightest = loads.index(min(loads))
        groups[lightest].append(origin)
        loads[lightest] += rows
    return [sorted(group) for group in groups if group]


def _scan_batches_in_pool(
    batches: Iterator[pl.DataFrame],
    indicators: pl.DataFrame,
    origins: list[dt.date],
    levels: bool,
    workers: int,
) -> Iterator[list[tuple[dt.date, pl.DataFrame | None, pl.DataFrame | None]]]:
    """:func:`_scan_batch` of each batch at every origin, in ``workers`` spawned processes: each batch's origins
    split between the workers (:func:`_origin_groups`, each sent the rows the latest origin knows), so that
    even one batch keeps both cores busy; at most two batches in flight, so memory holds a few batches, not the
    store. Yields each batch's results in ``origins``' order, batch after batch: the same values as in one
    process (each indicator's results depend on its own series alone). The scan's own pool of spawned workers
    (:func:`forewarn.surveillance.spawn.worker_pool`: one computing thread each, BLAS included, and the heap
    kept), as children of this process, so its CPU time as its parent sees it includes theirs."""
    from collections import deque
    from concurrent.futures import Future

    pending: deque[list[Future[Parts]]] = deque()

    def collect(futures: list[Future[Parts]]) -> Parts:
        by_origin = {part[0]: part for future in futures for part in future.result()}
        return [by_origin[origin] for origin in origins]

    with worker_pool(workers) as pool:
        for batch in batches:  # batches: tens
            if len(pending) >= 2:
                yield collect(pending.popleft())
            # One frame for every worker (each keeps only what its own origins know): the futures hold their
            # arguments until their results come back, so a copy a worker would be held here once each.
            known = batch.filter(pl.col("known_on") <= max(origins))
            futures = [
                pool.submit(_scan_batch, known, indicators, group, levels)
                for group in _origin_groups(known, origins, workers)
            ]
            del known
            pending.append(futures)
            del batch
        while pending:
            yield collect(pending.popleft())


def _read_and_scan(
    reader: ObservationReader,
    indicator_ids: list[int],
    until: dt.date | None,
    indicators: pl.DataFrame,
    origins: list[dt.date],
    levels: bool,
) -> tuple[Parts, int, int]:
    """One batch read from the store by this (worker) process and scanned at every origin (:func:`_scan_batch`),
    with its row count and row-hash sum when every row was read (``until`` None: the data version's digest,
    :func:`forewarn.risk.history.row_hash_sum`), else zeros."""
    held = [reader.read(indicator_ids, until)]
    height, hashed = (held[0].height, row_hash_sum(held[0])) if until is None else (0, 0)
    return _scan_batch(held, indicators, origins, levels), height, hashed


def _read_and_scan_in_pool(
    reader: ObservationReader,
    until: dt.date | None,
    indicators: pl.DataFrame,
    origins: list[dt.date],
    levels: bool,
    workers: int,
) -> Iterator[Parts]:
    """:func:`_scan_batch` of each of the reader's batches at every origin, in ``workers`` spawned processes, each
    worker reading its batches from the store itself (the reader is sent, not the rows): this process never
    holds an observation, and each batch is read once, by the worker that scans it at every origin. Yields each
    batch's results in the batches' order: the same values as in one process (each indicator's results depend
    on its own series alone). With ``until`` None every row is read and the reader keeps the data version's
    digest (:attr:`forewarn.risk.history.ObservationReader.whole`), as a pass in this process does.

    Against splitting each batch's origins between workers (:func:`_scan_batches_in_pool`, for histories held
    in memory): no batch is pickled through the pool's pipe, and only the workers hold rows, one batch each."""
    height, total = 0, 0
    with worker_pool(workers) as pool:
        futures = [
            pool.submit(_read_and_scan, reader, ids, until, indicators, origins, levels)
            for ids in reader.batch_ids(until, _SCAN_ROWS)
        ]
        for future in futures:
            parts, rows, hashed = future.result()
            height, total = height + rows, total + hashed
            yield parts
    if until is None:
        reader.whole.update(rows=height, hash_sum=total % 2**64)


def _own_reads(reader: ObservationReader) -> bool:
    """Whether pool workers can open the reader's store themselves (a file or a server, not memory)."""
    database = reader.engine.url.database
    return reader.engine.url.get_backend_name() != "sqlite" or database not in (None, "", ":memory:")


def _series_by_origin(
    history: StoreHistory,
    origins: list[dt.date],
    *,
    read_all: bool = False,
    levels: bool = False,
    workers: int = 0,
) -> tuple[dict[dt.date, pl.DataFrame | None], dict[dt.date, list[pl.DataFrame]]]:
    """Every series known at each of ``origins``, in one pass over the observations: each batch of whole
    indicators of about ``_SCAN_ROWS`` observations (:meth:`StoreHistory.observation_batches`, read from the
    store with the as-of filter of the last origin in the query) is scanned at every origin in turn
    (:func:`_indicator_series`), so only one batch's observations and panel are in memory at once and each
    observation is read once for all origins. Results equal a scan of every indicator's panel at once whatever
    the batches (each indicator's results depend on its own series alone). None at an origin when nothing was
    known then. ``read_all``: read every observation, not only those known by the last origin, so that the
    same pass gives the data version's digest (:meth:`StoreHistory.observation_digest`). ``levels``: the same
    pass also gives each origin's window levels of the one-factor model (:func:`forewarn.risk.latent.window_levels`,
    one list a batch; empty lists without it), so that the observations are read once, not twice.
    ``workers``: the batches' scans in a pool of that many processes, each reading its own batches from the
    store (:func:`_read_and_scan_in_pool`; a history held in memory sends them: :func:`_scan_batches_in_pool`);
    0: in this process. The command line passes ``FOREWARN_SCHEDULER``'s ``pool:N`` down as ``N``."""
    parts: dict[dt.date, list[pl.DataFrame]] = {origin: [] for origin in origins}
    windows: dict[dt.date, list[pl.DataFrame]] = {origin: [] for origin in origins}
    if not origins:
        return {}, {}
    until = None if read_all else max(origins)
    if workers and history.reader is not None and _own_reads(history.reader):
        scanned_batches = _read_and_scan_in_pool(
            history.reader, until, history.indicators, origins, levels, workers
        )
    elif workers:
        batches = history.observation_batches(until, _SCAN_ROWS)
        scanned_batches = _scan_batches_in_pool(batches, history.indicators, origins, levels, workers)
    else:
        batches = history.observation_batches(until, _SCAN_ROWS)
        scanned_batches = _scan_batches_here(batches, history.indicators, origins, levels)
    # The heap is not kept here (unlike the store-wide scan, forewarn.surveillance.heap): at 50,000 organisations
    # keeping it cut the serial backtest's CPU by 8% (1,095 -> 1,006 s) but raised its peak by 1.3 GB (3,539 ->
    # 4,849 MB), past the bench's 4 GB (docs/risk.md, "The bench at 50,000 ... fifth session's merges").
    for scanned_batch in scanned_batches:
        for origin, series, batch_levels in scanned_batch:
            if series is not None:
                parts[origin].append(series)
            if batch_levels is not None:
                windows[origin].append(batch_levels)
    out: dict[dt.date, pl.DataFrame | None] = {}
    for origin, scanned in parts.items():
        if not scanned:
            out[origin] = None
            continue
        series = pl.concat(scanned)
        # The funnels' false-discovery rate across every series, as the store-wide scan applies it.
        out[origin] = series.with_columns(funnel_fdr(series, _SCAN).outlier)
    return out, windows


def _known_series(history: StoreHistory, origin: dt.date) -> pl.DataFrame | None:
    """Every series known at ``origin`` (:func:`_series_by_origin` at that origin alone)."""
    return _series_by_origin(history, [origin])[0][origin]


def surveillance_by_origin(
    history: StoreHistory, origins: list[dt.date], *, read_all: bool = False, workers: int = 0
) -> dict[dt.date, pl.DataFrame]:
    """The surveillance features of every organisation with data at each of ``origins`` (funnel z, trends, SPC
    and CUSUM signals, stale data, the signal count and naive mean z baselines), each from what was known at
    its origin, in one pass over the observations (:func:`_series_by_origin`; ``read_all``: every observation,
    for the data version's digest too; ``workers``: the scans in a pool of processes); for :func:`origin_features`."""
    scanned, _ = _series_by_origin(history, origins, read_all=read_all, workers=workers)
    return {origin: _summarise(history, series) for origin, series in scanned.items()}


def features_by_origin(
    history: StoreHistory, origins: list[dt.date], *, read_all: bool = False, workers: int = 0
) -> tuple[dict[dt.date, pl.DataFrame], dict[dt.date, pl.DataFrame]]:
    """:func:`surveillance_by_origin` and the one-factor estimates of lasting performance
    (:func:`forewarn.risk.latent.latent_by_origin`) at each of ``origins``, both from one pass over the
    observations (each batch read once, for the scans and the one-factor model's windows alike); for
    :func:`origin_features`. The same values as the two passes made apart, and in a pool of ``workers``
    processes (:func:`_series_by_origin`) as in one."""
    scanned, windows = _series_by_origin(history, origins, read_all=read_all, levels=True, workers=workers)
    surveillance = {origin: _summarise(history, series) for origin, series in scanned.items()}
    factors = {origin: latent_from_levels(history, levels) for origin, levels in windows.items()}
    return surveillance, factors


def _summarise(history: StoreHistory, series: pl.DataFrame | None) -> pl.DataFrame:
    if series is None:
        return pl.DataFrame(schema={"organisation_id": pl.Int64})
    sign = history.indicators.select("indicator_id", concern_side_expr(pl.col("polarity")).alias("sign"))
    scale = series.group_by("indicator_id").agg(
        pl.col("latest").mean().alias("mu"), pl.col("latest").std().alias("sd")
    )
    series = (
        series.join(scale, on="indicator_id")
        .join(sign, on="indicator_id")
        .with_columns(
            (pl.col("sign") * (pl.col("latest") - pl.col("mu")) / pl.col("sd")).alias("naive_z"),
            (pl.col("sign") * pl.col("slope") / pl.col("sd")).alias("trend"),
            (pl.col("sign") * pl.col("funnel_z")).alias("concern_z"),
            (pl.col("spc_variation") == "special_cause_concern").fill_null(False).alias("spc_concern"),
            (pl.col("cusum_current") == 1).fill_null(False).alias("cusum_alarm"),
            ((pl.col("funnel_outlier") * pl.col("sign")) > 0).fill_null(False).alias("funnel_concern"),
        )
    )
    return series.group_by("organisation_id").agg(
        pl.col("concern_z").mean().alias("funnel_z_mean"),
        pl.col("concern_z").max().alias("funnel_z_worst"),
        pl.col("trend").mean().alias("trend_mean"),
        pl.col("trend").max().alias("trend_worst"),
        pl.col("spc_concern").sum().cast(pl.Float64).alias("spc_concern"),
        pl.col("cusum_alarm").sum().cast(pl.Float64).alias("cusum_current"),
        (pl.col("stale_days") > 62).mean().cast(pl.Float64).alias("share_stale"),
        pl.col("naive_z").mean().alias("naive_mean_z"),
        (pl.col("spc_concern").sum() + pl.col("funnel_concern").sum() + pl.col("cusum_alarm").sum())
        .cast(pl.Float64)
        .alias("signal_count"),
    )


def _soft(known: StoreHistory) -> pl.DataFrame:
    """Soft features from every published wave known: per organisation and wave the mean over the instrument's
    dimensions, turned into the best linear predictor of the organisation's standing at the latest wave
    (:func:`forewarn.risk.soft.capacity_estimates`: shrunk by each wave's sample size, pooled over earlier
    waves by how persistent the standings are) and the change of its shrunken standing since the wave before.

    Left out on purpose (docs/risk.md, "Do soft measures help?"): the latest wave alone and the core
    dimensions' own estimate (both are noisier re-expressions of the pooled level), and the respondent count
    (how many answered says nothing about capacity here)."""
    cells = known.soft
    if cells.is_empty():
        return pl.DataFrame(schema={"organisation_id": pl.Int64})
    per_wave = (
        cells.group_by("organisation_id", "known_on")
        .agg(pl.col("mean").mean().alias("all"), pl.col("n").max().cast(pl.Float64).alias("n"))
        .sort("known_on", "organisation_id")
    )
    years = per_wave.select((pl.col("known_on") - pl.col("known_on").min()).dt.total_days() / 365.25)
    estimates = capacity_estimates(
        per_wave["organisation_id"].to_numpy(),
        per_wave["known_on"].rank("dense").cast(pl.Int64).to_numpy(),
        years.to_series().to_numpy(),
        per_wave["all"].to_numpy(),
        per_wave["n"].to_numpy(),
    )
    return pl.DataFrame(
        {
            "organisation_id": estimates["organisation_id"].astype(np.int64),
            f"{SOFT_PREFIX}mean": estimates["level"],
            f"{SOFT_PREFIX}change": estimates["latest"] - estimates["previous"],
            f"{SOFT_PREFIX}trend": estimates["trend"],
        }
    ).with_columns(pl.col(pl.Float64).fill_nan(None))


def _context(known: StoreHistory) -> pl.DataFrame:
    latest = (
        known.attributes.sort("valid_from")
        .group_by("organisation_id", "name")
        .agg(pl.col("value_number").last())
    )
    if latest.is_empty():
        frame = known.organisations.select("organisation_id")
    else:
        frame = latest.pivot(on="name", index="organisation_id", values="value_number").rename(
            lambda c: c if c == "organisation_id" else f"context_{c}"
        )
        frame = known.organisations.select("organisation_id").join(frame, on="organisation_id", how="left")
    types = known.organisations.select("organisation_id", "type").drop_nulls("type")
    if types.height:
        dummies = types.to_dummies("type").rename(lambda c: c if c == "organisation_id" else f"context_{c}")
        frame = frame.join(dummies, on="organisation_id", how="left")
    return frame


def _history(known: StoreHistory, origin: dt.date) -> pl.DataFrame:
    grade_rank = {g: float(i) for i, g in enumerate(GRADE_ORDER)}
    inspections = known.events.filter(pl.col("kind") == "inspection").sort("date")
    last = inspections.group_by("organisation_id").agg(pl.col("grade").last(), pl.col("date").last())
    last = last.with_columns(
        pl.col("grade").replace_strict(grade_rank, default=None, return_dtype=pl.Float64).alias("last_grade"),
        ((pl.lit(origin) - pl.col("date")).dt.total_days() / DAYS_A_MONTH).alias("months_since_inspection"),
    ).select("organisation_id", "last_grade", "months_since_inspection")
    two_years = origin - dt.timedelta(days=730)
    recent = (
        known.events.filter(pl.col("date") > two_years)
        .group_by("organisation_id")
        .agg(
            (pl.col("kind") == "intervention_start").sum().cast(pl.Float64).alias("interventions_2y"),
            (pl.col("kind") == "leadership_change").sum().cast(pl.Float64).alias("leadership_changes_2y"),
        )
    )
    measures = (
        known.events.filter(pl.col("kind").is_in(["special_measures_start", "special_measures_end"]))
        .sort("date")
        .group_by("organisation_id")
        .agg(
            (pl.col("kind").last() == "special_measures_start").cast(pl.Float64).alias("in_special_measures")
        )
    )
    return last.join(recent, on="organisation_id", how="full", coalesce=True).join(
        measures, on="organisation_id", how="full", coalesce=True
    )


def inspection_due(known: StoreHistory, origin: dt.date, horizon_months: int) -> pl.DataFrame:
    """The chance that each organisation is inspected within ``horizon_months`` of the origin, from how long
    inspections after the same grade have waited before (a failure can only be found by an inspection, and
    regulators re-inspect on a schedule set by the last grade, e.g. CQC's frequency rules).

    Per grade of the inspection that opened it, every gap between inspections known at the origin is a
    duration: closed by the next inspection, or still open at the origin (censored). Their Kaplan-Meier survival
    function ``S`` (Kaplan & Meier 1958; statsmodels' ``SurvfuncRight``) gives, for an organisation last graded
    ``g`` ``s`` months ago, ``P(next inspection by s + h | none by s) = 1 - S_g(s + h) / S_g(s)`` (its own open
    gap is at risk up to ``s``, so ``S_g(s) > 0``); 0 when no gap after ``g`` has closed between ``s`` and
    ``s + h`` (nothing known says it will be inspected then), missing for organisations never inspected. The
    estimate cannot reach past the longest gap seen closed, so it is short-sighted early in a history.

    Returns ``organisation_id`` and ``inspection_due`` (only organisations inspected before the origin).
    """
    from statsmodels.duration.survfunc import SurvfuncRight

    inspections = (
        known.events.filter((pl.col("kind") == "inspection") & (pl.col("date") <= origin))
        .select("organisation_id", "date", pl.col("grade").fill_null("none"))
        .sort("organisation_id", "date")
        .with_columns(pl.col("date").shift(-1).over("organisation_id").alias("next"))
        .with_columns(
            ((pl.col("next").fill_null(origin) - pl.col("date")).dt.total_days() / DAYS_A_MONTH).alias(
                "months"
            ),
            pl.col("next").is_not_null().cast(pl.Int64).alias("closed"),
        )
    )
    if inspections.is_empty():
        return pl.DataFrame(schema={"organisation_id": pl.Int64, "inspection_due": pl.Float64})
    current = inspections.filter(pl.col("closed") == 0)
    due = np.full(current.height, np.nan)
    grades = current["grade"].to_numpy()
    since = current["months"].to_numpy()
    for grade in np.unique(grades):  # grades: a handful
        gaps = inspections.filter(pl.col("grade") == grade)
        here = grades == grade
        if gaps["closed"].sum() == 0:
            due[here] = 0.0  # every gap still open: the Kaplan-Meier survival is 1 throughout
            continue
        fitted = SurvfuncRight(gaps["months"].to_numpy(), gaps["closed"].to_numpy())
        times, survival = np.asarray(fitted.surv_times), np.asarray(fitted.surv_prob)

        def at(t: np.ndarray, times: np.ndarray = times, survival: np.ndarray = survival) -> np.ndarray:
            index = np.searchsorted(times, t, side="right") - 1
            return np.where(index >= 0, survival[np.clip(index, 0, None)], 1.0)

        now, later = at(since[here]), at(since[here] + horizon_months)
        with np.errstate(invalid="ignore", divide="ignore"):
            due[here] = np.where(now > 0, 1.0 - later / now, 1.0)
    return pl.DataFrame({"organisation_id": current["organisation_id"], "inspection_due": due})


def origin_features(
    history: StoreHistory,
    origin: dt.date,
    surveillance: pl.DataFrame | None = None,
    factors: pl.DataFrame | None = None,
) -> OriginFeatures:
    """Every organisation's features at ``origin``, from ``history.as_of(origin)`` only. ``surveillance``: its
    surveillance features when already built (:func:`surveillance_by_origin`, one pass for many origins);
    ``factors``: the one-factor estimates of lasting performance when already built
    (:func:`forewarn.risk.latent.latent_by_origin`)."""
    known = history.as_of(origin, observations=False)  # observations: a batch of indicators at a time
    if surveillance is None and factors is None:  # both from one read of the observations
        both = features_by_origin(history, [origin])
        surveillance, factors = both[0][origin], both[1][origin]
    if surveillance is None:
        surveillance = surveillance_by_origin(history, [origin])[origin]
    if factors is None:
        factors = latent_features(history, origin)
    frame = known.organisations.select("organisation_id")
    parts = [
        surveillance,
        factors,
        _soft(known),
        _context(known),
        _history(known, origin),
        oversight_features(known, origin),
    ]
    if history.activity.height:  # learning activity: only when the store holds some (else as before)
        parts.append(activity_features(known.activity, known.organisations, origin))
    for part in parts:
        if part.width > 1:
            frame = frame.join(part, on="organisation_id", how="left")
    if f"{SOFT_PREFIX}mean" in frame.columns and "factor_level" in frame.columns:
        # Capacity against lasting performance: capacity acts on performance months later, so a weak organisation
        # whose capacity is falling (or strong but failing) is not the sum of the two.
        frame = frame.with_columns(
            (pl.col(f"{SOFT_PREFIX}change") * pl.col("factor_level")).alias(f"{SOFT_PREFIX}change_x_factor"),
            (pl.col(f"{SOFT_PREFIX}mean") * pl.col("factor_level")).alias(f"{SOFT_PREFIX}mean_x_factor"),
        )
    for name in BASELINES:
        if name not in frame.columns:
            frame = frame.with_columns(pl.lit(None, dtype=pl.Float64).alias(name))
    frame = shape_features(frame)
    numeric = [c for c, t in frame.schema.items() if c != "organisation_id" and t.is_numeric()]
    # Sorted, and columns in a fixed order: group-bys do not keep row order, and the model's folds and bootstrap
    # must see the same rows in the same order on every run.
    frame = frame.select("organisation_id", *[pl.col(c).cast(pl.Float64) for c in sorted(numeric)]).sort(
        "organisation_id"
    )
    return OriginFeatures(origin=origin, frame=frame)


def horizon_features(history: StoreHistory, origin: dt.date, horizon_months: int) -> OriginFeatures:
    """:func:`origin_features` and the features that depend on the horizon asked about (the chance of an
    inspection within it, :func:`inspection_due`), from ``history.as_of(origin)`` only."""
    at = origin_features(history, origin)
    due = inspection_due(history.as_of(origin, observations=False), origin, horizon_months)
    frame = at.frame.join(due, on="organisation_id", how="left")
    columns = sorted(c for c in frame.columns if c != "organisation_id")
    return OriginFeatures(origin=origin, frame=frame.select("organisation_id", *columns))


__all__ = [
    "BASELINES",
    "SOFT_PREFIX",
    "OriginFeatures",
    "features_by_origin",
    "horizon_features",
    "inspection_due",
    "origin_features",
    "surveillance_by_origin",
]
