"""The one-factor estimate of lasting performance (:mod:`forewarn.risk.latent`): window levels against a
derivation by hand, the factor score against the posterior mean written out from the fitted loadings (and
against the truth on data with a known common factor), and point-in-time correctness."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from forewarn.risk import latent
from forewarn.risk.history import StoreHistory
from forewarn.risk.latent import _factor_score, _window_levels, latent_by_origin, latent_features


def _observations(rows: list[tuple[int, int, dt.date, float | None, float | None, float]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={
            "organisation_id": pl.Int64,
            "indicator_id": pl.Int64,
            "period_start": pl.Date,
            "numerator": pl.Float64,
            "denominator": pl.Float64,
            "value": pl.Float64,
        },
        orient="row",
    )


def test_window_levels_pool_the_latest_periods_on_the_indicator_scale(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Windows of 1 (short), 2 (recent) and 2 before them (baseline). A proportion: logit of (sum numerators +
    0.5) / (sum denominators + 1); a count without denominators: log of (sum + 0.5) / periods."""
    monkeypatch.setattr(latent, "SHORT_PERIODS", 1)
    monkeypatch.setattr(latent, "RECENT_PERIODS", 2)
    monkeypatch.setattr(latent, "BASELINE_PERIODS", 2)
    months = [dt.date(2021, m, 1) for m in range(1, 6)]  # 5 periods: the first falls outside every window
    nums = [100.0, 1.0, 2.0, 3.0, 4.0]
    counts = [50.0, 0.0, 1.0, 2.0, 5.0]
    rows = [(1, 1, m, n, 10.0, n / 10) for m, n in zip(months, nums, strict=True)]
    rows += [(1, 2, m, None, None, c) for m, c in zip(months, counts, strict=True)]
    kinds = pl.DataFrame({"indicator_id": [1, 2], "kind": ["proportion", "count"]})
    got = _window_levels(_observations(rows), kinds).sort("indicator_id")

    def logit(p: float) -> float:
        return math.log(p / (1 - p))

    assert got["short"].to_list() == pytest.approx([logit(4.5 / 11), math.log((5 + 0.5) / 1)])
    assert got["recent"].to_list() == pytest.approx([logit(7.5 / 21), math.log((7 + 0.5) / 2)])
    assert got["base"].to_list() == pytest.approx([logit(3.5 / 21), math.log((1 + 0.5) / 2)])


