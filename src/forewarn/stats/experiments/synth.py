"""Synthetic control (Abadie, Diamond & Hainmueller 2010) with in-space placebo inference, written with SciPy.

A synthetic control is a weighted average of untreated ("donor") units, weights ``w >= 0`` summing to one, chosen
so that the weighted donors match the treated unit's predictors before the intervention. As in ADH's ``Synth``:

- predictors (rows of ``X``) are scaled by their standard deviation across all units;
- for given predictor importances ``v`` (non-negative, summing to one), ``w(v)`` minimises
  ``(X1 - X0 w)' diag(v) (X1 - X0 w)`` on the simplex (a small quadratic programme: SLSQP from a non-negative
  least-squares start);
- ``v`` is chosen to minimise the mean squared prediction error of the outcome over the pre-intervention periods
  (``Z1 - Z0 w(v)``), by Nelder-Mead from several starts (equal importances, each predictor's inverse variance,
  and the regression-based start of ``Synth``), keeping the best.

The gap ``Y1 - Y0 w`` after the intervention is the estimated effect. Inference is by placebos in space: each donor
in turn is treated as if it had been treated (the others its donors), and the ratio of post- to pre-intervention
root mean squared prediction error (RMSPE) of the real treated unit is ranked among all of them; the p-value is its
rank over the number of units (ADH 2010 section 3.3; 1/39 = 0.026 for California).

Checked against ADH's published California weights (Utah 0.394, Nevada 0.234, Montana 0.199, Colorado 0.164,
Connecticut 0.069) and gap (about -26 packs a head by 2000): docs/experiments.md gives the comparison.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd  # type: ignore[import-untyped]
from scipy import optimize

__all__ = [
    "Predictor",
    "SynthFit",
    "SynthResult",
    "fit_weights",
    "synthetic_control",
]


@dataclass(frozen=True)
class Predictor:
    """One predictor: ``column`` averaged over ``periods`` (ignoring missing values)."""

    column: str
    periods: tuple[int, ...]
    label: str = ""

    @property
    def name(self) -> str:
        if self.label:
            return self.label
        span = f"{self.periods[0]}" if len(self.periods) == 1 else f"{self.periods[0]}-{self.periods[-1]}"
        return f"{self.column} {span}"


@dataclass(frozen=True)
class SynthFit:
    """Weights, importances and the fit's loss for one treated unit."""

    weights: np.ndarray
    importances: np.ndarray
    pre_mspe: float
    predictor_loss: float


@dataclass(frozen=True)
class SynthResult:
    """The synthetic control for the treated unit, its gap and (when asked) the placebos."""

    treated: str
    donors: tuple[str, ...]
    weights: dict[str, float]
    importances: dict[str, float]
    predictors: pd.DataFrame  # treated, synthetic, donor mean per predictor
    periods: np.ndarray
    treated_outcome: np.ndarray
    synthetic_outcome: np.ndarray
    intervention: int
    pre_rmspe: float
    post_rmspe: float
    placebo_ratios: dict[str, float] = field(default_factory=dict)
    placebo_pre_rmspe: dict[str, float] = field(default_factory=dict)
    placebo_gaps: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def gap(self) -> np.ndarray:
        return np.asarray(self.treated_outcome - self.synthetic_outcome, dtype=float)

    @property
    def post(self) -> np.ndarray:
        return self.periods >= self.intervention

    @property
    def average_post_gap(self) -> float:
        return float(self.gap[self.post].mean())

    @property
    def ratio(self) -> float:
        return self.post_rmspe / self.pre_rmspe

    def p_value(self, max_pre_rmspe_multiple: float | None = None) -> float | None:
        """Rank of the treated unit's post/pre RMSPE ratio among it and its placebos, over their number.

        ``max_pre_rmspe_multiple`` drops placebos whose pre-intervention MSPE is more than that many times the
        treated unit's (ADH's figures use 20, 5 and 2), as their post-period gaps say little.
        """
        if not self.placebo_ratios:
            return None
        kept = [
            r
            for name, r in self.placebo_ratios.items()
            if max_pre_rmspe_multiple is None
            or self.placebo_pre_rmspe[name] ** 2 <= max_pre_rmspe_multiple * self.pre_rmspe**2
        ]
        return (1 + sum(r >= self.ratio for r in kept)) / (1 + len(kept))

    def to_dict(self) -> dict[str, object]:
        return {
            "method": "synthetic control (Abadie, Diamond & Hainmueller 2010)",
            "treated": self.treated,
            "intervention": self.intervention,
            "weights": {k: v for k, v in sorted(self.weights.items(), key=lambda kv: -kv[1]) if v >= 0.001},
            "importances": self.importances,
            "predictors": self.predictors.reset_index().to_dict(orient="records"),
            "periods": self.periods.tolist(),
            "gap": self.gap.tolist(),
            "average_post_gap": self.average_post_gap,
            "pre_rmspe": self.pre_rmspe,
            "post_rmspe": self.post_rmspe,
            "rmspe_ratio": self.ratio,
            "placebos": len(self.placebo_ratios),
            "p_value": self.p_value(),
            "p_value_pre_mspe_under_5x": self.p_value(5.0),
        }


