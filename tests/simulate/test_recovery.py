"""The simulator produces what docs/simulator.md says: parameters recovered from the simulated data match the inputs
within sampling error.

References (each estimator is computed here from its textbook formula, not by the simulator's code):
- between-organisation variance: method of moments, var(empirical logit) - mean sampling variance
  (DerSimonian and Laird 1986), against ``random_effect_sd ** 2``; standard error of a variance sqrt(2 / (n - 1)) * tau2;
- Cronbach's alpha (Cronbach 1951), k / (k - 1) * (1 - sum of item variances / variance of the sum), against 0.8;
- cross-correlation of monthly changes of capacity (truth) and of observed performance peaks at the documented lag;
- inspection grades are monotone in the latent state (mean capacity by grade);
- regression to the mean (Barnett, van der Pols and Dobson 2005): with no intervention effect, organisations selected
  for a low observed score improve on a naive before/after comparison by more than their truth moved.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml

from forewarn.simulate import IndicatorDesign, SimulationParameters, simulate
from forewarn.simulate.evaluation import before_after
from forewarn.simulate.model import GRADES
from forewarn.simulate.surveys import default_instrument_path


def _strings(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.col(pl.Categorical).cast(pl.String))


def test_between_organisation_variance_is_recovered(tmp_path: Path) -> None:
    # Only the random effect varies between organisations: no performance link, type offsets, trend or season.
    designs = (
        IndicatorDesign(
            "od_prop", "Proportion", "proportion", "higher_is_better", "proportion", 0.8, 0.05, 0.0, 0.3
        ),
        IndicatorDesign(
            "od_rate", "Rate", "rate", "lower_is_better", "per 1,000", 0.05, 0.05, 0.0, 0.2, multiplier=1000.0
        ),
    )
    n = 1500
    params = SimulationParameters(
        n_organisations=n,
        n_years=1,
        seed=2,
        type_shares=(1.0, 0.0, 0.0),
        indicators=designs,
        type_offset_sd=0.0,
        staff_sdlog=(0.3, 0.3, 0.3),
    )
    simulate(tmp_path, params)
    pooled = (
        _strings(pl.read_parquet(tmp_path / "indicators.parquet"))
        .group_by("org_code", "indicator")
        .agg(pl.col("numerator").sum().cast(pl.Float64), pl.col("denominator").sum().cast(pl.Float64))
    )
    for design in designs:
        rows = pooled.filter(pl.col("indicator") == design.code)
        num, den = rows["numerator"].to_numpy(), rows["denominator"].to_numpy()
        if design.kind == "proportion":
            p = num / den
            estimate = np.log((num + 0.5) / (den - num + 0.5))
            sampling_variance = 1.0 / (den * p * (1.0 - p))
        else:
            estimate = np.log((num + 0.5) / den)
            sampling_variance = 1.0 / (num + 0.5)
        tau2_hat = estimate.var(ddof=1) - sampling_variance.mean()
        tau2 = design.random_effect_sd**2
        se = tau2 * np.sqrt(2.0 / (n - 1)) + np.sqrt(2.0 / (n - 1)) * sampling_variance.mean()
        assert abs(tau2_hat - tau2) < 3.5 * se, (design.code, tau2_hat, tau2)


def _alpha(items: np.ndarray) -> float:
    """Cronbach's alpha of complete rows: k/(k-1) * (1 - sum(var(item)) / var(sum))."""
    k = items.shape[1]
    return float(k / (k - 1) * (1 - items.var(axis=0, ddof=1).sum() / items.sum(axis=1).var(ddof=1)))


def test_survey_reliability_is_around_0_8_per_dimension(tmp_path: Path) -> None:
    simulate(tmp_path, SimulationParameters(n_organisations=400, n_years=2, seed=5))
    survey = pl.read_csv(tmp_path / "survey_responses.csv")
    instrument = yaml.safe_load(default_instrument_path().read_text(encoding="utf-8"))
    assert survey.height > 5000
    for dimension in instrument["dimensions"]:
        columns = []
        for item in dimension["items"]:
            x = survey[item["code"]].to_numpy().astype(np.float64)
            columns.append(6.0 - x if item.get("reverse") else x)
        items = np.column_stack(columns)
        complete = items[~np.isnan(items).any(axis=1)]
        assert 0.76 <= _alpha(complete) <= 0.84, dimension["code"]
        # Not reversing the reverse-keyed item must break the scale: the keying is real.
        raw = np.column_stack([survey[i["code"]].to_numpy().astype(np.float64) for i in dimension["items"]])
        assert _alpha(raw[~np.isnan(raw).any(axis=1)]) < 0.5, dimension["code"]


