"""Did an intervention work? Its naive before/after change beside a difference in differences against a matched
comparison group of organisations not intervened on (docs/interventions.md).

The outcome is a *score* per organisation and month over the indicators an intervention targets: each indicator's
value is centred on the month's median over all organisations, divided by 1.4826 x the median absolute deviation
(the standard deviation when that is 0), signed so that higher is better, and averaged over the indicators present.
The score is linear in every value, so the expected score is the score of the expected values: what the simulator
check needs to know the true effect exactly.

For an intervention starting in month ``s`` (its first event's month), with windows relative to ``s``:

- *before*: mean score over ``before`` (default months -2..0: the months that put it on the list);
- *after*: mean score over ``after`` (default 1..3, the first quarter);
- *naive* change: after - before;
- *comparison group*: the ``neighbours`` nearest organisations (same type when enough are) with no intervention
  from ``lookback_months`` before ``s`` to the end of the after window, on three features at ``s``: the before
  level, the trend (least-squares slope per month over the ``trend_months`` to ``s``) and the noise (mean moving
  range / 1.128 over those months, the XmR sigma). Organisations as bad, going the same way and as noisy regress
  to the mean as much as the treated one;
- *difference in differences*: the treated change minus the comparison group's mean change; over many
  interventions the stacked regression ``stats.did.stacked_did`` (stack fixed effects, the three features as a
  regression adjustment, clustered by organisation).

This module works on frames (observations, interventions), so the store, the command line and the simulator check
call the same code.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import warnings
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np
import polars as pl
from scipy import stats as sps

from forewarn.domain import improvement_side
from forewarn.stats.arrays import BoolArray, FloatArray, IntArray
from forewarn.stats.did import DidResult, mean_change, stacked_did
from forewarn.stats.matching import feature_scale, nearest_neighbours

MAD_TO_SD = 1.4826
XMR_D2 = 1.128
FEATURES = ("level", "prior", "trend", "noise")


@dataclass(frozen=True)
class EffectOptions:
    """Windows (months relative to the start, inclusive), matching and inference choices."""

    before: tuple[int, int] = (-2, 0)
    after: tuple[int, int] = (1, 3)
    trend_months: int = 12
    neighbours: int = 5
    lookback_months: int = 36
    exact_type: bool = True
    match_on: tuple[str, ...] = ("level", "prior", "noise")
    adjust: bool = False
    level: float = 0.95

    def __post_init__(self) -> None:
        b, a = self.before, self.after
        if b[0] > b[1] or a[0] > a[1] or a[0] <= b[1]:
            raise ValueError(
                "windows must be (first, last) with the after window starting after the before one"
            )
        if self.trend_months < 3:
            raise ValueError("trend_months must be at least 3")
        if self.neighbours < 1:
            raise ValueError("neighbours must be at least 1")
        if self.lookback_months < 0:
            raise ValueError("lookback_months must not be negative")
        if not self.match_on or any(f not in FEATURES for f in self.match_on):
            raise ValueError(f"match_on must name some of {', '.join(FEATURES)}")
        if not 0 < self.level < 1:
            raise ValueError("level must be in (0, 1)")


@dataclass(frozen=True)
class ScorePanel:
    """Scores (organisations x months) and the constants that made them, to score other values the same way."""

    codes: list[str]
    periods: list[dt.date]
    score: FloatArray
    constants: pl.DataFrame
    """``indicator, period, center, scale, sign``: score = mean over indicators of sign (value - center) / scale."""

    def index_of(self) -> dict[str, int]:
        return {c: i for i, c in enumerate(self.codes)}

    def month_of(self, day: dt.date) -> int:
        """Index of ``day``'s month in the panel (may fall outside it)."""
        first = self.periods[0]
        return (day.year - first.year) * 12 + day.month - first.month

    def rescore(self, values: pl.DataFrame, column: str) -> FloatArray:
        """The score of another value column (e.g. true values) of a frame ``org_code, period, indicator``."""
        return _panel(self, _scored(values, column, self.constants))


def _scored(values: pl.DataFrame, column: str, constants: pl.DataFrame) -> pl.DataFrame:
    return (
        values.join(constants, on=["indicator", "period"], how="inner")
        .with_columns((pl.col("sign") * (pl.col(column) - pl.col("center")) / pl.col("scale")).alias("z"))
        .group_by("org_code", "period")
        .agg(pl.col("z").mean())
    )


