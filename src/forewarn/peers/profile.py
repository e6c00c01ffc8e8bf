"""An organisation's indicator profile: where it stood on each of its dataset's indicators in the indicators'
earliest periods, as the numbers a "profile" neighbour set is found from.

Where a population has little context (the bundled council data carries only the area type), its own published
indicators say much of what context would: life chances, deprivation and lifestyle show in preventable mortality,
smoking, obesity and children's dental decay. The profile takes, for each indicator of the dataset, each
organisation's mean value over the indicator's first ``periods`` periods (``skip`` periods in: a later block, for
stability), so the neighbours rest on where organisations started, not on where they are now. Missing values are
handled explicitly, in three steps:

1. an indicator fewer than half of the population have in those periods is left out, and named;
2. an organisation with fewer than half of the remaining indicators has no profile: it gets no profile neighbours
   and is no one's (it is not a candidate);
3. any other missing value sits at the indicator's mean (a standardised 0, as
   :func:`forewarn.stats.neighbours.design` does for any missing number), and the count of such values is shown.

It is not CIPFA's model (which uses context, not outcomes), and because it is built from outcomes it must not be
used to judge those same outcomes: neighbours chosen for their similar mortality will have similar mortality, so
comparing an organisation's mortality with theirs would find nothing unusual by construction. Positive deviants
(:mod:`forewarn.peers.deviants`) never use it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl
from sqlalchemy import Connection

from forewarn.peers.context import MIN_COVERAGE, Context
from forewarn.stats.arrays import BoolArray, FloatArray, IntArray
from forewarn.stats.neighbour_agreement import attribute_bootstrap, random_jaccard, set_overlap
from forewarn.stats.neighbours import Design, design, nearest
from forewarn.store.columnar import read_frame

PROFILE_PERIODS = 3
"""Earliest periods of each indicator the profile averages: enough to steady a yearly figure, few enough that a
second, disjoint block of as many periods exists for the stability check."""
MIN_KNOWN_SHARE = 0.5
"""Share of the profile's indicators an organisation must have to get a profile (and be a profile neighbour)."""


@dataclass(frozen=True)
class Profile:
    """One row per organisation of the context, one column per indicator kept (mean over its periods, NaN if
    none)."""

    skip: int
    periods: int
    indicators: tuple[str, ...]
    values: FloatArray  # (n, m)
    first_period: tuple[dt.date, ...]  # (m,) the first period start used for each indicator
    last_period: tuple[dt.date, ...]  # (m,) the last
    left_out: tuple[str, ...]

    @property
    def known(self) -> BoolArray:
        out: BoolArray = np.isfinite(self.values)
        return out

    @property
    def missing(self) -> IntArray:
        """Indicators of the profile each organisation does not have (standing at the mean)."""
        out: IntArray = (~self.known).sum(axis=1).astype(np.int64)
        return out

    @property
    def complete(self) -> BoolArray:
        """Organisations with enough of the profile to have one (:data:`MIN_KNOWN_SHARE`)."""
        m = len(self.indicators)
        if m == 0:
            return np.zeros(self.values.shape[0], dtype=bool)
        out: BoolArray = self.known.sum(axis=1) >= int(np.ceil(MIN_KNOWN_SHARE * m))
        return out

    def design(self) -> Design:
        """The profile standardised (mean 0, standard deviation 1 per indicator, missing at 0) for the distance."""
        n = self.values.shape[0]
        return design(self.values, np.zeros((n, 0), dtype=np.int64))


