"""Average run lengths against R spc 0.6.7 and surveillance 1.20.3 (fixtures/arl), and exact derivations."""

from __future__ import annotations

import csv
import math
import re
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from forewarn.stats import arl

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "arl" / "arl_reference.csv"

# The integral-equation and Markov-chain ARLs reproduce spc/surveillance to rounding (about 1e-12 relative);
# the critical values differ by the peers' secant stopping rule (|ARL - L0| <= 1e-6), about 3e-10 relative.
ARL_RTOL = 1e-9
CRIT_RTOL = 1e-8


def _reference_rows() -> list[dict[str, str]]:
    with FIXTURE.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _arguments(text: str) -> dict[str, str]:
    """'k=0.5,h=4,mu=0,hs=2 (FIR head start)' -> {'k': '0.5', ...}; bare words map to themselves."""
    plain = re.sub(r"\s*\([^)]*\)", "", text)
    parsed: dict[str, str] = {}
    for part in plain.split(","):
        part = part.strip()
        if "=" in part:
            key, value = part.split("=", 1)
            parsed[key.strip()] = value.strip()
        elif part:
            parsed[part.split()[0]] = part
    return parsed


ROWS = _reference_rows()


def _rows(package: str, function: str) -> list[dict[str, str]]:
    return [row for row in ROWS if row["package"] == package and row["fun"] == function]


def _row_id(row: dict[str, str]) -> str:
    return f"{row['fun']}[{row['args']}]"


def test_fixture_has_every_row_covered() -> None:
    # Every row of the reference file is used by exactly one of the parametrised tests below.
    covered = {
        ("spc", "xcusum.arl"),
        ("spc", "xcusum.crit"),
        ("spc", "xewma.arl"),
        ("spc", "xewma.crit"),
        ("spc", "xshewhartrunsrules.arl"),
        ("spc", "pois.cusum.arl"),
        ("surveillance", "arlCusum"),
        ("R-sim", "Monte Carlo (20000 runs)"),
        ("R-sim", "Monte Carlo (4000 runs)"),
    }
    assert {(row["package"], row["fun"]) for row in ROWS} == covered
    assert len(ROWS) == 51


@pytest.mark.parametrize("row", _rows("spc", "xcusum.arl"), ids=_row_id)
def test_cusum_arl_matches_spc_xcusum_arl(row: dict[str, str]) -> None:
    # R: spc::xcusum.arl(k, h, mu, hs, sided, method) with its defaults r = 30 (igl) / 30 cells (mc).
    args = _arguments(row["args"])
    method = "markov" if args.get("method") == "mc" else "integral"
    value = arl.cusum_arl(
        float(args["k"]),
        float(args["h"]),
        float(args["mu"]),
        head_start=float(args.get("hs", 0.0)),
        sided="two" if args.get("sided") == "two" else "one",
        method=method,
    )
    assert value == pytest.approx(float(row["value"]), rel=ARL_RTOL)


@pytest.mark.parametrize("row", _rows("spc", "xcusum.crit"), ids=_row_id)
def test_cusum_crit_matches_spc_xcusum_crit(row: dict[str, str]) -> None:
    # R: spc::xcusum.crit(k, L0, sided)
    args = _arguments(row["args"])
    h = arl.cusum_crit(float(args["k"]), float(args["L0"]), sided="two" if args["sided"] == "two" else "one")
    assert h == pytest.approx(float(row["value"]), rel=CRIT_RTOL)


@pytest.mark.parametrize("row", _rows("spc", "xewma.arl"), ids=_row_id)
def test_ewma_arl_matches_spc_xewma_arl(row: dict[str, str]) -> None:
    # R: spc::xewma.arl(l, c, mu, sided = "two") with fixed limits and r = 40.
    args = _arguments(row["args"])
    assert args["sided"] == "two"
    value = arl.ewma_arl(float(args["l"]), float(args["c"]), float(args["mu"]))
    assert value == pytest.approx(float(row["value"]), rel=ARL_RTOL)


@pytest.mark.parametrize("row", _rows("spc", "xewma.crit"), ids=_row_id)
def test_ewma_crit_matches_spc_xewma_crit(row: dict[str, str]) -> None:
    # R: spc::xewma.crit(l, L0, sided = "two")
    args = _arguments(row["args"])
    assert arl.ewma_crit(float(args["l"]), float(args["L0"])) == pytest.approx(
        float(row["value"]), rel=CRIT_RTOL
    )


@pytest.mark.parametrize("row", _rows("spc", "xshewhartrunsrules.arl"), ids=_row_id)
def test_runs_rules_arl_matches_spc(row: dict[str, str]) -> None:
    # R: spc::xshewhartrunsrules.arl(mu, c, type); type "12" is Western Electric rules 1 and 2, etc.
    args = _arguments(row["args"])
    rules = tuple(int(digit) for digit in args["type"])
    value = arl.shewhart_runs_arl(float(args["mu"]), rules=rules, limit_scale=float(args["c"]))
    assert value == pytest.approx(float(row["value"]), rel=ARL_RTOL)