def _cross_correlation(x: np.ndarray, y: np.ndarray, lag: int) -> float:
    """Pooled correlation of x[:, t] with y[:, t + lag] over organisations and months."""
    if lag >= 0:
        a, b = x[:, : x.shape[1] - lag], y[:, lag:]
    else:
        a, b = x[:, -lag:], y[:, : y.shape[1] + lag]
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).mean() / (a.std() * b.std()))


def test_capacity_leads_performance_by_the_documented_lag(tmp_path: Path) -> None:
    params = SimulationParameters(n_organisations=500, n_years=4, seed=11, type_shares=(1.0, 0.0, 0.0))
    simulate(tmp_path, params)
    mapping = yaml.safe_load((tmp_path / "indicators_mapping.yml").read_text())
    direction = {"higher_is_better": 1, "lower_is_better": -1}
    proportions = {
        s["code"]: direction[s["polarity"]] for s in mapping["indicators"] if s["kind"] == "proportion"
    }
    observed = (
        _strings(pl.read_parquet(tmp_path / "indicators.parquet"))
        .filter(pl.col("indicator").is_in(list(proportions)))
        .with_columns(
            (
                ((pl.col("numerator") + 0.5) / (pl.col("denominator") - pl.col("numerator") + 0.5)).log()
                * pl.col("indicator").replace_strict(proportions, return_dtype=pl.Float64)
            ).alias("x")
        )
        .with_columns((pl.col("x") / pl.col("x").std().over("indicator")).alias("z"))
        .group_by("org_code", "period")
        .agg(pl.col("z").mean())
    )
    latent = _strings(pl.read_parquet(tmp_path / "truth" / "latent_monthly.parquet"))
    joined = latent.join(observed, on=["org_code", "period"]).sort("org_code", "period")
    n, months = params.n_organisations, params.n_months
    capacity = joined["capacity"].to_numpy().reshape(n, months)
    d_capacity = np.diff(capacity, axis=1)
    d_observed = np.diff(joined["z"].to_numpy().reshape(n, months), axis=1)
    d_performance = np.diff(joined["performance"].to_numpy().reshape(n, months), axis=1)
    lags = np.arange(-12, 13)
    true_curve = np.array([_cross_correlation(d_capacity, d_performance, int(k)) for k in lags])
    observed_curve = np.array([_cross_correlation(d_capacity, d_observed, int(k)) for k in lags])
    lag = params.performance_lag_months
    assert lags[np.argmax(true_curve)] == lag
    assert lags[np.argmax(observed_curve)] == lag
    positive = np.clip(observed_curve, 0, None)
    assert abs((lags * positive).sum() / positive.sum() - lag) < 1.0
    # The lead is real: changes in capacity say nothing about performance in the same month or before.
    assert observed_curve[lags <= 0].max() < 0.25 * observed_curve.max()


def test_inspection_grades_are_monotone_in_the_latent_state(tmp_path: Path) -> None:
    simulate(tmp_path, SimulationParameters(n_organisations=800, n_years=3, seed=9))
    inspections = pl.read_parquet(tmp_path / "truth" / "inspections.parquet")
    by_grade = inspections.group_by("grade").agg(pl.col("capacity", "performance", "score").mean(), pl.len())
    means = {g: by_grade.filter(pl.col("grade") == g) for g in GRADES}
    assert all(means[g].height == 1 and means[g]["len"][0] >= 20 for g in GRADES)
    for column in ("capacity", "performance", "score"):
        values = [means[g][column][0] for g in GRADES]
        assert values == sorted(values) and len(set(values)) == 4, column
    # And the other way round: the share graded inadequate falls across quartiles of capacity.
    capacity = inspections["capacity"].to_numpy()
    quartile = np.searchsorted(np.quantile(capacity, [0.25, 0.5, 0.75]), capacity)
    inadequate = (inspections["grade"] == "inadequate").to_numpy()
    shares = [float(inadequate[quartile == q].mean()) for q in range(4)]
    assert shares == sorted(shares, reverse=True) and shares[0] > shares[-1]