def load_profile(
    conn: Connection, context: Context, *, periods: int = PROFILE_PERIODS, skip: int = 0
) -> Profile:
    """The profile of every organisation of ``context`` from each indicator's periods ``skip + 1`` to
    ``skip + periods`` (in order of period start, on or before the context's date), one read for the dataset.

    A value is the observation's ``value``, or its numerator over its denominator where it has no value."""
    if periods < 1 or skip < 0:
        raise ValueError("periods must be at least 1 and skip at least 0")
    where = (
        "o.dataset_id IS NULL" if context.dataset_id is None else f"o.dataset_id = {int(context.dataset_id)}"
    )
    # DENSE_RANK numbers each indicator's distinct period starts within the dataset (SQLite 3.25+, PostgreSQL).
    frame = read_frame(
        conn,
        "SELECT r.organisation_id, r.code, r.period_start, r.value FROM ("
        "SELECT b.organisation_id AS organisation_id, i.code AS code, b.period_start AS period_start, "
        "COALESCE(b.value, b.numerator / NULLIF(b.denominator, 0)) AS value, "
        "DENSE_RANK() OVER (PARTITION BY b.indicator_id ORDER BY b.period_start) AS period_rank "
        "FROM observations b JOIN organisations o ON o.id = b.organisation_id "
        "JOIN indicators i ON i.id = b.indicator_id "
        f"WHERE {where} AND b.period_start <= '{context.as_of.isoformat()}') r "
        f"WHERE r.period_rank > {int(skip)} AND r.period_rank <= {int(skip + periods)}",
        {"organisation_id": pl.Int64, "code": pl.String, "period_start": pl.Date, "value": pl.Float64},
    ).filter(pl.col("value").is_not_null() & pl.col("value").is_finite())
    n = context.n
    codes = sorted(frame["code"].unique().to_list())
    if not codes:
        return Profile(skip, periods, (), np.zeros((n, 0)), (), (), ())
    means = frame.group_by("organisation_id", "code").agg(pl.col("value").mean())
    wide = means.pivot(on="code", index="organisation_id", values="value")
    aligned = pl.DataFrame({"organisation_id": context.organisation_id}).join(
        wide, on="organisation_id", how="left"
    )
    values = aligned.select(codes).to_numpy().astype(np.float64)
    enough = max(1, int(np.ceil(MIN_COVERAGE * n)))
    known = np.isfinite(values)
    covered = known.sum(axis=0)
    low = np.where(known, values, np.inf).min(axis=0)
    high = np.where(known, values, -np.inf).max(axis=0)
    keep = (covered >= enough) & (high > low)  # a column of one value throughout tells no one apart
    spans = frame.group_by("code").agg(
        pl.col("period_start").min().alias("first"), pl.col("period_start").max().alias("last")
    )
    span_of = {row[0]: (row[1], row[2]) for row in spans.iter_rows()}
    kept = tuple(c for c, ok in zip(codes, keep.tolist(), strict=True) if ok)
    return Profile(
        skip=skip,
        periods=periods,
        indicators=kept,
        values=values[:, keep],
        first_period=tuple(span_of[c][0] for c in kept),
        last_period=tuple(span_of[c][1] for c in kept),
        left_out=tuple(c for c, ok in zip(codes, keep.tolist(), strict=True) if not ok),
    )


@dataclass(frozen=True)
class ProfileAgreement:
    """Every organisation's profile neighbours against the other ways of choosing them, for the organisations
    with a profile in both blocks of periods (``rows``)."""

    k: int
    rows: IntArray  # (r,) context rows
    index: IntArray  # (r, k) their profile neighbours (earliest periods)
    period_jaccard: FloatArray  # (r,) Jaccard index with the set from the next, disjoint periods
    bootstrap_jaccard: FloatArray  # (r,) mean Jaccard index with the sets under resampled indicators
    shared_with_fixed: IntArray  # (r,) neighbours also in the CIPFA-style set
    same_category: FloatArray  # (r,) share of profile neighbours in the organisation's category (first one)
    random_jaccard: float  # expected Jaccard index of two random sets of k among the candidates
    replicates: int


def profile_agreement(
    context: Context,
    fixed: IntArray,
    profile: Profile,
    later: Profile,
    *,
    k: int,
    replicates: int = 200,
    seed: int = 0,
) -> ProfileAgreement:
    """Profile neighbours of every organisation with a profile in both blocks, all at once: their agreement with
    the later block's, under resampled indicators, and with the CIPFA-style sets ``fixed`` ((n, k) rows, every
    organisation's, from :func:`forewarn.stats.neighbours.nearest`)."""
    both = profile.complete & later.complete
    rows = np.flatnonzero(both)
    weights = np.ones(len(profile.indicators))
    d = profile.design()
    found = nearest(d, weights, k, query=rows, candidates=both)
    again = nearest(later.design(), np.ones(len(later.indicators)), k, query=rows, candidates=both)
    boot = attribute_bootstrap(d, found, candidates=both, replicates=replicates, seed=seed)
    category = (
        context.categorical[:, 0] if context.categorical.shape[1] else np.zeros(context.n, dtype=np.int64)
    )
    same = (category[found.index] == category[rows][:, None]).mean(axis=1)
    return ProfileAgreement(
        k=found.index.shape[1],
        rows=rows,
        index=found.index,
        period_jaccard=set_overlap(found.index, again.index).jaccard,
        bootstrap_jaccard=boot.jaccard,
        shared_with_fixed=set_overlap(found.index, fixed[rows]).shared,
        same_category=same,
        random_jaccard=random_jaccard(found.index.shape[1], int(both.sum()) - 1),
        replicates=replicates,
    )


__all__ = [
    "MIN_KNOWN_SHARE",
    "PROFILE_PERIODS",
    "Profile",
    "ProfileAgreement",
    "load_profile",
    "profile_agreement",
]
