"""Positive deviants: among an organisation's statistical neighbours, those doing better than noise allows on an
indicator, or improving in a sustained way. ``forewarn deviants --indicator CODE [--org ORG]``.

For each organisation, its group is itself and its k neighbours (outcome-specific for the indicator when context
predicts it, else the CIPFA-style fixed weights: :mod:`.neighbours`). Within the group:

- **level**: the scan's over-dispersion-aware funnel (:func:`forewarn.stats.funnel.funnel_statistics`, winsorised
  z-scores and DerSimonian-Laird tau^2, as the CQC; :func:`forewarn.stats.estimate_funnel.estimate_funnel` for
  estimates with a standard error) over the group's totals in the indicator's latest year, centred on the group's
  pooled value; a neighbour outside the group's limits on the improvement side (:func:`forewarn.domain.improvement_side`)
  is a deviant by level;
- **improvement**: the Making Data Count XmR chart (:func:`forewarn.stats.spc.xmr_chart`) of the neighbour's gap
  to the group's other members at each period (its value minus their mean, so a trend or season the whole group
  shares cancels); a run of ``shift_length`` or more points on the improving side of the chart's mean that
  continues to the latest point (a sustained shift, still going) is a deviant by improvement.

Every deviant is listed with the 95% interval of its level and the group's limits at its size, in the order of
their names: never ranked, because a ranking of the best would be a league table whose order is mostly noise.
The funnel of every group is one vectorised call (one funnel id per group); the SPC charts one call over every
organisation's series.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Connection

from forewarn.domain import Polarity, improvement_direction, improvement_side
from forewarn.peers.context import Context, load_context, organisation_by_code
from forewarn.peers.levels import IndicatorLevels, indicator_levels
from forewarn.peers.neighbours import fixed_weights
from forewarn.stats.arrays import BoolArray, FloatArray, IntArray
from forewarn.stats.estimate_funnel import estimate_funnel
from forewarn.stats.funnel import funnel_statistics
from forewarn.stats.intervals import Interval, normal_interval, poisson_ratio_interval, proportion_interval
from forewarn.stats.neighbours import DEFAULT_K, OutcomeWeights, design, nearest, outcome_weights
from forewarn.stats.spc import SpcOptions, xmr_chart
from forewarn.surveillance.compute import funnel_options
from forewarn.surveillance.kinds import COUNT_KINDS
from forewarn.surveillance.options import ScanOptions

DEFAULT_LIMIT = 99.8
"""The funnel limit (percent): the scan's own, so a deviant is as far from its group as a scan outlier would be."""
INTERVAL_COVERAGE = 95.0
MIN_EVENTS_PER_POINT = 5.0
"""A series of counts gets an SPC chart only when its points average at least this many events (for a
proportion, of the rarer outcome): below it most points are 0, 1 or 2 and a run of zeros on the "good" side of
the mean is the usual thing, not a shift (the np >= 5 rule of thumb for treating a count as continuous)."""


@dataclass(frozen=True)
class Deviant:
    organisation_id: int
    code: str
    name: str
    level: float | None
    lower: float | None  # 95% interval of the level
    upper: float | None
    by_level: bool
    by_improvement: bool
    z: float | None = None  # within the group's funnel, over-dispersion allowed
    limit_lower: float | None = None  # the group's funnel limits at this organisation's size
    limit_upper: float | None = None
    shift_since: dt.date | None = None  # first period of the run of improving points that continues now
    shift_points: int | None = None
    run_gap: float | None = None  # mean gap to the group's other members over the run ...
    usual_gap: float | None = None  # ... against the chart's mean gap


@dataclass(frozen=True)
class Group:
    """One organisation's neighbour group and the deviants in it."""

    organisation_id: int
    code: str
    name: str
    level: float | None
    lower: float | None
    upper: float | None
    neighbours: int
    target: float | None  # the group's pooled level (the funnel's centre)
    phi: float | None
    tau2: float | None
    deviants: list[Deviant]


