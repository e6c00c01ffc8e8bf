"""Difference in means against R's t.test on Student's sleep data; cluster-robust errors against the sandwich
formula written out."""

from __future__ import annotations

import numpy as np
import pandas as pd  # type: ignore[import-untyped]
import pytest

from forewarn.stats.experiments.means import cluster_means, cluster_robust, difference_in_means

# R's `sleep` data (Cushny & Peebles 1905, as analysed by Student 1908): extra hours of sleep, drug 1 then drug 2.
DRUG1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]
DRUG2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]


def test_welch_matches_r_t_test() -> None:
    # R 4.2.2: t.test(extra ~ group, data = sleep): t = -1.8608, df = 17.776, p-value = 0.07939,
    # 95 percent confidence interval -3.3654832 0.2054832.
    r = difference_in_means(DRUG1, DRUG2)
    assert r.estimate == pytest.approx(-1.58)
    assert r.estimate / r.std_error == pytest.approx(-1.8608, abs=5e-5)
    assert r.df == pytest.approx(17.776, abs=5e-4)
    assert r.p_value == pytest.approx(0.07939, abs=5e-6)
    assert (r.ci_low, r.ci_high) == pytest.approx((-3.3654832, 0.2054832), abs=5e-8)


def test_student_matches_r_t_test_var_equal() -> None:
    # R 4.2.2: t.test(extra ~ group, data = sleep, var.equal = TRUE): t = -1.8608, df = 18, p-value = 0.07919,
    # 95 percent confidence interval -3.363874 0.203874.
    r = difference_in_means(DRUG1, DRUG2, equal_var=True)
    assert r.df == 18
    assert r.p_value == pytest.approx(0.07919, abs=5e-6)
    assert (r.ci_low, r.ci_high) == pytest.approx((-3.363874, 0.203874), abs=5e-7)


def _clustered(seed: int = 4) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(14):
        treated = c % 2
        effect = rng.normal(0, 0.7)
        for _ in range(rng.integers(5, 25)):
            x = rng.normal()
            rows.append(
                {
                    "cluster": f"c{c}",
                    "t": treated,
                    "x": x,
                    "y": 1.0 + 0.5 * treated + 0.3 * x + effect + rng.normal(),
                }
            )
    return pd.DataFrame(rows)


def test_cluster_robust_is_the_cr1_sandwich() -> None:
    frame = _clustered()
    result = cluster_robust(frame, "y", "t", "cluster", covariates=["x"])
    x = np.column_stack([np.ones(len(frame)), frame["t"], frame["x"]])
    y = frame["y"].to_numpy()
    bread = np.linalg.inv(x.T @ x)
    beta = bread @ x.T @ y
    u = y - x @ beta
    meat = np.zeros((3, 3))
    for _, idx in frame.groupby("cluster").indices.items():
        s = x[idx].T @ u[idx]
        meat += np.outer(s, s)
    g, n, k = frame["cluster"].nunique(), len(frame), 3
    v = bread @ meat @ bread * (g / (g - 1)) * ((n - 1) / (n - k))
    assert result.estimate == pytest.approx(beta[1], rel=1e-10)
    assert result.std_error == pytest.approx(np.sqrt(v[1, 1]), rel=1e-8)
    assert result.df == g - 1
    assert result.n_clusters == 14


def test_cluster_means_is_student_on_the_means() -> None:
    frame = _clustered()
    means = frame.groupby("cluster").agg(y=("y", "mean"), t=("t", "max"))
    expected = difference_in_means(means[means.t == 1].y, means[means.t == 0].y, equal_var=True)
    result = cluster_means(frame, "y", "t", "cluster")
    assert result.estimate == pytest.approx(expected.estimate)
    assert result.std_error == pytest.approx(expected.std_error)
    assert result.n_clusters == 14


def test_refusals() -> None:
    with pytest.raises(ValueError, match="at least two"):
        difference_in_means([1.0], [1.0, 2.0])
    frame = _clustered()
    frame.loc[frame.index[0], "t"] = 1 - frame.loc[frame.index[0], "t"]
    with pytest.raises(ValueError, match="both arms"):
        cluster_means(frame, "y", "t", "cluster")
    few = _clustered()
    few = few[few["cluster"].isin(["c0", "c1", "c2"])]
    with pytest.raises(ValueError, match="more clusters"):
        cluster_robust(few, "y", "t", "cluster", covariates=["x"])
