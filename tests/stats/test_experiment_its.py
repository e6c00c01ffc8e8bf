"""Interrupted time series: Lopez Bernal, Cummins & Gasparrini (2017) on their Sicily data, and simulated series."""

from __future__ import annotations

import numpy as np
import pandas as pd  # type: ignore[import-untyped]
import pytest

from forewarn.stats.experiments.its import segmented_regression
from tests.stats.experiment_data import published

# The authors' published code (Rcode.R of gasparrini/2017_lopezbernal_IJE_codedata, models 1-4) run on their data
# with R 4.2.2 (Debian): glm(aces ~ offset(log(stdpop)) + smokban + time [+ I(time-36):smokban]
# [+ harmonic(month,2,12)], family = poisson | quasipoisson). Estimate and standard error of smokban and time,
# and the dispersion.
R_MODELS = {
    "model1": ({"family": "poisson"}, (-0.1116284426, 0.0172247651), (0.0049449920, 0.0004992295), 1.0),
    "model2": (
        {"family": "quasipoisson"},
        (-0.1116284426, 0.0324959454),
        (0.0049449920, 0.0009418379),
        3.559194632,
    ),
    "model3": (
        {"family": "quasipoisson", "harmonics": 2, "season": "month"},
        (-0.1220867929, 0.0270311073),
        (0.0053892195, 0.0007955372),
        2.262186415,
    ),
    "model4": (
        {"family": "quasipoisson", "harmonics": 2, "season": "month", "slope_change": True},
        (-0.1318591712, 0.0297912992),
        (0.0051026022, 0.0008745281),
        2.274562545,
    ),
}


@pytest.mark.parametrize("name", sorted(R_MODELS))
def test_sicily_models_match_the_authors_code(name: str) -> None:
    data = published("sicily.csv")
    options, level, trend, dispersion = R_MODELS[name]
    result = segmented_regression(data, "aces", "time", "smokban", offset="stdpop", **options)  # type: ignore[arg-type]
    assert result.level_change.estimate == pytest.approx(level[0], rel=1e-7)
    assert result.level_change.std_error == pytest.approx(level[1], rel=1e-5)
    assert result.coefficient("time").estimate == pytest.approx(trend[0], rel=1e-7)
    assert result.coefficient("time").std_error == pytest.approx(trend[1], rel=1e-5)
    assert result.dispersion == pytest.approx(dispersion, rel=1e-5)


def test_sicily_seasonal_model_rate_ratio() -> None:
    # The tutorial's main result (model 3): the ban's rate ratio 0.885, 95% CI 0.839 to 0.933, and the underlying
    # trend exp(12 * time) = 1.067 a year (R: ci.lin(model3, Exp = TRUE)).
    data = published("sicily.csv")
    result = segmented_regression(
        data, "aces", "time", "smokban", offset="stdpop", harmonics=2, season="month"
    )
    ratio = result.level_change.to_dict(log_link=True)
    assert (ratio["ratio"], ratio["ratio_ci_low"], ratio["ratio_ci_high"]) == pytest.approx(
        (0.885072, 0.839401, 0.933227), abs=2e-6
    )
    assert np.exp(12 * result.coefficient("time").estimate) == pytest.approx(1.066808, abs=1e-6)
    # Newey-West keeps the estimate and changes only its standard error.
    hac = segmented_regression(
        data,
        "aces",
        "time",
        "smokban",
        offset="stdpop",
        harmonics=2,
        season="month",
        autocorrelation="newey-west",
    )
    assert hac.level_change.estimate == pytest.approx(result.level_change.estimate)
    assert hac.level_change.std_error != pytest.approx(result.level_change.std_error, rel=1e-3)


def _ar1_series(seed: int, level: float, slope: float, rho: float = 0.6, n: int = 96) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.arange(1, n + 1)
    post = (t > n // 2).astype(int)
    e = np.zeros(n)
    for i in range(1, n):
        e[i] = rho * e[i - 1] + rng.normal()
    y = 50 + 0.1 * t + level * post + slope * (t - n // 2) * post + e
    return pd.DataFrame({"t": t, "post": post, "y": y})


def test_gaussian_ar1_recovers_the_level_change() -> None:
    covered = 0
    for seed in range(40):
        result = segmented_regression(
            _ar1_series(seed, level=-3.0, slope=0.0),
            "y",
            "t",
            "post",
            family="gaussian",
            autocorrelation="ar1",
        )
        covered += result.level_change.ci_low <= -3.0 <= result.level_change.ci_high
    assert covered >= 33  # nominal 95%: 38 of 40 expected; 33 is four standard errors below


def test_ignoring_autocorrelation_understates_the_error() -> None:
    data = _ar1_series(1, level=-3.0, slope=0.05)
    plain = segmented_regression(data, "y", "t", "post", family="gaussian", slope_change=True)
    hac = segmented_regression(
        data, "y", "t", "post", family="gaussian", slope_change=True, autocorrelation="newey-west"
    )
    assert plain.residual_lag1 > 0.3
    assert hac.level_change.std_error > plain.level_change.std_error
    assert plain.coefficient("slope_change").estimate == pytest.approx(0.05, abs=0.1)


def test_counterfactual_removes_only_the_intervention() -> None:
    data = _ar1_series(2, level=-3.0, slope=0.0)
    result = segmented_regression(data, "y", "t", "post", family="gaussian")
    pre = data["post"].to_numpy() == 0
    assert np.allclose(result.fitted[pre], result.counterfactual[pre])
    assert np.allclose(result.fitted[~pre] - result.counterfactual[~pre], result.level_change.estimate)


def test_refuses_a_series_without_both_sides() -> None:
    data = _ar1_series(3, level=0, slope=0)
    data["post"] = 0
    with pytest.raises(ValueError, match="before and after"):
        segmented_regression(data, "y", "t", "post", family="gaussian")