@dataclass(frozen=True)
class DeviantsReport:
    indicator: str
    indicator_name: str
    polarity: str
    kind: str
    as_of: dt.date
    window_end: dt.date | None
    window_days: int
    k: int
    limit: float
    neighbours_by: str  # "outcome" or "fixed"
    r2_cv: float | None
    groups: list[Group]
    funnel: bool  # whether levels could be compared (counts, or estimates with standard errors)
    expected_by_chance: (
        float  # level deviants a group of k in-control neighbours would show by chance, summed
    )
    notes: list[str] = field(default_factory=list)

    @property
    def n_deviants(self) -> int:
        return sum(len(g.deviants) for g in self.groups)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["n_deviants"] = self.n_deviants
        plain: dict[str, Any] = _plain(out)
        return plain


def _plain(value: Any) -> Any:
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def find_deviants(
    conn: Connection,
    indicator: str,
    *,
    organisation: str | None = None,
    k: int = DEFAULT_K,
    limit: float = DEFAULT_LIMIT,
    as_of: dt.date | None = None,
    dataset_of: str | None = None,
    seed: int = 0,
) -> DeviantsReport:
    """The positive deviants among each organisation's neighbours (one organisation's with ``organisation``).

    Without ``organisation`` the population is the dataset of the organisation ``dataset_of`` names, else of the
    indicator's first organisation."""
    anchor = organisation or dataset_of
    if anchor is not None:
        organisation_id, dataset_id, _ = organisation_by_code(conn, anchor)
    else:
        organisation_id, dataset_id = None, _indicator_dataset(conn, indicator)
    context = load_context(conn, dataset_id, as_of)
    levels = indicator_levels(conn, context, indicator)
    query = None if organisation is None else [context.row_of(int(organisation_id))]  # type: ignore[arg-type]
    return deviants_in(context, levels, query=query, k=k, limit=limit, seed=seed)


def _indicator_dataset(conn: Connection, indicator: str) -> int | None:
    from sqlalchemy import select

    from forewarn.store.models import Indicator, Observation, Organisation

    found = conn.execute(
        select(Organisation.dataset_id)
        .join(Observation, Observation.organisation_id == Organisation.id)
        .join(Indicator, Indicator.id == Observation.indicator_id)
        .where(Indicator.code == indicator.strip())
        .limit(1)
    ).scalar_one_or_none()
    return None if found is None else int(found)


def neighbour_groups(
    context: Context,
    levels: IndicatorLevels,
    rows: IntArray,
    k: int,
    seed: int = 0,
    learnt: OutcomeWeights | None = None,
) -> tuple[IntArray, str, float | None]:
    """Each row's k neighbours among the organisations with a level (outcome weights when context predicts the
    indicator, else fixed), as a (rows, k) array of context rows; the weighting used; its cross-validated R^2.
    ``learnt``: the outcome weights already learnt from these levels and context (else fitted here)."""
    numeric = context.distance_numeric()
    d = design(numeric, context.categorical)
    has = levels.has_level
    if learnt is None:
        learnt = outcome_weights(d, levels.level, seed=seed, sample_weight=levels.precision())
    if learnt.informative:
        weights, by = learnt.weights, "outcome"
    else:
        weights, by = fixed_weights(context), "fixed"
    found = nearest(d, weights, k, query=rows, candidates=has)
    r2 = float(learnt.r2_cv) if np.isfinite(learnt.r2_cv) else None
    return found.index, by, r2


