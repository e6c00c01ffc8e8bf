"""Staggered difference-in-differences: the R package did's README on mpdta, and exact and simulated checks."""

from __future__ import annotations

import numpy as np
import pandas as pd  # type: ignore[import-untyped]
import pytest

from forewarn.stats.experiments.staggered import callaway_santanna
from tests.stats.experiment_data import published

# did 2.5.1 README: att_gt(yname = "lemp", gname = "first.treat", idname = "countyreal", tname = "year",
# xformla = ~1, data = mpdta, est_method = "reg"): (group, time) -> (ATT, bootstrap standard error).
README_ATT = {
    (2004, 2004): (-0.0105, 0.0246),
    (2004, 2005): (-0.0704, 0.0332),
    (2004, 2006): (-0.1373, 0.0397),
    (2004, 2007): (-0.1008, 0.0357),
    (2006, 2004): (0.0065, 0.0229),
    (2006, 2005): (-0.0028, 0.0197),
    (2006, 2006): (-0.0046, 0.0179),
    (2006, 2007): (-0.0412, 0.0192),
    (2007, 2004): (0.0305, 0.0154),
    (2007, 2005): (-0.0027, 0.0164),
    (2007, 2006): (-0.0311, 0.0184),
    (2007, 2007): (-0.0261, 0.0170),
}
# aggte(out, type = "dynamic") and aggte(out, type = "group") in the same README.
README_DYNAMIC = {-3: 0.0305, -2: -0.0006, -1: -0.0245, 0: -0.0199, 1: -0.0510, 2: -0.1373, 3: -0.1008}
README_GROUP = {2004: -0.0797, 2006: -0.0229, 2007: -0.0261}


def _mpdta() -> pd.DataFrame:
    return published("mpdta.csv")


def test_mpdta_group_time_effects_match_the_readme() -> None:
    result = callaway_santanna(_mpdta(), unit="countyreal", time="year", outcome="lemp", group="first.treat")
    assert len(result.cells) == len(README_ATT)
    assert result.bootstrap_std_errors is not None
    for i, cell in enumerate(result.cells):
        att, se = README_ATT[(cell.group, cell.time)]
        assert round(cell.att, 4) == att, (cell.group, cell.time)
        # Standard errors: ours (analytic and bootstrap) against the README's one bootstrap run.
        assert cell.std_error == pytest.approx(se, rel=0.2)
        assert result.bootstrap_std_errors[i] == pytest.approx(se, rel=0.2)


def test_mpdta_aggregates_match_the_readme() -> None:
    result = callaway_santanna(_mpdta(), unit="countyreal", time="year", outcome="lemp", group="first.treat")
    dynamic = result.dynamic()
    assert round(dynamic.att, 4) == -0.0772
    assert dynamic.std_error == pytest.approx(0.0219, rel=0.2)
    assert {e: round(v[0], 4) for e, v in dynamic.pieces.items()} == README_DYNAMIC
    group = result.group()
    assert round(group.att, 3) == -0.031
    assert group.std_error == pytest.approx(0.0126, rel=0.2)
    assert {g: round(v[0], 4) for g, v in group.pieces.items()} == README_GROUP
    # The simple aggregate, sum of post-treatment ATT(g,t) weighted by group size, written out.
    sizes = dict(_mpdta().groupby("first.treat")["countyreal"].nunique().items())
    post = [c for c in result.cells if c.post]
    expected = sum(c.att * sizes[c.group] for c in post) / sum(sizes[c.group] for c in post)
    assert result.simple().att == pytest.approx(expected)
    assert round(result.simple().att, 4) == -0.0400


def _panel(seed: int, effect: float, n_units: int = 600) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    periods = np.arange(1, 9)
    first = rng.choice([0, 4, 6], size=n_units, p=[0.4, 0.3, 0.3])
    unit_effect = rng.normal(0, 2, n_units)
    time_effect = rng.normal(0, 1, len(periods))
    rows = []
    for i in range(n_units):
        for j, t in enumerate(periods):
            treated = first[i] > 0 and t >= first[i]
            y = (
                unit_effect[i]
                + time_effect[j]
                + (effect + 0.2 * (t - first[i]) if treated else 0.0)
                + rng.normal()
            )
            rows.append({"id": i, "t": t, "y": y, "g": first[i]})
    return pd.DataFrame(rows)


def test_two_by_two_standard_error_is_the_textbook_one() -> None:
    """With one treated group, the cell's analytic SE is sqrt(var_D/n_D + var_C/n_C) of the changes (ddof 0)."""
    frame = _panel(1, 1.0)
    result = callaway_santanna(frame, unit="id", time="t", outcome="y", group="g", bootstrap=0)
    wide = frame.pivot_table(index="id", columns="t", values="y")
    groups = frame.groupby("id")["g"].first()
    change = wide[6] - wide[3]
    d, c = change[groups == 4], change[groups == 0]
    cell = result.cell(4, 6)
    assert cell.att == pytest.approx(d.mean() - c.mean())
    assert cell.std_error == pytest.approx(np.sqrt(d.var(ddof=0) / len(d) + c.var(ddof=0) / len(c)))


@pytest.mark.parametrize("control", ["never", "not_yet"])
def test_simulated_effects_are_recovered(control: str) -> None:
    frame = _panel(2, 1.5)
    result = callaway_santanna(frame, unit="id", time="t", outcome="y", group="g", control=control, seed=3)  # type: ignore[arg-type]
    # True ATT(g, t) = 1.5 + 0.2 (t - g) after adoption, 0 before.
    for cell in result.cells:
        truth = 1.5 + 0.2 * (cell.time - cell.group) if cell.post else 0.0
        assert abs(cell.att - truth) < 4 * cell.std_error, (cell.group, cell.time)
    dynamic = result.dynamic()
    truth_dynamic = np.mean([1.5 + 0.2 * e for e in range(5)])
    assert dynamic.ci_low < truth_dynamic < dynamic.ci_high


def test_refusals() -> None:
    frame = _panel(3, 1.0, n_units=50)
    with pytest.raises(ValueError, match="balanced"):
        callaway_santanna(frame.iloc[1:], unit="id", time="t", outcome="y", group="g")
    frame["g"] = frame["g"].where(frame["g"] > 0, 6)
    with pytest.raises(ValueError, match="never-treated"):
        callaway_santanna(frame, unit="id", time="t", outcome="y", group="g")
