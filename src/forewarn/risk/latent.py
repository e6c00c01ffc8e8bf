"""An estimate of each organisation's lasting performance from all its indicators at once (a one-factor model).

The surveillance features summarise an organisation's indicators by their mean and worst funnel z, each indicator
counting the same. But indicators differ in how much of what they show is the organisation's performance and how
much is lasting idiosyncrasy (case mix, recording, local arrangements) or sampling noise; and an indicator's
latest month is noisy beside the level an inspection judges. This module estimates, at an origin and from what
was known then only:

- each organisation x indicator's **recent level** (the last ``RECENT_PERIODS`` periods pooled: summed numerators
  over summed denominators, else the mean value) on a variance-stabilising scale (logit for proportions, log for
  rates, ratios and counts, with a half-event continuity correction), and its **change** against the
  organisation's own earlier level (the ``BASELINE_PERIODS`` periods before the recent ones: the organisation's
  lasting idiosyncrasy cancels);
- each standardised within its indicator and organisation type (peers: the same indicator reads differently in a
  school and a hospital), on the side of concern, clipped to +-5;
- pooled over indicators by a one-factor model (scikit-learn's ``FactorAnalysis``, maximum likelihood; Bartholomew,
  Knott & Moustaki 2011, *Latent Variable Models and Factor Analysis*, ch. 3): each indicator is weighted by its
  loading over its unique variance, the posterior mean of the common factor, which is the best linear predictor
  of what all the indicators share (the factor is signed so that its loadings are on the side of concern on
  the whole). Fitted afresh at every origin on the organisations known then (no outcome is read, so nothing
  learnt after the origin can leak in).

Returns ``factor_level`` (recent level), ``factor_change`` (change against the own baseline) and
``factor_short`` (the level of the last ``SHORT_PERIODS`` periods alone, which a recent shock moves first).

Point in time: only observations known at the origin (``known_on <= origin``) are read.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import polars as pl

from forewarn.domain import concern_side_expr
from forewarn.risk.history import StoreHistory

RECENT_PERIODS = 6
SHORT_PERIODS = 2
BASELINE_PERIODS = 24
_BATCH_ROWS = 1_000_000  # whole indicators a batch, as the features read them
_CLIP = 5.0
_MIN_PEERS = 10  # an indicator x type with fewer organisations is not standardised (left out)
LATENT_COLUMNS = ("factor_level", "factor_change", "factor_short")
# The order the window levels read a series' rows in. A series has one row a period, so the order is total, and
# rows sorted once stay sorted when filtered to those known at each origin (:func:`window_levels`' ``ordered``).
WINDOW_ORDER = ("organisation_id", "indicator_id", "period_start")


def _window_levels(known: pl.DataFrame, kinds: pl.DataFrame, *, ordered: bool = False) -> pl.DataFrame:
    """Per organisation x indicator: the transformed level of the short, recent and baseline windows.
    ``ordered``: ``known`` is already sorted by organisation, indicator and period (:data:`WINDOW_ORDER`)."""
    windows = {
        "short": (0, SHORT_PERIODS),
        "recent": (0, RECENT_PERIODS),
        "base": (RECENT_PERIODS, BASELINE_PERIODS),
    }  # (periods back from the latest, length)
    ordered_rows = known if ordered else known.sort(*WINDOW_ORDER)
    keep = RECENT_PERIODS + BASELINE_PERIODS
    tail = ordered_rows.group_by("organisation_id", "indicator_id", maintain_order=True).tail(keep)
    ratio = tail.group_by("organisation_id", "indicator_id").agg(
        (pl.col("numerator").is_not_null().all() & (pl.col("denominator").sum() > 0)).alias("ratio")
    )
    tail = tail.join(ratio, on=["organisation_id", "indicator_id"]).with_columns(
        pl.when(pl.col("ratio")).then(pl.col("numerator")).otherwise(pl.col("value")).alias("top"),
        pl.when(pl.col("ratio")).then(pl.col("denominator")).otherwise(1.0).alias("bottom"),
    )
    agg = []
    for name, (back, length) in windows.items():
        for column in ("top", "bottom"):
            part = pl.col(column).reverse().slice(back, length)
            agg.append(part.sum().alias(f"{name}_{column}"))
        agg.append(pl.col("top").reverse().slice(back, length).count().alias(f"{name}_n"))
    levels = (
        tail.group_by("organisation_id", "indicator_id", maintain_order=True)
        .agg(*agg)
        .join(kinds, on="indicator_id")
    )
    out = [pl.col("organisation_id"), pl.col("indicator_id")]
    for name in windows:
        top, bottom, n = pl.col(f"{name}_top"), pl.col(f"{name}_bottom"), pl.col(f"{name}_n")
        proportion = ((top + 0.5) / (bottom + 1.0)).clip(1e-9, 1 - 1e-9)
        logit = (proportion / (1.0 - proportion)).log()
        # Rates, ratios and counts: log of the pooled ratio, half an event added (scaled to a period's mean
        # denominator, so a count with no denominator gets half a count a window).
        log_rate = ((top + 0.5 * bottom / n) / bottom).log()
        value = pl.when(pl.col("kind") == "proportion").then(logit).otherwise(log_rate)
        ok = (n > 0) & (bottom > 0) & (top >= 0)
        out.append(pl.when(ok).then(value).otherwise(None).alias(name))
    return levels.select(out).with_columns(pl.col(pl.Float64).fill_nan(None))


def _standardise(levels: pl.DataFrame, history: StoreHistory) -> pl.DataFrame:
    """Each window's level (and the recent change) as a z within its indicator and organisation type, on the
    side of concern."""
    sign = history.indicators.select("indicator_id", concern_side_expr(pl.col("polarity")).alias("sign"))
    types = history.organisations.select("organisation_id", pl.col("type").fill_null("").alias("peer"))
    frame = (
        levels.join(sign.filter(pl.col("sign") != 0), on="indicator_id")
        .join(types, on="organisation_id", how="left")
        .with_columns((pl.col("recent") - pl.col("base")).alias("change"))
    )
    group = ("indicator_id", "peer")
    z = []
    for name in ("short", "recent", "change"):
        centred = pl.col(name) - pl.col(name).median().over(group)
        spread = pl.col(name).std().over(group)
        enough = pl.col(name).count().over(group) >= _MIN_PEERS
        z.append(
            pl.when(enough & (spread > 0))
            .then((pl.col("sign") * centred / spread).clip(-_CLIP, _CLIP))
            .otherwise(None)
            .alias(name)
        )
    return frame.select("organisation_id", "indicator_id", *z).with_columns(pl.col(pl.Float64).fill_nan(None))


def _factor_score(z: pl.DataFrame, column: str, seed: int = 0) -> pl.DataFrame:
    """The one-factor model's posterior mean of each organisation's common factor over its indicators' ``column``
    (missing values filled by the indicator's mean, 0), signed to the side of concern."""
    from sklearn.decomposition import FactorAnalysis

    wide = z.pivot(on="indicator_id", index="organisation_id", values=column).sort("organisation_id")
    values = wide.drop("organisation_id").to_numpy().astype(np.float64)
    seen = np.isfinite(values)
    keep = seen.mean(axis=0) >= 0.5  # indicators most organisations have
    if values.shape[0] < 20 or keep.sum() < 2:
        return pl.DataFrame(
            {"organisation_id": wide["organisation_id"], column: np.full(values.shape[0], np.nan)}
        )
    matrix = np.where(seen, values, 0.0)[:, keep]
    model = FactorAnalysis(n_components=1, svd_method="lapack", random_state=seed).fit(matrix)
    loadings = model.components_[0]
    score = model.transform(matrix)[:, 0] * (1.0 if loadings.sum() >= 0 else -1.0)
    # Organisations with no indicator seen in this window carry no information: missing, not the mean.
    score = np.where(seen[:, keep].any(axis=1), score, np.nan)
    return pl.DataFrame({"organisation_id": wide["organisation_id"], column: score})


def window_levels(known: pl.DataFrame, indicators: pl.DataFrame, *, ordered: bool = False) -> pl.DataFrame:
    """The window levels of some indicators' observations known at an origin (``organisation_id``,
    ``indicator_id``, ``period_start``, ``numerator``, ``denominator``, ``value``; ``indicators``: the
    history's, with each ``kind``): one batch's part of :func:`latent_from_levels`, for a pass over the
    observations that also does other work with each batch (:func:`forewarn.risk.features.features_by_origin`,
    perhaps in a pool worker, which is sent the indicators rather than the whole history). ``ordered``:
    ``known`` is already sorted by :data:`WINDOW_ORDER` (a batch sorted once for every origin, then filtered):
    the same levels without a sort at each origin."""
    return _window_levels(
        known.select("organisation_id", "indicator_id", "period_start", "numerator", "denominator", "value"),
        indicators.select("indicator_id", "kind"),
        ordered=ordered,
    )


def one_blas_thread() -> Any:
    """A context in which the BLAS and LAPACK calls (OpenBLAS: the factor model's SVD) run on one thread.

    OpenBLAS's threads spin while they wait for each other, and on cores other processes hold that spinning is
    most of the CPU: the 24 factor fits of the bench's backtest at 500 organisations (500 x 19 matrices, 5 to 7
    iterations each) took 1.99 s of CPU with the default two threads and 0.045 s with one, at a load average of
    10 on 2 cores (docs/risk.md, "The bench at 50,000, third pass"); the results are the same to the bit (the
    backtest's JSON compared). As :func:`forewarn.risk.boosting.one_thread` does for OpenMP."""
    # threadpoolctl limits the libraries loaded when it is called: SciPy's LAPACK (the SVD) first.
    import scipy.linalg  # noqa: F401
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

    return threadpool_limits(limits=1, user_api="blas")


def latent_from_levels(history: StoreHistory, levels: list[pl.DataFrame]) -> pl.DataFrame:
    """``organisation_id`` and :data:`LATENT_COLUMNS` from the window levels of every batch of indicators
    known at an origin (:func:`window_levels`, batches in ascending ``indicator_id``); the factor fits on one
    BLAS thread (:func:`one_blas_thread`)."""
    if not levels:
        return pl.DataFrame(schema={"organisation_id": pl.Int64})
    z = _standardise(pl.concat(levels), history)
    with one_blas_thread():
        frame = _factor_score(z, "recent").rename({"recent": "factor_level"})
        for column, name in (("change", "factor_change"), ("short", "factor_short")):
            score = _factor_score(z, column).rename({column: name})
            frame = frame.join(score, on="organisation_id", how="full", coalesce=True)
    return frame.with_columns(pl.col(pl.Float64).fill_nan(None))


def latent_by_origin(history: StoreHistory, origins: list[dt.date]) -> dict[dt.date, pl.DataFrame]:
    """``organisation_id`` and :data:`LATENT_COLUMNS` at each origin, each from the observations known then,
    in one pass over the observations (a batch of whole indicators at a time)."""
    if not origins:
        return {}
    parts: dict[dt.date, list[pl.DataFrame]] = {origin: [] for origin in origins}
    for batch in history.observation_batches(max(origins), _BATCH_ROWS):
        for origin in origins:
            known = batch.filter(pl.col("known_on") <= origin)
            if known.height:
                parts[origin].append(window_levels(known, history.indicators))
        del batch
    return {origin: latent_from_levels(history, levels) for origin, levels in parts.items()}


def latent_features(history: StoreHistory, origin: dt.date) -> pl.DataFrame:
    """:func:`latent_by_origin` at one origin."""
    return latent_by_origin(history, [origin])[origin]


__all__ = [
    "LATENT_COLUMNS",
    "WINDOW_ORDER",
    "latent_by_origin",
    "latent_features",
    "latent_from_levels",
    "one_blas_thread",
    "window_levels",
]