def test_window_levels_of_rows_sorted_once_equal_those_sorted_at_each_origin() -> None:
    """A batch sorted once by :data:`latent.WINDOW_ORDER` and filtered to what each origin knows gives, with
    ``ordered=True`` (no sort), the levels of the unsorted rows known then, row for row and to the bit (rows
    shuffled, series of different lengths and gaps, two indicators, several origins)."""
    rng = np.random.default_rng(3)
    months = [dt.date(2015 + m // 12, m % 12 + 1, 1) for m in range(60)]
    rows = [
        (org, ind, months[t], float(rng.integers(0, 20)), 20.0, float(rng.random()))
        for org in range(1, 30)
        for ind in (1, 2)
        for t in range(int(rng.integers(0, 10)), 60)
        if rng.random() > 0.1
    ]
    frame = _observations(rows)
    frame = frame.with_columns((pl.col("period_start") + pl.duration(days=45)).alias("known_on"))
    shuffled = frame.sample(fraction=1.0, shuffle=True, seed=5)
    ordered = shuffled.sort(*latent.WINDOW_ORDER)
    indicators = pl.DataFrame({"indicator_id": [1, 2], "kind": ["proportion", "rate"]})
    for origin in (dt.date(2016, 1, 1), dt.date(2017, 6, 1), dt.date(2020, 3, 1)):
        known = pl.col("known_on") <= origin
        fresh = latent.window_levels(shuffled.filter(known), indicators)
        once = latent.window_levels(ordered.filter(known), indicators, ordered=True)
        assert fresh.height > 0
        assert_frame_equal(once, fresh)


def test_the_factor_score_is_the_posterior_mean_of_the_fitted_one_factor_model() -> None:
    """For a one-factor model x = mu + lambda f + e, e ~ N(0, Psi), the posterior mean of f is
    lambda' Psi^-1 (x - mu) / (1 + lambda' Psi^-1 lambda) (Bartholomew, Knott & Moustaki 2011, eq. 3.21); and on
    data whose indicators carry a known factor with unequal noise it beats the equal-weight mean."""
    from sklearn.decomposition import FactorAnalysis

    rng = np.random.default_rng(4)
    n, loadings, noise = 3000, np.array([0.9, 0.6, 0.3, 0.2, 0.7]), np.array([0.3, 0.8, 1.0, 1.5, 0.5])
    truth = rng.standard_normal(n)
    x = truth[:, None] * loadings[None, :] + rng.standard_normal((n, loadings.size)) * noise[None, :]
    z = pl.DataFrame(
        {
            "organisation_id": np.repeat(np.arange(n), loadings.size),
            "indicator_id": np.tile(np.arange(loadings.size), n),
            "recent": x.ravel(),
        }
    )
    score = _factor_score(z, "recent").sort("organisation_id")["recent"].to_numpy()
    fitted = FactorAnalysis(n_components=1, svd_method="lapack", random_state=0).fit(x)
    lam, psi = fitted.components_[0], fitted.noise_variance_
    by_hand = ((x - x.mean(axis=0)) @ (lam / psi)) / (1.0 + lam @ (lam / psi))
    np.testing.assert_allclose(score, by_hand * np.sign(lam.sum()), rtol=1e-9, atol=1e-9)
    assert np.corrcoef(score, truth)[0, 1] > np.corrcoef(x.mean(axis=1), truth)[0, 1] + 0.02


def test_the_factor_fits_on_one_blas_thread_give_the_scores_of_the_default_threads() -> None:
    """``one_blas_thread`` limits OpenBLAS to one thread inside it (and restores the limit after), and the
    factor scores it gives equal those of the default threads to the bit (an organisation x indicator matrix of
    the bench's shape: 19 indicators, a common factor, some missing values)."""
    from threadpoolctl import threadpool_info  # type: ignore[import-untyped]

    rng = np.random.default_rng(8)
    n, p = 2000, 19
    x = rng.standard_normal(n)[:, None] * rng.uniform(0.2, 0.9, p)[None, :] + rng.standard_normal((n, p))
    x[rng.random((n, p)) < 0.1] = np.nan
    z = pl.DataFrame(
        {
            "organisation_id": np.repeat(np.arange(n), p),
            "indicator_id": np.tile(np.arange(p), n),
            "recent": x.ravel(),
        }
    ).drop_nans()
    default = _factor_score(z, "recent")

    def blas_threads() -> set[int]:
        return {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}

    before = blas_threads()
    with latent.one_blas_thread():
        assert blas_threads() == {1}
        one = _factor_score(z, "recent")
    assert blas_threads() == before
    assert one["recent"].null_count() == 0
    assert_frame_equal(one, default)


def test_latent_features_use_nothing_published_after_the_origin(history: StoreHistory) -> None:
    """The same features from the whole history and from one whose later observations are nonsense; and the
    check can fail (one organisation's earlier figures halved move them)."""
    origin = dt.date(2021, 7, 1)
    whole = latent_features(history, origin)
    assert whole.height > 0 and whole["factor_level"].drop_nulls().len() > 0
    later = pl.col("known_on") > origin
    observations = history.observations

    def with_observations(frame: pl.DataFrame) -> StoreHistory:
        return StoreHistory(
            frame,
            history.indicators,
            history.events,
            history.organisations,
            history.attributes,
            history.soft,
        )

    scrambled = observations.with_columns(
        pl.when(later).then(pl.col(c) * 7 + 3).otherwise(pl.col(c)).alias(c) for c in ("numerator", "value")
    )
    assert_frame_equal(
        whole, latent_features(with_observations(scrambled), origin), rel_tol=1e-9, abs_tol=1e-9
    )
    one = history.organisations["organisation_id"][0]
    earlier = observations.with_columns(
        pl.when(~later & (pl.col("organisation_id") == one))
        .then(pl.col(c) * 0.5)
        .otherwise(pl.col(c))
        .alias(c)
        for c in ("numerator", "value")
    )
    with pytest.raises(AssertionError):
        assert_frame_equal(
            whole, latent_features(with_observations(earlier), origin), rel_tol=1e-6, abs_tol=1e-9
        )
    # Many origins in one pass equal each origin alone.
    both = latent_by_origin(history, [dt.date(2021, 1, 1), origin])
    assert_frame_equal(both[origin], whole)