def _panel(panel: ScorePanel, scored: pl.DataFrame) -> FloatArray:
    out = np.full((len(panel.codes), len(panel.periods)), np.nan)
    rows = scored.join(
        pl.DataFrame({"org_code": panel.codes, "i": np.arange(len(panel.codes))}), on="org_code"
    ).join(pl.DataFrame({"period": panel.periods, "m": np.arange(len(panel.periods))}), on="period")
    out[rows["i"].to_numpy(), rows["m"].to_numpy()] = rows["z"].to_numpy()
    return out


def month_starts(first: dt.date, last: dt.date) -> list[dt.date]:
    """Every first of the month from ``first``'s month to ``last``'s."""
    out, y, m = [], first.year, first.month
    while (y, m) <= (last.year, last.month):
        out.append(dt.date(y, m, 1))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def score_panel(observations: pl.DataFrame, polarity: Mapping[str, str]) -> ScorePanel:
    """Scores from a long frame ``org_code, period, indicator, value`` of monthly values.

    ``polarity`` names each indicator's polarity; neutral indicators and those not named are left out.
    """
    signs = {k: float(improvement_side(v)) for k, v in polarity.items() if improvement_side(v) != 0}
    frame = (
        observations.select("org_code", "period", "indicator", "value")
        .filter(pl.col("indicator").is_in(list(signs)) & pl.col("value").is_finite())
        .with_columns(pl.col("period").dt.truncate("1mo"))
    )
    if frame.is_empty():
        raise ValueError("no values of a directed indicator to score")
    constants = (
        frame.group_by("indicator", "period")
        .agg(
            pl.col("value").median().alias("center"),
            (pl.col("value") - pl.col("value").median()).abs().median().alias("mad"),
            pl.col("value").std().alias("sd"),
        )
        .with_columns(
            pl.when(pl.col("mad") > 0)
            .then(pl.col("mad") * MAD_TO_SD)
            .when(pl.col("sd") > 0)
            .then(pl.col("sd"))
            .otherwise(1.0)
            .alias("scale"),
            pl.col("indicator").replace_strict(signs, return_dtype=pl.Float64).alias("sign"),
        )
        .select("indicator", "period", "center", "scale", "sign")
    )
    codes = sorted(frame["org_code"].unique().to_list())
    periods = month_starts(frame["period"].min(), frame["period"].max())  # type: ignore[arg-type]
    panel = ScorePanel(codes=codes, periods=periods, score=np.empty((0, 0)), constants=constants)
    return ScorePanel(codes, periods, _panel(panel, _scored(frame, "value", constants)), constants)