@pytest.mark.parametrize("row", _rows("spc", "pois.cusum.arl"), ids=_row_id)
def test_poisson_cusum_matches_spc_pois_cusum_arl(row: dict[str, str]) -> None:
    # R: spc::pois.cusum.arl(mu, km, hm, m), which signals when S > h.
    args = _arguments(row["args"])
    m = int(args["m"])
    value = arl.poisson_cusum_arl(
        float(args["mu"]), Fraction(int(args["km"]), m), Fraction(int(args["hm"]), m), alarm_when=">"
    )
    assert value == pytest.approx(float(row["value"]), rel=ARL_RTOL)


@pytest.mark.parametrize("row", _rows("surveillance", "arlCusum"), ids=_row_id)
def test_count_cusum_matches_surveillance_arlcusum(row: dict[str, str]) -> None:
    # R: surveillance::arlCusum(h, k, theta, distr): $ARL, or $FIR.ARL (head start h/2); alarm when S >= h.
    args = _arguments(row["args"])
    h, k = float(args["h"]), float(args["k"])
    head_start = h / 2 if "FIR" in row["args"] else 0.0
    if "poisson" in args:
        value = arl.poisson_cusum_arl(float(args["theta"]), k, h, head_start=head_start)
    else:
        value = arl.binomial_cusum_arl(float(args["p"]), k, h, trials=1, head_start=head_start)
    assert value == pytest.approx(float(row["value"]), rel=ARL_RTOL)


@pytest.mark.parametrize("row", [*_rows("R-sim", "Monte Carlo (20000 runs)")], ids=_row_id)
def test_poisson_cusum_conventions_agree_with_monte_carlo(row: dict[str, str]) -> None:
    # Plain R simulation (20000 runs) of the Poisson CUSUM k = 3, h = 10, theta = 4 under both alarm rules.
    # The run-length sd is below the ARL, so ARL/sqrt(runs) bounds the standard error.
    alarm_when = ">=" if "S>=h" in row["args"] else ">"
    exact = arl.poisson_cusum_arl(4.0, 3, 10, alarm_when=alarm_when)
    assert abs(exact - float(row["value"])) < 4 * exact / math.sqrt(20000)


def test_bernoulli_cusum_agrees_with_monte_carlo() -> None:
    # R simulation, 4000 runs, Bernoulli CUSUM h = 3, k = 0.15, p = 0.2: 43.07175 with standard error 0.532.
    (row,) = _rows("R-sim", "Monte Carlo (4000 runs)")
    exact = arl.binomial_cusum_arl(0.2, 0.15, 3)
    assert abs(exact - float(row["value"])) < 4 * 0.532


# ---------------------------------------------------------------------------------------------------------
# Exact derivations and consistency
# ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shift", [0.0, 0.5, 1.0, 2.5])
def test_shewhart_rule_one_is_geometric(shift: float) -> None:
    # One point beyond +-3 sigma: the run length is geometric, ARL = 1 / P(|X| > 3).
    signal = 1.0 - (stats.norm.cdf(3.0 - shift) - stats.norm.cdf(-3.0 - shift))
    assert arl.shewhart_runs_arl(shift, rules=(1,)) == pytest.approx(1.0 / signal, rel=1e-12)


def test_ewma_with_lambda_one_is_the_shewhart_chart() -> None:
    # lambda = 1 makes Z_t = X_t: the EWMA with limits +-3 is the 3-sigma Shewhart chart (ARL 1/P(|X| > 3)),
    # with fixed and with time-varying limits alike.
    shewhart = 1.0 / (2.0 * stats.norm.sf(3.0))
    assert arl.ewma_arl(1.0, 3.0) == pytest.approx(shewhart, rel=1e-9)
    assert arl.ewma_arl(1.0, 3.0, limits="varying") == pytest.approx(shewhart, rel=1e-9)


def test_eight_in_a_row_alone_is_a_run_of_successes() -> None:
    # Rule 4 alone (8 in a row on one side, no 3-sigma rule) at mu = 0: each point is above or below the
    # centre with probability 1/2, so this is the waiting time for 8 equal outcomes in a row of a fair coin,
    # whose expectation is 2^8 - 1 = 255 (runs of either kind; for r = 2 it is the familiar 3).
    assert arl.shewhart_runs_arl(0.0, rules=(4,)) == pytest.approx(255.0, rel=1e-12)


