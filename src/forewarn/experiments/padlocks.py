"""An evidence rating in the style of the Education Endowment Foundation's padlocks (0 to 5), shown with every result.

The EEF rates how secure a finding is from its design, its size (minimum detectable effect), its attrition and its
balance; Forewarn uses the same four headings with these written rules (docs/experiments.md), tested one by one:

1. **Design** caps the rating: randomised (individual, cluster, stepped wedge) 5; a comparison group built to match
   (staggered difference-in-differences against never- or not-yet-treated units, synthetic control) 3; a
   single series against its own projected trend (interrupted time series) 2; no comparison 0.
2. **Size**: the minimum detectable effect at 80% power and 5% two-sided, in standard deviations of the outcome
   (``2.80 x standard error / SD``): under 0.2 gives 5, under 0.3 4, under 0.4 3, under 0.5 2, under 0.6 1, else 0
   (the EEF's bands).
3. **Attrition**: the share of allocated units without outcome data: at most 10% gives 5, 20% 4, 30% 3, 40% 2,
   50% 1, more 0 (the EEF's bands).
4. The rating is the lowest of the three; then **balance** takes one padlock off when the arms differ at baseline
   by more than 0.1 standard deviations of the outcome (never below 0).

>>> rate("cluster", mdes=0.25, attrition=0.05, baseline_difference=0.02).padlocks
4
"""

from __future__ import annotations

from dataclasses import dataclass

DESIGN_PADLOCKS = {
    "individual": 5,
    "cluster": 5,
    "stepped_wedge": 5,
    "staggered_did": 3,
    "synthetic_control": 3,
    "its": 2,
    "none": 0,
}
SIZE_BANDS = ((0.2, 5), (0.3, 4), (0.4, 3), (0.5, 2), (0.6, 1))
ATTRITION_BANDS = ((0.10, 5), (0.20, 4), (0.30, 3), (0.40, 2), (0.50, 1))
BALANCE_LIMIT = 0.1

__all__ = ["Rating", "mdes_from_standard_error", "rate"]


@dataclass(frozen=True)
class Rating:
    padlocks: int
    design: int
    size: int
    attrition: int
    balance_penalty: int
    mdes: float | None
    attrition_share: float
    baseline_difference: float | None
    reasons: tuple[str, ...]

    def to_dict(self) -> dict[str, object]:
        return {
            "padlocks": self.padlocks,
            "design": self.design,
            "size": self.size,
            "attrition": self.attrition,
            "balance_penalty": self.balance_penalty,
            "mdes": self.mdes,
            "attrition_share": self.attrition_share,
            "baseline_difference": self.baseline_difference,
            "reasons": list(self.reasons),
        }


def mdes_from_standard_error(std_error: float, outcome_sd: float) -> float:
    """``(z_0.975 + z_0.80) x SE / SD``: the smallest standardised effect the analysis would detect 80% of the time."""
    if outcome_sd <= 0:
        raise ValueError("the outcome's standard deviation must be positive")
    return (1.959963984540054 + 0.8416212335729143) * std_error / outcome_sd


def _band(value: float, bands: tuple[tuple[float, int], ...], inclusive: bool) -> int:
    for limit, padlocks in bands:
        if (value <= limit) if inclusive else (value < limit):
            return padlocks
    return 0


def rate(design: str, *, mdes: float | None, attrition: float, baseline_difference: float | None) -> Rating:
    """The rating of a result under the rules in the module docstring."""
    if design not in DESIGN_PADLOCKS:
        raise ValueError(f"unknown design {design!r}")
    if not 0 <= attrition <= 1:
        raise ValueError("attrition is a share between 0 and 1")
    d = DESIGN_PADLOCKS[design]
    s = _band(mdes, SIZE_BANDS, inclusive=False) if mdes is not None else 0
    a = _band(attrition, ATTRITION_BANDS, inclusive=True)
    reasons = [
        f"design {design}: at most {d}",
        f"size: MDES {mdes:.2f} SD gives {s}" if mdes is not None else "size: no MDES, 0",
    ]
    reasons.append(f"attrition {attrition:.0%} gives {a}")
    penalty = 0
    if baseline_difference is not None and abs(baseline_difference) > BALANCE_LIMIT:
        penalty = 1
        reasons.append(f"baseline imbalance {baseline_difference:+.2f} SD takes one off")
    padlocks = max(0, min(d, s, a) - penalty)
    return Rating(padlocks, d, s, a, penalty, mdes, attrition, baseline_difference, tuple(reasons))
