"""The soft features' estimators against derivations: the method-of-moments variance components, the
empirical-Bayes shrinkage of one wave, and the best linear predictor pooling waves."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from sqlalchemy import Engine

from forewarn.demo import load_simulated_surveys
from forewarn.risk.history import SOFT_SCHEMA
from forewarn.risk.soft import _recent_slope, capacity_estimates, error_components, survey_cells
from forewarn.simulate import load
from forewarn.surveys.results import wave_results
from forewarn.surveys.waves import list_waves


def _wave(rng: np.random.Generator, truth: np.ndarray, n: np.ndarray, sigma: float) -> np.ndarray:
    return np.array([rng.normal(t, sigma, k).mean() for t, k in zip(truth, n, strict=True)])


def test_variance_components_are_recovered_from_means_and_sizes() -> None:
    """Organisation means of groups of 4 to 40 respondents around true means of variance 0.09 with a
    respondent variance of 0.81: E[(m - mu)^2] = tau^2 + sigma^2 / n recovers both."""
    rng = np.random.default_rng(1)
    n = rng.integers(4, 41, 20_000)
    truth = rng.normal(3.5, 0.3, n.size)
    means = truth + rng.normal(0, 0.9, n.size) / np.sqrt(n)
    mu, tau2, sigma2 = error_components(means, n.astype(float))
    assert mu == pytest.approx(3.5, abs=0.01)
    assert tau2 == pytest.approx(0.09, rel=0.1)
    assert sigma2 == pytest.approx(0.81, rel=0.1)


def test_one_wave_gives_the_empirical_bayes_shrunken_mean() -> None:
    """With one wave the predictor is u / (1 + e): the shrinkage tau^2 / (tau^2 + sigma^2 / n) (Morris 1983)."""
    rng = np.random.default_rng(2)
    n = rng.integers(5, 30, 300).astype(float)
    means = _wave(rng, rng.normal(0, 0.4, 300), n.astype(int), 1.0)
    out = capacity_estimates(np.arange(300), np.zeros(300, dtype=np.int64), np.zeros(300), means, n)
    mu, tau2, sigma2 = error_components(means, n)
    expected = tau2 / (tau2 + sigma2 / n) * (means - mu) / np.sqrt(tau2)
    assert out["level"] == pytest.approx(expected, rel=1e-10)
    assert out["latest"] == pytest.approx(expected, rel=1e-10)


def test_two_waves_weigh_as_the_two_by_two_solution() -> None:
    """Two waves a year apart: weights = [[1 + e1, rho], [rho, 1 + e2]]^-1 [rho, 1], written out by hand."""
    rng = np.random.default_rng(3)
    k = 2_000
    base = rng.normal(0, 1, k)
    second = 0.8 * base + 0.6 * rng.normal(0, 1, k)  # true standings correlate 0.8 a year apart
    n1, n2 = rng.integers(5, 30, k), rng.integers(5, 30, k)
    m1, m2 = _wave(rng, 0.5 * base, n1, 1.0), _wave(rng, 0.5 * second, n2, 1.0)
    organisation = np.concatenate([np.arange(k), np.arange(k)])
    wave = np.repeat([0, 1], k)
    out = capacity_estimates(
        organisation,
        wave,
        np.repeat([0.0, 1.0], k),
        np.concatenate([m1, m2]),
        np.concatenate([n1, n2]).astype(float),
    )
    rho = out["rho"][0]
    assert rho == pytest.approx(0.8, abs=0.06)
    _, t1, s1 = error_components(m1, n1.astype(float))
    mu2, t2, s2 = error_components(m2, n2.astype(float))
    mu1 = m1.mean()
    u1, u2 = (m1 - mu1) / np.sqrt(t1), (m2 - mu2) / np.sqrt(t2)
    e1, e2 = s1 / (n1 * t1), s2 / (n2 * t2)
    det = (1 + e1) * (1 + e2) - rho**2
    w1 = ((1 + e2) * rho - rho * 1) / det
    w2 = (-rho * rho + (1 + e1) * 1) / det
    assert out["level"] == pytest.approx(w1 * u1 + w2 * u2, rel=1e-9)
    # Pooling the earlier wave predicts the latest true standing better than the latest wave alone.
    assert np.corrcoef(out["level"], second)[0, 1] > np.corrcoef(out["latest"], second)[0, 1]


def test_an_unpublished_wave_carries_no_weight() -> None:
    rng = np.random.default_rng(4)
    k = 200
    n = rng.integers(5, 30, 2 * k).astype(float)
    means = rng.normal(3, 0.3, 2 * k)
    organisation = np.concatenate([np.arange(k), np.arange(k)])
    wave = np.repeat([0, 1], k)
    keep = np.ones(2 * k, dtype=bool)
    keep[k] = False  # organisation 0 suppressed in the second wave
    out = capacity_estimates(
        organisation[keep], wave[keep], np.repeat([0.0, 1.0], k)[keep], means[keep], n[keep]
    )
    assert np.isnan(out["latest"][0]) and np.isfinite(out["level"][0])
    assert np.isfinite(out["previous"][0])


def test_the_survey_cells_are_the_published_cells_of_every_closed_wave(
    engine: Engine, simulated_dir: Path
) -> None:
    """The model's survey cells (read through the published means alone) equal, row for row and to the bit,
    those of the full published results of every closed wave (``wave_results`` with its agreement checks),
    each known the month after its last answers."""
    load(engine, simulated_dir)
    load_simulated_surveys(engine, simulated_dir, "test", 10, min_group_size=5)
    with engine.connect() as conn:
        codes: dict[str, int] = dict(conn.exec_driver_sql("SELECT code, id FROM organisations").all())
        last: dict[int, object] = dict(
            conn.exec_driver_sql(
                "SELECT wave_id, MAX(submitted_month) FROM survey_responses GROUP BY wave_id"
            ).all()
        )
    frames = []
    for wave in list_waves(engine, floor=5):
        assert wave.status == "closed"
        month = last[wave.id]
        month = month if isinstance(month, dt.date) else dt.date.fromisoformat(str(month))
        known_on = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        cells = wave_results(engine, wave.id, floor=5, n_resamples=100).analysis.cells
        shown = [c for c in cells if not c.suppressed and c.mean is not None]
        rows = [(codes[c.group], c.dimension, c.mean, c.sd, int(c.n), known_on) for c in shown]
        frames.append(pl.DataFrame(rows, schema=SOFT_SCHEMA, orient="row"))
    expected = pl.concat(frames)
    got = survey_cells(engine, min_group_size=5)
    assert len(frames) >= 4 and expected.height > 500
    assert_frame_equal(got, expected)


def test_the_trend_is_the_least_squares_slope_over_the_last_year_of_waves() -> None:
    """Waves a quarter apart at 0 to 1.25 years: the trend reads the waves from 0.25 on (a year before the
    latest). Organisation 1's shrunken standings there are 1, 2, (unpublished), 4, 5 at 0.25, 0.5, 0.75, 1.0,
    1.25: times centred -0.5, -0.25, 0.25, 0.5 and values -2, -1, 1, 2 give a slope 2.5 / 0.625 = 4 a year;
    the first wave (at 0) does not count. Organisation 2 has two waves in the year: no trend."""
    time = np.array([0.0, 0.25, 0.5, 0.75, 1.0, 1.25])
    shrunk = np.array(
        [
            [9.0, 1.0, 2.0, np.nan, 4.0, 5.0],
            [1.0, np.nan, np.nan, np.nan, 3.0, 2.0],
        ]
    )
    slope = _recent_slope(shrunk, time)
    assert slope[0] == pytest.approx(4.0, rel=1e-12)
    assert np.isnan(slope[1])


def test_capacity_estimates_give_the_trend_of_the_shrunken_standings() -> None:
    """Through :func:`capacity_estimates`: its ``trend`` is :func:`_recent_slope` of each wave's shrunken
    standing ``u / (1 + e)``, as each wave's own empirical-Bayes estimate (checked on the latest wave)."""
    rng = np.random.default_rng(4)
    n_org, n_wave = 200, 5
    organisation = np.tile(np.arange(n_org), n_wave)
    wave = np.repeat(np.arange(n_wave), n_org)
    years = wave * 0.25
    n = rng.integers(5, 30, organisation.size).astype(float)
    means = rng.normal(0, 0.3, n_org)[organisation] + rng.normal(0, 1, organisation.size) / np.sqrt(n)
    out = capacity_estimates(organisation, wave, years, means, n)
    shrunk = np.empty((n_org, n_wave))
    for k in range(n_wave):
        here = wave == k
        mu, tau2, sigma2 = error_components(means[here], n[here])
        shrunk[:, k] = tau2 / (tau2 + sigma2 / n[here]) * (means[here] - mu) / np.sqrt(tau2)
    assert out["latest"] == pytest.approx(shrunk[:, -1], rel=1e-10)
    assert out["trend"] == pytest.approx(_recent_slope(shrunk, years[::n_org].astype(float)), rel=1e-10)
