"""Difference-in-differences with staggered adoption: Callaway & Sant'Anna (2021), unconditional, balanced panel.

For each group ``g`` (the units first treated in period ``g``) and period ``t``, ``ATT(g, t)`` compares the change in
outcome of group ``g`` from a base period to ``t`` with the same change in a comparison group:

- comparison: the never-treated units (``control="never"``), or the units not yet treated by ``t``
  (``control="not_yet"``: never treated, or first treated after both ``t`` and the base period);
- base period: ``g - 1`` for ``t >= g``; for the pre-periods ``t < g``, ``t - 1`` ("varying", the R package's
  default, so that the pre-period cells test parallel trends one step at a time) or ``g - 1`` ("universal").

Without covariates the outcome-regression, inverse-probability and doubly robust estimators of the R package
``did`` all reduce to this difference of mean changes. Each ``ATT(g, t)`` has an influence function per unit, from
which come the analytic standard errors and the multiplier bootstrap (Mammen's two-point weights, standard errors
from the bootstrap's interquartile range, simultaneous bands from the maximum t over cells, as ``did`` does).

Aggregations follow ``did::aggte``: ``simple`` (post-treatment cells weighted by group size), ``group`` (each
group's average over its post-treatment periods, then averaged by group size) and ``dynamic`` (event time
``e = t - g``, averaged by group size; the overall figure averages ``e >= 0``). Their influence functions include the
estimation of the group-size weights.

Checked against ``did``'s README on its ``mpdta`` data (docs/experiments.md): every ATT(g, t) to four decimals,
the group aggregate -0.031 and the dynamic aggregate -0.0772.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd  # type: ignore[import-untyped]
from scipy import stats

Control = Literal["never", "not_yet"]
BasePeriod = Literal["varying", "universal"]

__all__ = ["Aggregate", "GroupTime", "StaggeredResult", "callaway_santanna"]


@dataclass(frozen=True)
class GroupTime:
    group: int
    time: int
    att: float
    std_error: float
    n_group: int
    n_control: int

    @property
    def post(self) -> bool:
        return self.time >= self.group


@dataclass(frozen=True)
class Aggregate:
    """An aggregated effect, with its pieces (group or event time -> estimate, standard error)."""

    kind: str
    att: float
    std_error: float
    ci_low: float
    ci_high: float
    pieces: dict[int, tuple[float, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "att": self.att,
            "std_error": self.std_error,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "pieces": [
                {"key": k, "estimate": e, "std_error": s} for k, (e, s) in sorted(self.pieces.items())
            ],
        }


@dataclass(frozen=True)
class StaggeredResult:
    cells: tuple[GroupTime, ...]
    influence: np.ndarray  # units x cells
    group_of_unit: np.ndarray
    n_units: int
    control: str
    base_period: str
    alpha: float
    bootstrap_std_errors: np.ndarray | None
    simultaneous_critical: float | None
    seed: int | None

    def cell(self, group: int, time: int) -> GroupTime:
        for c in self.cells:
            if c.group == group and c.time == time:
                return c
        raise KeyError((group, time))

    def _weights_if(self, keep: np.ndarray, pg: np.ndarray) -> np.ndarray:
        """Influence of estimating the weights ``pg[keep] / sum(pg[keep])`` (``did``'s ``wif``)."""
        groups = np.array([c.group for c in self.cells])
        indicators = (self.group_of_unit[:, None] == groups[None, :]).astype(float)  # units x cells
        total = pg[keep].sum()
        if1 = (indicators[:, keep] - pg[keep]) / total
        if2 = (indicators[:, keep] - pg[keep]).sum(axis=1, keepdims=True) * pg[keep][None, :] / total**2
        return np.asarray(if1 - if2, dtype=float)

    def _combine(self, keep: np.ndarray, weights_from_pg: bool = True) -> tuple[float, np.ndarray]:
        att = np.array([c.att for c in self.cells])
        pg = np.array([c.n_group / self.n_units for c in self.cells])
        w = pg[keep] / pg[keep].sum()
        estimate = float(att[keep] @ w)
        inf = self.influence[:, keep] @ w
        if weights_from_pg:
            inf = inf + self._weights_if(keep, pg) @ att[keep]
        return estimate, inf

    def _se(self, inf: np.ndarray) -> float:
        return float(np.sqrt(np.mean(inf**2) / self.n_units))

    def _aggregate(
        self, kind: str, estimate: float, inf: np.ndarray, pieces: dict[int, tuple[float, float]]
    ) -> Aggregate:
        se = self._se(inf)
        z = float(stats.norm.ppf(1 - self.alpha / 2))
        return Aggregate(kind, estimate, se, estimate - z * se, estimate + z * se, pieces)

    def simple(self) -> Aggregate:
        keep = np.array([c.post for c in self.cells])
        estimate, inf = self._combine(keep)
        return self._aggregate("simple", estimate, inf, {})

    def group(self) -> Aggregate:
        groups = sorted({c.group for c in self.cells})
        pieces: dict[int, tuple[float, float]] = {}
        infs = []
        for g in groups:
            keep = np.array([c.post and c.group == g for c in self.cells])
            att = np.array([c.att for c in self.cells])[keep]
            inf = self.influence[:, keep].mean(axis=1)
            infs.append(inf)
            pieces[g] = (float(att.mean()), self._se(inf))
        sizes = np.array([next(c.n_group for c in self.cells if c.group == g) for g in groups], dtype=float)
        pg = sizes / self.n_units
        w = pg / pg.sum()
        theta = np.array([pieces[g][0] for g in groups])
        inf = np.column_stack(infs) @ w
        indicators = (self.group_of_unit[:, None] == np.array(groups)[None, :]).astype(float)
        if1 = (indicators - pg) / pg.sum()
        if2 = (indicators - pg).sum(axis=1, keepdims=True) * pg[None, :] / pg.sum() ** 2
        inf = inf + (if1 - if2) @ theta
        return self._aggregate("group", float(theta @ w), inf, pieces)

    def dynamic(self) -> Aggregate:
        events = sorted({c.time - c.group for c in self.cells})
        pieces: dict[int, tuple[float, float]] = {}
        post_infs = []
        post_estimates = []
        for e in events:
            keep = np.array([c.time - c.group == e for c in self.cells])
            estimate, inf = self._combine(keep)
            pieces[e] = (estimate, self._se(inf))
            if e >= 0:
                post_infs.append(inf)
                post_estimates.append(estimate)
        inf = np.column_stack(post_infs).mean(axis=1)
        return self._aggregate("dynamic", float(np.mean(post_estimates)), inf, pieces)

    def to_dict(self) -> dict[str, object]:
        boot = self.bootstrap_std_errors
        return {
            "method": "difference-in-differences, staggered adoption (Callaway & Sant'Anna 2021)",
            "control": self.control,
            "base_period": self.base_period,
            "units": self.n_units,
            "cells": [
                {
                    "group": c.group,
                    "time": c.time,
                    "att": c.att,
                    "std_error": c.std_error,
                    "bootstrap_std_error": None if boot is None else float(boot[i]),
                    "post": c.post,
                }
                for i, c in enumerate(self.cells)
            ],
            "simultaneous_critical_value": self.simultaneous_critical,
            "simple": self.simple().to_dict(),
            "group": self.group().to_dict(),
            "dynamic": self.dynamic().to_dict(),
            "bootstrap_seed": self.seed,
        }


def _mammen(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    root5 = np.sqrt(5.0)
    low, high = (1 - root5) / 2, (1 + root5) / 2
    p_low = (root5 + 1) / (2 * root5)
    return np.asarray(np.where(rng.random(shape) < p_low, low, high), dtype=float)


def callaway_santanna(
    frame: pd.DataFrame,
    *,
    unit: str,
    time: str,
    outcome: str,
    group: str,
    control: Control = "never",
    base_period: BasePeriod = "varying",
    alpha: float = 0.05,
    bootstrap: int = 999,
    seed: int | None = 0,
) -> StaggeredResult:
    """Group-time average treatment effects from a balanced panel.

    ``group`` holds each unit's first treated period (0 or missing for never treated); ``bootstrap`` the number of
    multiplier-bootstrap draws (0 for analytic standard errors only).
    """
    data = frame[[unit, time, outcome, group]].copy()
    data[group] = data[group].fillna(0).astype(int)
    wide = data.pivot_table(index=unit, columns=time, values=outcome, aggfunc="first")
    if wide.isna().any().any():
        raise ValueError("the panel must be balanced: every unit needs the outcome in every period")
    first = data.groupby(unit)[group].first().reindex(wide.index)
    if (data.groupby(unit)[group].nunique() > 1).any():
        raise ValueError("a unit's first treated period must not change over time")
    periods = [int(p) for p in wide.columns]
    y = wide.to_numpy(dtype=float)
    g_unit = first.to_numpy(dtype=int)
    # Units treated in (or before) the first period have no pre-period: left out, as did does.
    usable = (g_unit == 0) | (g_unit > periods[0])
    y, g_unit = y[usable], g_unit[usable]
    n = len(g_unit)
    groups = sorted({int(g) for g in g_unit if g > 0 and g <= periods[-1]})
    if not groups:
        raise ValueError("no unit is first treated inside the panel")
    if control == "never" and not (g_unit == 0).any():
        raise ValueError("no never-treated unit: use control='not_yet'")
    column = {p: i for i, p in enumerate(periods)}
    cells: list[GroupTime] = []
    influence: list[np.ndarray] = []
    for g in groups:
        for t in periods[1:]:
            base = (g - 1 if t >= g else t - 1) if base_period == "varying" else g - 1
            if base not in column or base == t:
                continue
            change = y[:, column[t]] - y[:, column[base]]
            treated = g_unit == g
            if control == "never":
                comparison = g_unit == 0
            else:
                comparison = (g_unit == 0) | (g_unit > max(t, base))
                comparison &= ~treated
            n_d, n_c = int(treated.sum()), int(comparison.sum())
            if n_d == 0 or n_c == 0:
                continue
            mu_d = change[treated].mean()
            mu_c = change[comparison].mean()
            inf = np.zeros(n)
            inf[treated] = (n / n_d) * (change[treated] - mu_d)
            inf[comparison] -= (n / n_c) * (change[comparison] - mu_c)
            influence.append(inf)
            cells.append(GroupTime(g, t, float(mu_d - mu_c), float(np.sqrt(np.mean(inf**2) / n)), n_d, n_c))
    inf_matrix = np.column_stack(influence)
    boot_se = None
    crit = None
    if bootstrap:
        rng = np.random.default_rng(seed)
        draws = np.empty((bootstrap, inf_matrix.shape[1]))
        chunk = 200
        for start in range(0, bootstrap, chunk):
            size = min(chunk, bootstrap - start)
            v = _mammen(rng, (size, n))
            draws[start : start + size] = np.sqrt(n) * (v @ inf_matrix) / n
        q75, q25 = np.quantile(draws, [0.75, 0.25], axis=0)
        sigma = (q75 - q25) / (stats.norm.ppf(0.75) - stats.norm.ppf(0.25))
        boot_se = sigma / np.sqrt(n)
        ok = sigma > 0
        t_max = np.max(np.abs(draws[:, ok] / sigma[ok]), axis=1)
        crit = float(np.quantile(t_max, 1 - alpha))
    return StaggeredResult(
        cells=tuple(cells),
        influence=inf_matrix,
        group_of_unit=g_unit,
        n_units=n,
        control=control,
        base_period=base_period,
        alpha=alpha,
        bootstrap_std_errors=boot_se,
        simultaneous_critical=crit,
        seed=seed,
    )