def test_all_four_western_electric_rules() -> None:
    # Champ & Woodall (1987, Table 2) report an in-control ARL of 91.75 for rules 1-4 together.
    assert arl.shewhart_runs_arl(0.0, rules=(1, 2, 3, 4)) == pytest.approx(91.75, abs=0.005)


def test_custom_runs_rule_equals_western_electric_number() -> None:
    custom = arl.RunsRule(count=2, window=3, beyond=2.0)
    assert arl.shewhart_runs_arl(0.7, rules=(1, custom)) == arl.shewhart_runs_arl(0.7, rules=(1, 2))


@pytest.mark.parametrize("mu", [0.3, 1.0, 2.5])
def test_poisson_cusum_with_one_step_to_alarm_is_geometric(mu: float) -> None:
    # k = 0, h = 1, S >= h: the first count >= 1 signals, so the run length is geometric with p = 1 - e^-mu.
    assert arl.poisson_cusum_arl(mu, 0, 1) == pytest.approx(1.0 / -math.expm1(-mu), rel=1e-12)
    # Lower CUSUM, k = 1, h = 1: S' = max(0, S + 1 - X) reaches 1 exactly when X = 0, so ARL = e^mu.
    assert arl.poisson_cusum_arl(mu, 1, 1, direction="lower") == pytest.approx(math.exp(mu), rel=1e-12)


def test_count_cusum_that_cannot_climb_never_signals() -> None:
    # No count can raise S (mean 0 for the upper chart, every trial an event for the lower one): ARL infinite.
    assert arl.poisson_cusum_arl(0.0, 3, 10) == math.inf
    assert arl.binomial_cusum_arl(1.0, 0.5, 3, direction="lower") == math.inf


def test_binomial_cusum_with_one_step_to_alarm_is_geometric() -> None:
    # Binomial(5, 0.1), k = 1, h = 1: signals when X >= 2, ARL = 1 / P(X >= 2).
    assert arl.binomial_cusum_arl(0.1, 1, 1, trials=5) == pytest.approx(
        1.0 / stats.binom.sf(1, 5, 0.1), rel=1e-12
    )


def test_count_cusum_conventions_are_one_lattice_step_apart() -> None:
    # Signalling at S > h is signalling at S >= h + 1/m on the lattice of multiples of 1/m.
    assert arl.poisson_cusum_arl(2.4, 3, 10, alarm_when=">") == pytest.approx(
        arl.poisson_cusum_arl(2.4, 3, 11), rel=1e-12
    )
    assert arl.binomial_cusum_arl(0.1, Fraction(3, 20), Fraction(60, 20), alarm_when=">") == pytest.approx(
        arl.binomial_cusum_arl(0.1, Fraction(3, 20), Fraction(61, 20)), rel=1e-12
    )


def test_count_cusum_head_start_snaps_down_to_the_lattice() -> None:
    # h = 2.5 with k = 0.5 has lattice 1/2; arlCusum's FIR.ARL uses state floor(h m / 2) = 2, i.e. S = 1.
    assert arl.poisson_cusum_arl(0.4, 0.5, 2.5, head_start=1.25) == arl.poisson_cusum_arl(
        0.4, 0.5, 2.5, head_start=1.0
    )


def test_markov_chain_converges_to_the_integral_equation() -> None:
    # Brook & Evans is an approximation whose error shrinks with the number of cells.
    exact = arl.cusum_arl(0.5, 4.0)
    coarse = arl.cusum_arl(0.5, 4.0, method="markov")
    fine = arl.cusum_arl(0.5, 4.0, method="markov", nodes=300)
    assert abs(fine - exact) < abs(coarse - exact) / 20
    assert fine == pytest.approx(exact, rel=2e-4)


def test_two_sided_markov_chain_is_close_to_lucas_crosier() -> None:
    # The two-dimensional chain (no coupling approximation) and the Lucas-Crosier combination of one-sided
    # integral-equation ARLs agree to the chain's discretisation error (about 0.3% with 30 cells).
    for shift in (0.0, 1.0):
        assert arl.cusum_arl(0.5, 4.0, shift, sided="two", method="markov") == pytest.approx(
            arl.cusum_arl(0.5, 4.0, shift, sided="two"), rel=5e-3
        )


def test_crit_functions_invert_the_arl() -> None:
    h = arl.cusum_crit(0.5, 500.0, head_start=1.0)
    assert arl.cusum_arl(0.5, h, head_start=1.0) == pytest.approx(500.0, rel=1e-10)
    width = arl.ewma_crit(0.2, 250.0, limits="varying")
    assert arl.ewma_arl(0.2, width, limits="varying") == pytest.approx(250.0, rel=1e-10)


