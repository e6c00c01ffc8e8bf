"""The domain's rules (Making Data Count's polarity convention), each checked against the truth table it states."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from forewarn.domain import (
    Polarity,
    concern_side,
    concern_side_expr,
    concern_sides,
    deviation_direction,
    higher_is_better,
    improvement_direction,
    is_concern,
    polarity_of,
)

# polarity -> (improvement direction, side of concern, higher is better)
TRUTH = {
    "higher_is_better": ("increase", -1, True),
    "lower_is_better": ("decrease", 1, False),
    "neutral": ("neutral", 0, None),
}


@pytest.mark.parametrize("polarity", list(TRUTH))
def test_each_rule_follows_the_truth_table(polarity: str) -> None:
    improvement, side, better_high = TRUTH[polarity]
    assert improvement_direction(polarity) == improvement
    assert concern_side(polarity) == side
    assert higher_is_better(polarity) is better_high
    assert [is_concern(s, polarity) for s in (-1, 0, 1, None)] == [side == -1, False, side == 1, False]


def test_the_array_polars_and_scalar_forms_agree() -> None:
    names = np.array(list(TRUTH) * 2, dtype=object)
    high = np.array([True, True, True, False, False, False])
    expected = ["improvement", "concern", "neutral", "concern", "improvement", "neutral"]
    assert deviation_direction(names, high).tolist() == expected
    assert concern_sides(names).tolist() == [concern_side(n) for n in names]
    frame = pl.DataFrame({"polarity": names.tolist()})
    assert frame.select(concern_side_expr(pl.col("polarity")).alias("side"))["side"].to_list() == [
        float(concern_side(n)) for n in names
    ]


def test_an_unknown_polarity_is_named_in_the_error() -> None:
    assert polarity_of("lower_is_better") is Polarity.LOWER_IS_BETTER
    with pytest.raises(ValueError, match="'up'"):
        polarity_of("up")