def deviants_in(
    context: Context,
    levels: IndicatorLevels,
    *,
    query: list[int] | None = None,
    k: int = DEFAULT_K,
    limit: float = DEFAULT_LIMIT,
    options: ScanOptions | None = None,
    seed: int = 0,
    learnt: OutcomeWeights | None = None,
) -> DeviantsReport:
    """:func:`find_deviants` on a context and levels already read (and the outcome weights learnt from them, when
    ``learnt`` is given: :mod:`forewarn.peers.population`)."""
    options = options or ScanOptions()
    meta = levels.indicator
    notes: list[str] = []
    has = levels.has_level
    rows = np.flatnonzero(has) if query is None else np.asarray(query, dtype=np.int64)
    side = improvement_side(meta.polarity)
    empty = DeviantsReport(
        indicator=meta.code,
        indicator_name=meta.name,
        polarity=meta.polarity,
        kind=meta.kind,
        as_of=context.as_of,
        window_end=levels.window_end,
        window_days=levels.window_days,
        k=k,
        limit=limit,
        neighbours_by="fixed",
        r2_cv=None,
        groups=[],
        funnel=False,
        expected_by_chance=0.0,
        notes=notes,
    )
    if meta.polarity == Polarity.NEUTRAL.value:
        notes.append(f"{meta.code} is neutral (neither direction is better): nobody deviates positively.")
        return empty
    if not context.attributes:
        notes.append("No context attributes are known for this population: no neighbours, no deviants.")
        return empty
    if has.sum() < 3:
        notes.append(f"Fewer than 3 organisations have a level on {meta.code} in its latest year.")
        return empty
    groups, by, r2 = neighbour_groups(context, levels, rows, k, seed, learnt)
    k_eff = groups.shape[1]
    members = np.concatenate(
        [rows[:, None], groups], axis=1
    )  # (q, 1 + k): the organisation, then its neighbours
    level_flag, z, lim_lo, lim_hi, target, phi, tau2, funnel_ok = _group_funnels(levels, members, limit, side)
    if not funnel_ok:
        notes.append(
            f"{meta.code}'s values come without counts or standard errors: levels cannot be compared with noise, "
            "only sustained improvement (SPC) is shown."
        )
    improving, since, points, run_gap, usual_gap = _sustained_improvement(levels, members, options, side)
    interval = level_interval(levels)
    out_groups: list[Group] = []
    for g, row in enumerate(rows.tolist()):
        found: list[Deviant] = []
        for j in range(1, k_eff + 1):
            r = int(members[g, j])
            by_level = bool(level_flag[g, j])
            by_improvement = bool(improving[g, j])
            if not (by_level or by_improvement):
                continue
            found.append(
                Deviant(
                    organisation_id=int(context.organisation_id[r]),
                    code=context.code[r],
                    name=context.name[r],
                    level=_num(levels.level[r]),
                    lower=_num(interval.lower[r]),
                    upper=_num(interval.upper[r]),
                    by_level=by_level,
                    by_improvement=by_improvement,
                    z=_num(z[g, j]),
                    limit_lower=_num(lim_lo[g, j]),
                    limit_upper=_num(lim_hi[g, j]),
                    shift_since=since[g, j] if by_improvement else None,
                    shift_points=int(points[g, j]) if by_improvement else None,
                    run_gap=_num(run_gap[g, j]) if by_improvement else None,
                    usual_gap=_num(usual_gap[g, j]) if by_improvement else None,
                )
            )
        found.sort(key=lambda d: (d.name.casefold(), d.code))
        out_groups.append(
            Group(
                organisation_id=int(context.organisation_id[row]),
                code=context.code[row],
                name=context.name[row],
                level=_num(levels.level[row]),
                lower=_num(interval.lower[row]),
                upper=_num(interval.upper[row]),
                neighbours=k_eff,
                target=_num(target[g]),
                phi=_num(phi[g]),
                tau2=_num(tau2[g]),
                deviants=found,
            )
        )
    # One-sided: a neighbour in control is beyond the improving limit with probability (1 - limit/100) / 2.
    chance = float(len(rows) * k_eff * (1 - limit / 100) / 2) if funnel_ok else 0.0
    return DeviantsReport(
        indicator=meta.code,
        indicator_name=meta.name,
        polarity=meta.polarity,
        kind=meta.kind,
        as_of=context.as_of,
        window_end=levels.window_end,
        window_days=levels.window_days,
        k=k,
        limit=limit,
        neighbours_by=by,
        r2_cv=r2,
        groups=out_groups,
        funnel=funnel_ok,
        expected_by_chance=chance,
        notes=notes,
    )