@pytest.fixture(scope="module")
def no_effect_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sim_rtm")
    simulate(
        out, SimulationParameters(n_organisations=1000, n_years=4, seed=5, intervention_effect_scale=0.0)
    )
    return out


def test_regression_to_the_mean_misleads_a_naive_before_after(no_effect_run: Path) -> None:
    out = no_effect_run
    mapping = yaml.safe_load((out / "indicators_mapping.yml").read_text())
    direction = {"higher_is_better": 1.0, "lower_is_better": -1.0}
    proportions = {
        s["code"]: direction[s["polarity"]] for s in mapping["indicators"] if s["kind"] == "proportion"
    }
    types = pl.read_csv(out / "organisations.csv").select("org_code", "type")
    observed = (
        _strings(pl.read_parquet(out / "indicators.parquet"))
        .filter(pl.col("indicator").is_in(list(proportions)))
        .join(types, on="org_code")
    )
    truth = _strings(pl.read_parquet(out / "truth" / "indicator_truth.parquet")).unpivot(
        index=["org_code", "period"], on=list(proportions), variable_name="indicator", value_name="p"
    )
    # z-scores within type, indicator and month, from observed data; the truth goes on the same scale.
    group = ("type", "indicator", "period")
    scored = (
        observed.join(truth, on=["org_code", "period", "indicator"])
        .with_columns(
            ((pl.col("numerator") + 0.5) / (pl.col("denominator") - pl.col("numerator") + 0.5))
            .log()
            .alias("x"),
            (pl.col("p") / (1 - pl.col("p"))).log().alias("x_true"),
            pl.col("indicator").replace_strict(proportions, return_dtype=pl.Float64).alias("sign"),
        )
        .with_columns(
            (
                (pl.col(c) - pl.col("x").mean().over(group)) / pl.col("x").std().over(group) * pl.col("sign")
            ).alias(z)
            for c, z in (("x", "z"), ("x_true", "z_true"))
        )
        .group_by("org_code", "period")
        .agg(pl.col("z", "z_true").mean())
    )
    selected = (
        pl.read_parquet(out / "truth" / "interventions.parquet")
        .filter(pl.col("trigger") == "surveillance")
        .with_columns(pl.col("date").str.to_date().dt.truncate("1mo").alias("selected"))
    )
    assert selected.height > 100
    relative = selected.join(scored, on="org_code").with_columns(
        (
            (pl.col("period").dt.year() - pl.col("selected").dt.year()) * 12
            + pl.col("period").dt.month()
            - pl.col("selected").dt.month()
        ).alias("month")
    )
    keys = ["org_code", "selected"]
    before = (
        relative.filter(pl.col("month").is_between(-2, 0)).group_by(keys).agg(pl.col("z", "z_true").mean())
    )
    after = relative.filter(pl.col("month").is_between(4, 9)).group_by(keys).agg(pl.col("z", "z_true").mean())
    paired = before.join(after, on=keys, suffix="_after")
    naive = (paired["z_after"] - paired["z"]).to_numpy()
    true = (paired["z_true_after"] - paired["z_true"]).to_numpy()
    artefact = naive - true

    def t(values: np.ndarray) -> float:
        return float(values.mean() / (values.std(ddof=1) / np.sqrt(values.size)))

    # With no intervention effect at all, the selected organisations "improve" ...
    assert t(naive) > 4
    # ... by clearly more than their true state moved: the excess is regression to the mean.
    assert t(artefact) > 4
    assert artefact.mean() > 0.5 * naive.mean()
    # Selection was on noise as well as truth: observed scores before selection were worse than the truth.
    assert paired["z"].mean() < paired["z_true"].mean()  # type: ignore[operator]
    # The package's worked example (docs/simulator.md) computes the same comparison.
    example = before_after(out, before=(-2, 0), after=(4, 9))
    assert sum(example.selections) == naive.size
    weights = np.array(example.selections) / naive.size
    assert float(np.dot(weights, example.naive)) == pytest.approx(naive.mean(), abs=1e-12)
    assert float(np.dot(weights, example.true)) == pytest.approx(true.mean(), abs=1e-12)
