"""Soft measures as the risk model may read them: each closed survey wave's published organisation results.

Only what the survey service publishes is used: organisation x dimension means of groups of at least the minimum
size (smaller groups are suppressed there and never reach the model). A wave's results are known from the month
after its last answers came in.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
from sqlalchemy import Engine, func, select

from forewarn.risk.history import SOFT_SCHEMA
from forewarn.stats.arrays import FloatArray, IntArray
from forewarn.store.models import Organisation
from forewarn.store.models_surveys import SurveyResponse
from forewarn.surveys.means import published_means_of_waves
from forewarn.surveys.waves import list_waves


def _month_after(day: dt.date) -> dt.date:
    return (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def survey_cells(engine: Engine, *, min_group_size: int) -> pl.DataFrame:
    """Published organisation x dimension means (and standard deviations) of every closed wave, with the date they became known (groups
    under ``min_group_size``, the setting, or under the wave's own higher minimum, are suppressed)."""
    frames = []
    with engine.connect() as conn:
        codes: dict[str, int] = dict(conn.execute(select(Organisation.code, Organisation.id)).all())
        # Grouped by ``wave_id + 0``, not ``wave_id``: SQLite would otherwise walk the wave index and look every
        # response up in the table (stored by random id) for its month, 4.5 s CPU at 10,000 organisations against
        # 0.5 s for one scan of the table (PostgreSQL plans the two alike).
        wave = (SurveyResponse.wave_id + 0).label("wave_id")
        last_month: dict[int, dt.date] = dict(
            conn.execute(select(wave, func.max(SurveyResponse.submitted_month)).group_by(wave)).all()
        )
    closed = [
        info.id
        for info in list_waves(engine, floor=min_group_size)  # waves: a handful a year
        if info.status == "closed" and info.id in last_month
    ]
    # The published cells' n, mean and sd alone (wave_results' values without its agreement checks and
    # reliability, which the model does not read: a fifth of the backtest's CPU at 5,000 organisations), every
    # wave's responses read in one pass.
    for wave_id, cells in published_means_of_waves(engine, closed, floor=min_group_size):
        frames.append(
            pl.DataFrame(
                {
                    "organisation_id": [codes.get(g) for g in cells.group],
                    "dimension": list(cells.dimension),
                    "mean": cells.mean,
                    "sd": cells.sd,
                    "n": cells.n,
                    "known_on": [_month_after(last_month[wave_id])] * len(cells.group),
                },
                schema=SOFT_SCHEMA,
            )
            .with_columns(pl.col("sd").fill_nan(None))
            .drop_nulls("organisation_id")
        )
    if not frames:
        return pl.DataFrame(schema=SOFT_SCHEMA)
    return pl.concat(frames)


def error_components(means: FloatArray, n: FloatArray) -> tuple[float, float, float]:
    """The grand mean, the variance of the true organisation means (tau^2) and the within-organisation
    variance of one respondent (sigma^2) from one wave's published organisation means and group sizes, by the
    method of moments: ``E[(m_i - mu)^2] = tau^2 + sigma^2 / n_i``, an ordinary least-squares line of the
    squared deviations on ``1 / n_i`` (Searle, Casella & McCulloch 1992, ch. 3, for unbalanced one-way
    designs). tau^2 is kept above a small floor, sigma^2 at or above 0."""
    means = np.asarray(means, dtype=np.float64)
    inv_n = 1.0 / np.asarray(n, dtype=np.float64)
    mu = float(means.mean())
    squared = (means - mu) ** 2 * means.size / max(means.size - 1, 1)
    if means.size < 3 or np.ptp(inv_n) == 0:
        return mu, max(float(squared.mean()), 1e-9), 0.0
    slope = float(np.polyfit(inv_n, squared, 1)[0])
    sigma2 = max(float(slope), 0.0)
    tau2 = max(float(squared.mean() - sigma2 * inv_n.mean()), 1e-9)
    return mu, tau2, sigma2


# The waves a trend is fitted over: those within a year of the latest (five with quarterly pulse waves).
TREND_YEARS = 1.0
TREND_MIN_WAVES = 3


def _recent_slope(shrunk: FloatArray, time: FloatArray) -> FloatArray:
    """Per row, the ordinary least-squares slope (a year) of the published values (not NaN) among the waves at
    most :data:`TREND_YEARS` before the latest wave; NaN with fewer than :data:`TREND_MIN_WAVES` of them."""
    recent = time >= time[-1] - TREND_YEARS - 1e-9
    values = shrunk[:, recent]
    ok = np.isfinite(values)
    t = np.broadcast_to(time[recent], values.shape)
    count = ok.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        t_mean = np.where(ok, t, 0.0).sum(axis=1) / count
        v_mean = np.where(ok, values, 0.0).sum(axis=1) / count
        dt_ = np.where(ok, t - t_mean[:, None], 0.0)
        slope = (dt_ * np.where(ok, values - v_mean[:, None], 0.0)).sum(axis=1) / (dt_ * dt_).sum(axis=1)
    return np.where(count >= TREND_MIN_WAVES, slope, np.nan)


def capacity_estimates(
    organisation: IntArray, wave: IntArray, years: FloatArray, means: FloatArray, n: FloatArray
) -> dict[str, FloatArray]:
    """Each organisation's standing on a survey score at the latest wave, from every wave it was published in.

    Per wave the organisation means are put on the scale of the true between-organisation standard deviation,
    ``u = (m - mu) / tau``, with error variance ``e = sigma^2 / (n tau^2)`` (:func:`error_components`). True
    standings at waves ``t_i`` years apart are taken to correlate ``rho^|t_i - t_j|`` (a first-order
    autoregression), ``rho`` estimated from organisations published in consecutive waves (the covariance of
    their ``u``, whose errors are independent, over ``tau``s). The best linear unbiased predictor of the latest
    wave's true standing is then ``r' (R + diag(e))^-1 u``, ``r_i = rho^(t_W - t_i)`` (Henderson 1975; the same
    as a Kalman smoother's estimate, Harvey 1989): older and smaller samples count for less, and with one wave
    it is the empirical-Bayes shrunken mean ``u / (1 + e)`` (Morris 1983). Waves where an organisation was not
    published (suppressed groups) carry no weight.

    Returns per organisation (sorted ``organisations``): ``level`` (the predictor), ``latest`` and
    ``previous`` (the shrunken standings of the last two waves, NaN where not published), ``trend`` (their
    least-squares slope a year over the waves of the last year, :func:`_recent_slope`) and ``rho``.
    """
    organisation = np.asarray(organisation)
    wave = np.asarray(wave)
    waves = np.unique(wave)
    organisations = np.unique(organisation)
    n_org, n_wave = organisations.size, waves.size
    row = np.searchsorted(organisations, organisation)
    col = np.searchsorted(waves, wave)
    u = np.zeros((n_org, n_wave))
    e = np.full((n_org, n_wave), np.inf)
    for k in range(n_wave):  # waves: a handful
        here = col == k
        mu, tau2, sigma2 = error_components(means[here], n[here])
        u[row[here], k] = (means[here] - mu) / np.sqrt(tau2)
        e[row[here], k] = sigma2 / (n[here] * tau2)
    time = np.array([years[col == k][0] for k in range(n_wave)], dtype=np.float64)
    published = np.isfinite(e)
    rhos = []
    for k in range(1, n_wave):
        both = published[:, k] & published[:, k - 1]
        if both.sum() >= 10:
            gap = max(time[k] - time[k - 1], 1e-6)
            r = float(
                np.mean(u[both, k] * u[both, k - 1])
                / np.sqrt(
                    np.mean(u[both, k] ** 2 / (1 + e[both, k]))
                    * np.mean(u[both, k - 1] ** 2 / (1 + e[both, k - 1]))
                )
            )
            rhos.append(np.clip(r, 1e-3, 0.999) ** (1 / gap))
    rho = float(np.mean(rhos)) if rhos else 0.0
    lag = np.abs(time[:, None] - time[None, :])
    corr = rho**lag if rho > 0 else np.eye(n_wave)
    big = 1e9  # an unpublished wave: an error so large it carries no weight
    sigma = corr[None, :, :] + np.einsum("ij,jk->ijk", np.where(published, e, big), np.eye(n_wave))
    r_last = corr[-1]
    weights = np.linalg.solve(sigma, np.broadcast_to(r_last, (n_org, n_wave))[..., None])[..., 0]
    level = (weights * np.where(published, u, 0.0)).sum(axis=1)
    level[~published.any(axis=1)] = np.nan
    shrunk = np.where(published, u / (1 + np.where(published, e, 0.0)), np.nan)
    previous = shrunk[:, -2] if n_wave > 1 else np.full(n_org, np.nan)
    return {
        "trend": _recent_slope(shrunk, time),
        "organisation_id": organisations.astype(np.float64),
        "level": level,
        "latest": shrunk[:, -1],
        "previous": previous,
        "rho": np.full(n_org, rho),
    }


__all__ = ["capacity_estimates", "error_components", "survey_cells"]