def window_mean(score: FloatArray, start: IntArray, window: tuple[int, int]) -> FloatArray:
    """Mean of each row over months ``start + window[0] .. start + window[1]`` (NaN when none is in range)."""
    n, m = score.shape
    offsets = np.arange(window[0], window[1] + 1)
    cols = start[:, None] + offsets[None, :]
    inside = (cols >= 0) & (cols < m)
    values = np.where(inside, score[np.arange(n)[:, None], np.clip(cols, 0, m - 1)], np.nan)
    with np.errstate(invalid="ignore"), _quiet():
        out: FloatArray = np.nanmean(values, axis=1)
    complete = np.isfinite(values).sum(axis=1) >= max(1, math.ceil(offsets.size / 2))
    return np.where(complete & inside.all(axis=1), out, np.nan)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Means of empty windows are NaN by design: no warning."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def features_at(score: FloatArray, s: int, options: EffectOptions) -> FloatArray:
    """Level, prior level, trend and noise of every organisation at month ``s`` (rows x 4; NaN where too little
    data): the before window's mean; the mean of the ``trend_months`` to ``s`` before that window; the
    least-squares slope per month over the ``trend_months`` to ``s``; their mean moving range / 1.128."""
    n, m = score.shape
    level = window_mean(score, np.full(n, s), options.before)
    first = s - options.trend_months + 1
    nothing = np.full(n, np.nan)
    if first < 0 or s >= m:
        return np.column_stack([level, nothing, nothing, nothing])
    block = score[:, first : s + 1]
    x = np.arange(block.shape[1], dtype=np.float64)
    ok = np.isfinite(block)
    count = ok.sum(axis=1)
    earlier = block[:, : max(1, s + options.before[0] - first)]
    with _quiet():
        xm = np.nansum(np.where(ok, x[None, :], np.nan), axis=1) / count
        ym = np.nanmean(block, axis=1)
        dx = np.where(ok, x[None, :] - xm[:, None], 0.0)
        dy = np.where(ok, block - ym[:, None], 0.0)
        trend = (dx * dy).sum(axis=1) / (dx**2).sum(axis=1)
        noise = np.nanmean(np.abs(np.diff(block, axis=1)), axis=1) / XMR_D2
        prior = np.nanmean(earlier, axis=1)
    enough = count >= max(3, (2 * options.trend_months) // 3)
    return np.column_stack([level] + [np.where(enough, v, np.nan) for v in (prior, trend, noise)])


@dataclass(frozen=True)
class Intervention:
    """An intervention to evaluate: who, which arm (development, enforcement, ...), when it started and ended."""

    key: str
    org_code: str
    arm: str
    start: dt.date
    end: dt.date | None = None


@dataclass(frozen=True)
class InterventionEffect:
    """One intervention's estimate against its own comparison group."""

    key: str
    org_code: str
    arm: str
    start: dt.date
    before: float
    after: float
    naive: float
    comparison_change: float
    did: float
    ci_low: float
    ci_high: float
    n_comparison: int
    same_type: bool
    comparison_codes: tuple[str, ...]
    reason: str | None = None
    """Why there is no estimate (not enough months before or after, no comparison organisation)."""


@dataclass(frozen=True)
class ArmEffect:
    """Every evaluated intervention of one arm, pooled: the naive mean change and the stacked DiD."""

    arm: str
    interventions: int
    naive: DidResult
    did: DidResult


@dataclass(frozen=True)
class EffectEstimates:
    options: EffectOptions
    per_intervention: list[InterventionEffect]
    arms: list[ArmEffect]
    stacks: pl.DataFrame = field(repr=False)
    """One row per stack member: key, org_code, treated, change, level, trend, noise."""

    def arm(self, name: str) -> ArmEffect:
        for a in self.arms:
            if a.arm == name:
                return a
        raise KeyError(name)


def _busy(periods_by_org: Mapping[int, list[tuple[int, int]]], n: int, lo: int, hi: int) -> BoolArray:
    """Organisations with an intervention overlapping months ``lo..hi``."""
    out = np.zeros(n, dtype=np.bool_)
    for i, spans in periods_by_org.items():
        out[i] = any(a <= hi and b >= lo for a, b in spans)
    return out


def estimate_effects(
    panel: ScorePanel,
    evaluate: Iterable[Intervention],
    *,
    all_interventions: Iterable[Intervention] | None = None,
    types: Mapping[str, str | None] | None = None,
    options: EffectOptions | None = None,
) -> EffectEstimates:
    """Naive and comparison-group estimates for each intervention in ``evaluate``, and pooled by arm.

    ``all_interventions`` (default: ``evaluate``) are every intervention known, so that no organisation intervened
    on near the time serves as a comparison. ``types`` (organisation type by code) enables matching within type.
    """
    opts = options or EffectOptions()
    wanted = list(evaluate)
    known = list(all_interventions) if all_interventions is not None else wanted
    index = panel.index_of()
    n, m = panel.score.shape
    horizon = m + 1000
    spans: dict[int, list[tuple[int, int]]] = {}
    for iv in known:
        if iv.org_code in index:
            end = panel.month_of(iv.end) if iv.end is not None else horizon
            spans.setdefault(index[iv.org_code], []).append((panel.month_of(iv.start), end))
    type_of = np.asarray([(types or {}).get(c) or "" for c in panel.codes], dtype=object)
    results: list[InterventionEffect] = []
    stack_rows: list[dict[str, object]] = []
    by_month: dict[int, list[Intervention]] = {}
    for iv in wanted:
        by_month.setdefault(panel.month_of(iv.start), []).append(iv)
    for s, group in sorted(by_month.items()):
        feats = features_at(panel.score, s, opts)
        after = window_mean(panel.score, np.full(n, s), opts.after)
        change = after - feats[:, 0]
        busy = _busy(spans, n, s - opts.lookback_months, s)
        pool = ~busy & np.isfinite(change) & np.isfinite(feats).all(axis=1)
        used = [FEATURES.index(f) for f in opts.match_on]
        scale = feature_scale(feats[pool][:, used]) if pool.sum() >= 2 else np.ones(len(used))
        for iv in group:
            i = index.get(iv.org_code)
            if i is None:
                results.append(_missing(iv, "no scored values for this organisation"))
                continue
            if not (np.isfinite(change[i]) and np.isfinite(feats[i]).all()):
                results.append(_missing(iv, "not enough months of data before or after the start"))
                continue
            candidates = pool.copy()
            candidates[i] = False
            same_type = False
            if opts.exact_type and type_of[i]:
                typed = candidates & (type_of == type_of[i])
                if typed.sum() >= opts.neighbours:
                    candidates, same_type = typed, True
            cand = np.flatnonzero(candidates)
            if cand.size == 0:
                results.append(_missing(iv, "no organisation without an intervention to compare with"))
                continue
            k = min(opts.neighbours, cand.size)
            match = nearest_neighbours(feats[i : i + 1, used], feats[cand][:, used], k, scale=scale)
            chosen = cand[match.index[0][match.index[0] >= 0]]
            comp = change[chosen]
            did = float(change[i] - comp.mean())
            if comp.size >= 2:
                half = float(sps.t.ppf(0.5 + opts.level / 2, comp.size - 1)) * float(
                    comp.std(ddof=1) * math.sqrt(1 + 1 / comp.size)
                )
            else:
                half = math.nan
            results.append(
                InterventionEffect(
                    key=iv.key,
                    org_code=iv.org_code,
                    arm=iv.arm,
                    start=iv.start,
                    before=float(feats[i, 0]),
                    after=float(after[i]),
                    naive=float(change[i]),
                    comparison_change=float(comp.mean()),
                    did=did,
                    ci_low=did - half,
                    ci_high=did + half,
                    n_comparison=int(comp.size),
                    same_type=same_type,
                    comparison_codes=tuple(panel.codes[c] for c in chosen),
                )
            )
            for member, treated in [(i, True), *[(int(c), False) for c in chosen]]:
                stack_rows.append(
                    {
                        "key": iv.key,
                        "arm": iv.arm,
                        "org_code": panel.codes[member],
                        "treated": treated,
                        "change": float(change[member]),
                        **{f: float(feats[member, j]) for j, f in enumerate(FEATURES)},
                    }
                )
    stacks = pl.DataFrame(
        stack_rows,
        schema={
            "key": pl.String,
            "arm": pl.String,
            "org_code": pl.String,
            "treated": pl.Boolean,
            "change": pl.Float64,
            **dict.fromkeys(FEATURES, pl.Float64),
        },
    )
    arms = [pooled(stacks, arm, opts) for arm in sorted(set(stacks["arm"].to_list()))]
    return EffectEstimates(
        options=opts, per_intervention=results, arms=[a for a in arms if a is not None], stacks=stacks
    )


def pooled(stacks: pl.DataFrame, arm: str, options: EffectOptions) -> ArmEffect | None:
    """The naive mean change and the stacked DiD over one arm's stacks (None with fewer than two treated)."""
    rows = stacks.filter(pl.col("arm") == arm)
    treated = rows.filter(pl.col("treated"))
    if treated.height < 2:
        return None
    naive = mean_change(treated["change"].to_numpy(), treated["org_code"].to_numpy(), level=options.level)
    covariates = rows.select(options.match_on).to_numpy() if options.adjust else None
    did = stacked_did(
        rows["change"].to_numpy(),
        rows["treated"].to_numpy(),
        rows["key"].to_numpy(),
        rows["org_code"].to_numpy(),
        covariates=covariates,
        level=options.level,
    )
    return ArmEffect(arm=arm, interventions=treated.height, naive=naive, did=did)


def _missing(iv: Intervention, reason: str) -> InterventionEffect:
    nan = math.nan
    return InterventionEffect(
        key=iv.key,
        org_code=iv.org_code,
        arm=iv.arm,
        start=iv.start,
        before=nan,
        after=nan,
        naive=nan,
        comparison_change=nan,
        did=nan,
        ci_low=nan,
        ci_high=nan,
        n_comparison=0,
        same_type=False,
        comparison_codes=(),
        reason=reason,
    )