def test_count_cusum_crit_is_the_smallest_lattice_threshold() -> None:
    threshold = arl.poisson_cusum_crit(2.4, 3, 500.0)
    # surveillance::arlCusum(h = 10, k = 3, theta = 2.4): 548.36 >= 500, while h = 9 gives less than 500.
    assert threshold.h == 10.0
    assert threshold.arl == pytest.approx(548.362265528738, rel=ARL_RTOL)
    assert threshold.arl_below == pytest.approx(arl.poisson_cusum_arl(2.4, 3, 9), rel=1e-12)
    assert threshold.arl_below < 500.0
    bernoulli = arl.binomial_cusum_crit(0.1, 0.15, 900.0)
    assert bernoulli.denominator == 20
    assert bernoulli.arl >= 900.0 > bernoulli.arl_below
    assert bernoulli.arl == pytest.approx(arl.binomial_cusum_arl(0.1, 0.15, bernoulli.h), rel=1e-12)


def _simulated_ewma_run_lengths(lam: float, width: float, shift: float, runs: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    statistic = np.zeros(runs)
    run_length = np.zeros(runs, dtype=np.int64)
    active = np.arange(runs)
    t = 0
    while active.size:
        t += 1
        statistic = (1 - lam) * statistic + lam * rng.normal(shift, 1.0, active.size)
        limit = width * math.sqrt(lam / (2 - lam) * (1 - (1 - lam) ** (2 * t)))
        out = np.abs(statistic) > limit
        run_length[active[out]] = t
        active, statistic = active[~out], statistic[~out]
    return run_length


@pytest.mark.parametrize(
    ("lam", "width", "shift", "fixed_limits_distinguishable"), [(0.3, 2.5, 0.0, False), (0.1, 2.7, 0.5, True)]
)
def test_ewma_varying_limits_agree_with_simulation(
    lam: float, width: float, shift: float, fixed_limits_distinguishable: bool
) -> None:
    # Independent check of the time-varying-limits ARL: a direct simulation of the chart (fixed seed).
    run_length = _simulated_ewma_run_lengths(lam, width, shift, runs=20000, seed=11)
    standard_error = run_length.std() / math.sqrt(run_length.size)
    computed = arl.ewma_arl(lam, width, shift, limits="varying")
    assert abs(computed - run_length.mean()) < 4 * standard_error
    if fixed_limits_distinguishable:
        # the fixed-limit ARL is far outside the simulation's error: the simulation tells the two apart
        assert arl.ewma_arl(lam, width, shift) - run_length.mean() > 10 * standard_error


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: arl.cusum_arl(-0.1, 4.0), "k must be >= 0"),
        (lambda: arl.cusum_arl(0.5, 0.0), "h must be a positive"),
        (lambda: arl.cusum_arl(0.5, 4.0, head_start=4.0), "head_start"),
        (lambda: arl.cusum_arl(0.5, 4.0, head_start=3.0, sided="two"), "h/2 \\+ k"),
        (lambda: arl.cusum_arl(0.5, 4.0, sided="both"), "sided"),  # type: ignore[arg-type]
        (lambda: arl.cusum_arl(0.5, 4.0, method="mc"), "method"),  # type: ignore[arg-type]
        (lambda: arl.cusum_arl(0.5, 4.0, nodes=2), "nodes"),
        (lambda: arl.cusum_crit(0.5, 1.0), "target_arl must be > 1"),
        (lambda: arl.ewma_arl(1.5, 3.0), "lam must be in"),
        (lambda: arl.ewma_arl(0.2, 3.0, head_start=3.0), "head_start"),
        (lambda: arl.ewma_arl(0.2, 3.0, limits="asymptotic"), "limits"),  # type: ignore[arg-type]
        (lambda: arl.shewhart_runs_arl(0.0, rules=(5,)), "Western Electric"),
        (lambda: arl.shewhart_runs_arl(0.0, rules=()), "at least one rule"),
        (lambda: arl.RunsRule(count=4, window=3, beyond=1.0), "count <= window"),
        (lambda: arl.poisson_cusum_arl(-1.0, 3, 10), "Poisson mean"),
        (lambda: arl.poisson_cusum_arl(2.4, 3, 10, alarm_when="=>"), "alarm_when"),  # type: ignore[arg-type]
        (lambda: arl.poisson_cusum_arl(2.4, 3, 10, head_start=10), "head_start"),
        (lambda: arl.poisson_cusum_arl(2.4, 3, 10, direction="up"), "direction"),  # type: ignore[arg-type]
        (lambda: arl.binomial_cusum_arl(1.2, 0.1, 3), "probability"),
        (lambda: arl.binomial_cusum_arl(0.1, 0.1, 3, trials=0), "trials"),
        (lambda: arl.binomial_cusum_arl(0.1, 0.1, -3), "h must be > 0"),
        (lambda: arl.poisson_cusum_crit(2.4, 3, 0.5), "target_arl"),
    ],
)
def test_bad_input_raises_a_clear_error(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()  # type: ignore[operator]
