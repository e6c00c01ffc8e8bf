"""The domain's rules (Making Data Count's polarity convention), each checked against the truth table it states."""

from __future__ import annotations

import re
from pathlib import Path

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
    improvement_side,
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
    assert improvement_side(polarity) == -side
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


SRC = Path(__file__).resolve().parents[1] / "src" / "forewarn"
POLARITY_LITERAL = re.compile(r"""["'](higher|lower)_is_better["']""")


def test_no_polarity_literal_outside_the_domain() -> None:
    """Each rule is written once: a quoted polarity name anywhere else in src/ is a rule written again."""
    allowed = {SRC / "domain.py"}
    hits = [
        f"{path.relative_to(SRC)}:{number}"
        for path in sorted(SRC.rglob("*"))
        if path.suffix in {".py", ".html"}
        and path not in allowed
        and "migrations" not in path.relative_to(SRC).parts
        and "static" not in path.relative_to(SRC).parts
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if POLARITY_LITERAL.search(line)
    ]
    assert hits == []