def _simplex_weights(
    x1: np.ndarray, x0: np.ndarray, v: np.ndarray, *, polish: bool = True
) -> tuple[np.ndarray, float]:
    """``argmin_w (x1 - x0 w)' diag(v) (x1 - x0 w)`` with ``w >= 0``, ``sum(w) = 1``.

    Lawson-Hanson non-negative least squares with the sum-to-one constraint as a heavily weighted extra row
    (exact to about 1e-7); ``polish`` then refines it with SLSQP under the exact constraint."""
    root = np.sqrt(v)
    a = x0 * root[:, None]
    b = x1 * root
    scale = max(float(np.abs(a).max()), 1e-12)
    # Start: non-negative least squares with the sum-to-one constraint as a heavily weighted extra row.
    heavy = 1e3 * scale
    start, _ = optimize.nnls(np.vstack([a, heavy * np.ones(a.shape[1])]), np.append(b, heavy))
    start = start / start.sum() if start.sum() > 0 else np.full(a.shape[1], 1 / a.shape[1])
    if not polish:
        r = b - a @ start
        return start, float(r @ r)
    gram = a.T @ a
    cross = a.T @ b

    def loss(w: np.ndarray) -> float:
        r = b - a @ w
        return float(r @ r)

    def grad(w: np.ndarray) -> np.ndarray:
        return np.asarray(2 * (gram @ w - cross), dtype=float)

    solved = optimize.minimize(
        loss,
        start,
        jac=grad,
        method="SLSQP",
        bounds=[(0.0, 1.0)] * a.shape[1],
        constraints=[{"type": "eq", "fun": lambda w: w.sum() - 1.0, "jac": lambda w: np.ones_like(w)}],
        options={"ftol": 1e-15, "maxiter": 1000},
    )
    w = np.clip(solved.x if solved.success or loss(solved.x) <= loss(start) else start, 0.0, None)
    w = w / w.sum()
    return w, loss(w)


def fit_weights(
    x1: np.ndarray, x0: np.ndarray, z1: np.ndarray, z0: np.ndarray, *, starts: int = 0, seed: int = 0
) -> SynthFit:
    """Nested optimisation of ``v`` (outer, pre-period MSPE) and ``w`` (inner, predictor balance).

    ``x1`` (k) and ``x0`` (k x J) are the scaled predictors, ``z1`` (T0) and ``z0`` (T0 x J) the pre-period
    outcomes. ``starts`` adds that many random starting points for ``v`` to the three fixed ones.
    """
    k = len(x1)

    def v_of(theta: np.ndarray) -> np.ndarray:
        e = np.abs(theta)
        return e / e.sum() if e.sum() > 0 else np.full(k, 1 / k)

    def outer(theta: np.ndarray) -> float:
        w, _ = _simplex_weights(x1, x0, v_of(theta), polish=False)
        r = z1 - z0 @ w
        return float(r @ r / len(r))

    candidates = [np.full(k, 1.0 / k)]
    spread = np.var(np.column_stack([x1, x0]), axis=1)
    candidates.append(1.0 / np.where(spread > 0, spread, 1.0))
    # Synth's regression start: squared coefficients of the pre-period outcomes regressed on the predictors.
    design = np.column_stack([np.ones(x0.shape[1] + 1), np.column_stack([x1, x0]).T])
    coef, *_ = np.linalg.lstsq(design, np.column_stack([z1, z0]).T, rcond=None)
    candidates.append(np.diag(coef[1:] @ coef[1:].T) + 1e-12)
    rng = np.random.default_rng(seed)
    candidates.extend(rng.dirichlet(np.ones(k)) for _ in range(starts))
    best: tuple[float, np.ndarray] | None = None
    for start in candidates:
        theta0 = np.sqrt(v_of(np.asarray(start, dtype=float)))
        res = optimize.minimize(
            lambda th: outer(th**2),
            theta0,
            method="Nelder-Mead",
            options={"xatol": 1e-8, "fatol": 1e-10, "maxiter": 4000, "maxfev": 8000},
        )
        value = float(res.fun)
        if best is None or value < best[0]:
            best = (value, v_of(np.asarray(res.x) ** 2))
    assert best is not None
    v = best[1]
    w, predictor_loss = _simplex_weights(x1, x0, v)
    r = z1 - z0 @ w
    return SynthFit(w, v, float(r @ r / len(r)), predictor_loss)