def _num(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def level_interval(levels: IndicatorLevels) -> Interval:
    """The 95% interval of every organisation's level (exact binomial, exact Poisson or normal by kind)."""
    meta = levels.indicator
    if meta.kind == "proportion":
        return proportion_interval(levels.numerator, levels.denominator, INTERVAL_COVERAGE)
    if meta.kind == "rate":
        return poisson_ratio_interval(
            levels.numerator, levels.denominator, INTERVAL_COVERAGE, multiplier=meta.multiplier
        )
    if meta.kind == "ratio_oe":
        return poisson_ratio_interval(levels.numerator, levels.expected, INTERVAL_COVERAGE)
    return normal_interval(levels.estimate, levels.standard_error, INTERVAL_COVERAGE)


def _group_funnels(
    levels: IndicatorLevels, members: IntArray, limit: float, side: int
) -> tuple[BoolArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray, bool]:
    """Every group's funnel in one call: flags on the improvement side, adjusted z, the limits at each member's
    size (on the level's scale), and per group the target, phi and tau^2."""
    q, width = members.shape
    flat = members.ravel()
    fid = np.repeat(np.arange(q), width)
    flag = np.zeros((q, width), dtype=bool)
    nan = np.full((q, width), np.nan)
    z, lo, hi = nan.copy(), nan.copy(), nan.copy()
    target, phi, tau2 = np.full(q, np.nan), np.full(q, np.nan), np.full(q, np.nan)
    meta = levels.indicator
    kind = meta.kind
    scale = 1.0
    pooled = np.ones(q)
    if kind in ("proportion", "rate", "ratio_oe"):
        num = levels.numerator[flat]
        if kind == "proportion":
            den = levels.denominator[flat]
            options = funnel_options("PR", limit)
            ok = np.isfinite(num) & np.isfinite(den) & (den > 0) & (num <= den)
        else:
            if kind == "rate":
                # As the scan: a rate becomes a ratio to the group's pooled rate (expected = size x that rate).
                size = levels.denominator[flat]
                good = np.isfinite(num) & np.isfinite(size) & (size > 0)
                pooled = np.bincount(fid, np.where(good, num, 0), q) / np.bincount(
                    fid, np.where(good, size, 0), q
                )
                den = size * pooled[fid]
                scale = meta.multiplier
            else:
                den = levels.expected[flat]
            options = funnel_options("SR", limit)
            ok = np.isfinite(num) & np.isfinite(den) & (den > 0)
        # A member without counts is left out of its group's funnel (its flags stay off).
        keep = np.flatnonzero(ok)
        if keep.size:
            result = funnel_statistics(
                num[keep], den[keep], fid[keep], n_funnels=q, options=options, target="pooled"
            )
            # Outside the limits on the improvement side, and by the adjusted z too: where a funnel's limits are
            # exact Poisson or binomial ones, a zero count is "outside" a lower limit of 1e-20 by itself.
            beyond = side * result.z_adjusted > options.quantile
            high = result.outlier_high if side > 0 else result.outlier_low
            flag.ravel()[keep] = high & beyond
            z.ravel()[keep] = result.z_adjusted
            # Back to the level's scale: a rate's ratio times the group's pooled rate (and the multiplier).
            unit_scale = scale * pooled[fid[keep]]
            lo.ravel()[keep] = result.lower * unit_scale
            hi.ravel()[keep] = result.upper * unit_scale
            target[:] = result.target * pooled * scale
            phi[:], tau2[:] = result.phi, result.tau2_applied
        return flag, z, lo, hi, target, phi, tau2, True
    est, se = levels.estimate[flat], levels.standard_error[flat]
    ok = np.isfinite(est) & np.isfinite(se) & (se > 0)
    if not ok.any():
        return flag, z, lo, hi, target, phi, tau2, False
    keep = np.flatnonzero(ok)
    estimates = estimate_funnel(est[keep], se[keep], fid[keep], n_funnels=q, limit=limit)
    beyond = est[keep] > estimates.upper if side > 0 else est[keep] < estimates.lower
    flag.ravel()[keep] = beyond
    z.ravel()[keep] = estimates.z
    lo.ravel()[keep] = estimates.lower
    hi.ravel()[keep] = estimates.upper
    target[:], phi[:], tau2[:] = estimates.target, estimates.phi, estimates.tau2
    return flag, z, lo, hi, target, phi, tau2, True


def _sustained_improvement(
    levels: IndicatorLevels, members: IntArray, options: ScanOptions, side: int
) -> tuple[BoolArray, NDArray[np.object_], IntArray, FloatArray, FloatArray]:
    """Per group and member (shape of ``members``): whether the member's gap to the group's other members ends in
    a shift on the improving side (a run of at least ``spc_shift_length`` points on that side of the XmR chart's
    mean that reaches the latest point), when the run began, how many points it has, the mean gap over the run
    and the chart's mean gap.

    The chart is of ``value - mean of the other members' values`` at each period, so a trend or a season the whole
    group shares (every organisation improving together) is not a deviant's improvement."""
    q, width = members.shape
    improving = np.zeros((q, width), dtype=bool)
    since = np.full((q, width), None, dtype=object)
    points = np.zeros((q, width), dtype=np.int64)
    run_gap, usual_gap = np.full((q, width), np.nan), np.full((q, width), np.nan)
    if side == 0 or levels.series.shape[1] == 0:
        return improving, since, points, run_gap, usual_gap
    values = levels.series[members]  # (q, w, T)
    seen = np.isfinite(values)
    filled = np.where(seen, values, 0.0)
    total, count = filled.sum(axis=1), seen.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        others = (total[:, None, :] - filled) / (count[:, None, :] - seen)
    gap = np.where(seen & np.isfinite(others), values - others, np.nan)
    enough = np.isfinite(gap).sum(axis=2) >= options.spc_min_points
    enough[:, 0] = False  # the organisation itself is not its own deviant
    if levels.indicator.kind in (*COUNT_KINDS, "count"):
        enough &= levels.events_per_period[members] >= MIN_EVENTS_PER_POINT
    g_idx, m_idx = np.nonzero(enough)
    if g_idx.size == 0:
        return improving, since, points, run_gap, usual_gap
    panel = gap[g_idx, m_idx]
    chart = xmr_chart(
        panel,
        SpcOptions(
            improvement=improvement_direction(levels.indicator.polarity),
            shift_length=options.spc_shift_length,
            trend_length=options.spc_trend_length,
        ),
    )
    observed = np.isfinite(panel)
    t = panel.shape[1]
    last = t - 1 - np.argmax(observed[:, ::-1], axis=1)
    idx = np.arange(g_idx.size)
    on_side = chart.relative_to_mean == side
    now = chart.shift[idx, last] & on_side[idx, last]
    # The trailing run on the improving side, counted back from the latest observed point.
    upto = np.arange(t)[None, :] <= last[:, None]
    broken = upto & ~on_side
    start = np.where(broken.any(axis=1), t - 1 - np.argmax(broken[:, ::-1], axis=1), -1) + 1
    in_run = (np.arange(t)[None, :] >= start[:, None]) & upto & observed
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_run = np.where(in_run, panel, 0.0).sum(axis=1) / in_run.sum(axis=1)
    improving[g_idx, m_idx] = now
    points[g_idx, m_idx] = np.where(now, in_run.sum(axis=1), 0)
    run_gap[g_idx, m_idx] = np.where(now, mean_run, np.nan)
    usual_gap[g_idx, m_idx] = chart.mean[idx, last]
    for i in np.flatnonzero(now).tolist():
        since[g_idx[i], m_idx[i]] = levels.periods[int(start[i])]
    return improving, since, points, run_gap, usual_gap


__all__ = [
    "DEFAULT_LIMIT",
    "Deviant",
    "DeviantsReport",
    "Group",
    "deviants_in",
    "find_deviants",
    "level_interval",
]
