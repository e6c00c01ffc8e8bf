"""The domain's vocabulary, each rule written once: which way is better for an indicator, and when a deviation
is a concern rather than an improvement.

Every other module asks here: the scan's SPC and CUSUM direction, the funnel's "is this outlier a concern" (in
Python, over arrays, in Polars and in SQL), the risk model's concern sign, the charts' colours, the simulator's
designs. ``grep`` for a polarity string outside this module and the migrations should find nothing.

Polarity follows NHS England's Making Data Count convention (2019): an indicator says whether an increase or a
decrease is an improvement, or neither ("neutral"), and a special cause on the improving side is improvement,
on the other concern.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Literal

# Declared once, in stats (which imports nothing of ours), without NumPy: the store imports this module in
# every command, and NumPy is imported only by the functions over arrays.
from forewarn.stats.improvement import Improvement

if TYPE_CHECKING:
    import numpy as np
    import polars as pl
    from numpy.typing import ArrayLike, NDArray
    from sqlalchemy import ColumnElement


class Polarity(enum.StrEnum):
    """Which direction is improvement for an indicator."""

    HIGHER_IS_BETTER = "higher_is_better"
    LOWER_IS_BETTER = "lower_is_better"
    NEUTRAL = "neutral"


PolarityName = Literal["higher_is_better", "lower_is_better", "neutral"]

_IMPROVEMENT: dict[str, Improvement] = {
    Polarity.HIGHER_IS_BETTER.value: "increase",
    Polarity.LOWER_IS_BETTER.value: "decrease",
    Polarity.NEUTRAL.value: "neutral",
}
# +1: a high value is the concern; -1: a low value is; 0: neither.
_CONCERN_SIDE: dict[str, int] = {
    Polarity.HIGHER_IS_BETTER.value: -1,
    Polarity.LOWER_IS_BETTER.value: 1,
    Polarity.NEUTRAL.value: 0,
}


def polarity_of(value: str) -> Polarity:
    """The polarity named by ``value``; a clear error for anything else."""
    try:
        return Polarity(value)
    except ValueError:
        choices = ", ".join(p.value for p in Polarity)
        raise ValueError(f"polarity must be one of {choices}, not {value!r}") from None


def improvement_direction(polarity: str) -> Improvement:
    """``increase`` when higher is better, ``decrease`` when lower is better, else ``neutral``."""
    return _IMPROVEMENT.get(polarity, "neutral")


def higher_is_better(polarity: str) -> bool | None:
    """True or False for a directed indicator; None for a neutral one."""
    side = _CONCERN_SIDE.get(polarity, 0)
    return None if side == 0 else side < 0


def concern_side(polarity: str) -> int:
    """+1 when a high value is the concern, -1 when a low one is, 0 for a neutral indicator."""
    return _CONCERN_SIDE.get(polarity, 0)


def improvement_side(polarity: str) -> int:
    """+1 when a high value is an improvement, -1 when a low one is, 0 for a neutral indicator (the side a
    league table ranks first, the sign that turns a value into a score where higher is better)."""
    return -concern_side(polarity)


def concern_sides(polarity: ArrayLike) -> NDArray[np.int8]:
    """:func:`concern_side` over an array of polarity names."""
    import numpy as np

    names = np.asarray(polarity).astype(str)
    return np.where(
        names == Polarity.LOWER_IS_BETTER, 1, np.where(names == Polarity.HIGHER_IS_BETTER, -1, 0)
    ).astype(np.int8)


def is_concern(side: int | None, polarity: str) -> bool:
    """A deviation on ``side`` (+1 high, -1 low; e.g. a funnel outlier) is a concern for this polarity."""
    return side is not None and side != 0 and side == concern_side(polarity)


def deviation_direction(polarity: ArrayLike, high: ArrayLike) -> NDArray[np.str_]:
    """``concern``, ``improvement`` or ``neutral`` for each deviation (``high`` True above, False below)."""
    import numpy as np

    side = concern_sides(polarity)
    up = np.asarray(high, dtype=bool)
    observed = np.where(up, 1, -1)
    return np.where(side == 0, "neutral", np.where(observed == side, "concern", "improvement"))


def concern_side_expr(polarity: pl.Expr) -> pl.Expr:
    """:func:`concern_side` as a Polars expression (float, for scaling scores)."""
    import polars as pl

    return (
        pl.when(polarity == Polarity.LOWER_IS_BETTER.value)
        .then(1.0)
        .when(polarity == Polarity.HIGHER_IS_BETTER.value)
        .then(-1.0)
        .otherwise(0.0)
    )


def is_concern_sql(side: ColumnElement[int], polarity: ColumnElement[str]) -> ColumnElement[bool]:
    """:func:`is_concern` as a SQL condition, for counting concerns in the store."""
    from sqlalchemy import and_, or_

    return or_(
        and_(side == -1, polarity == Polarity.HIGHER_IS_BETTER),
        and_(side == 1, polarity == Polarity.LOWER_IS_BETTER),
    )


__all__ = [
    "Improvement",
    "Polarity",
    "PolarityName",
    "concern_side",
    "concern_side_expr",
    "concern_sides",
    "deviation_direction",
    "higher_is_better",
    "improvement_direction",
    "improvement_side",
    "is_concern",
    "is_concern_sql",
    "polarity_of",
]