def _predictor_matrix(
    frame: pd.DataFrame, unit: str, time: str, units: Sequence[str], predictors: Sequence[Predictor]
) -> pd.DataFrame:
    rows = {}
    for p in predictors:
        window = frame[frame[time].isin(p.periods)]
        rows[p.name] = window.groupby(unit)[p.column].mean().reindex(units)
    table = pd.DataFrame(rows).T
    missing = table.columns[table.isna().any()].tolist()
    if missing:
        raise ValueError(f"no value of a predictor in its periods for: {', '.join(map(str, missing[:10]))}")
    return table


def synthetic_control(
    frame: pd.DataFrame,
    *,
    unit: str,
    time: str,
    outcome: str,
    treated: str,
    intervention: int,
    predictors: Sequence[Predictor],
    donors: Sequence[str] | None = None,
    fit_periods: Sequence[int] | None = None,
    placebos: bool = True,
    starts: int = 10,
    placebo_starts: int = 0,
    seed: int = 0,
) -> SynthResult:
    """The synthetic control of ``treated`` from ``donors`` (default: every other unit), and its placebos.

    ``fit_periods`` are the pre-intervention periods whose outcome the importances are chosen to fit (default:
    every period before ``intervention``). ``starts`` random (seeded) starting importances are tried beside the
    three fixed ones for the treated unit, ``placebo_starts`` for each placebo (fewer, as there are many).
    """
    pool = [u for u in (donors if donors is not None else sorted(frame[unit].unique())) if u != treated]
    if len(pool) < 2:
        raise ValueError("a synthetic control needs at least two donors")
    units = [treated, *pool]
    periods = np.array(sorted(frame[time].unique()))
    outcomes = frame.pivot_table(index=time, columns=unit, values=outcome).reindex(
        index=periods, columns=units
    )
    if outcomes.isna().any().any():
        raise ValueError("every unit needs the outcome in every period")
    fit_at = list(fit_periods) if fit_periods is not None else [p for p in periods if p < intervention]
    table = _predictor_matrix(frame, unit, time, units, predictors)
    scale = table.to_numpy().std(axis=1, ddof=1)
    scaled = table.to_numpy() / np.where(scale > 0, scale, 1.0)[:, None]

    def fit_one(target: str, others: list[str], tries: int) -> tuple[SynthFit, np.ndarray]:
        cols = [units.index(o) for o in others]
        i = units.index(target)
        z = outcomes.loc[fit_at]
        f = fit_weights(
            scaled[:, i], scaled[:, cols], z[target].to_numpy(), z[others].to_numpy(), starts=tries, seed=seed
        )
        synthetic = outcomes[others].to_numpy() @ f.weights
        return f, synthetic

    def rmspe(gap: np.ndarray, mask: np.ndarray) -> float:
        return float(np.sqrt(np.mean(gap[mask] ** 2)))

    pre = periods < intervention
    main, synthetic = fit_one(treated, pool, starts)
    actual = outcomes[treated].to_numpy()
    result_predictors = pd.DataFrame(
        {
            "treated": table[treated],
            "synthetic": table[pool].to_numpy() @ main.weights,
            "donor_mean": table[pool].mean(axis=1),
        }
    )
    ratios: dict[str, float] = {}
    pre_rmspes: dict[str, float] = {}
    gaps: dict[str, np.ndarray] = {}
    if placebos:
        for placebo in pool:
            others = [u for u in pool if u != placebo]
            _, syn = fit_one(placebo, others, placebo_starts)
            gap = outcomes[placebo].to_numpy() - syn
            pre_rmspes[placebo] = rmspe(gap, pre)
            ratios[placebo] = rmspe(gap, ~pre) / pre_rmspes[placebo]
            gaps[placebo] = gap
    gap = actual - synthetic
    return SynthResult(
        treated=treated,
        donors=tuple(pool),
        weights=dict(zip(pool, map(float, main.weights), strict=True)),
        importances=dict(zip(table.index, map(float, main.importances), strict=True)),
        predictors=result_predictors,
        periods=periods,
        treated_outcome=actual,
        synthetic_outcome=synthetic,
        intervention=intervention,
        pre_rmspe=rmspe(gap, pre),
        post_rmspe=rmspe(gap, ~pre),
        placebo_ratios=ratios,
        placebo_pre_rmspe=pre_rmspes,
        placebo_gaps=gaps,
    )
