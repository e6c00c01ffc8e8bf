"""Curved and joint forms of the strongest features, for the logistic model (issue 11's accuracy bar).

A logistic model is additive and linear on the log-odds scale in each feature; the chance of a new inadequate
grade is not. It rises faster than linearly once an organisation's indicators sit well on the side of concern,
and lasting weak performance matters more when it is still worsening, when the last grade was already poor, or
when an inspection is long overdue. So, from features already built at the origin (nothing else is read, so
they are point-in-time whenever those are):

- the squares of the positive (concern-side) parts of the one-factor estimate of lasting performance
  (``factor_level``), the mean funnel z and the naive mean z: a hinge at 0, zero for organisations on the good
  side, so only the tail bends (a restricted quadratic spline with one knot; Harrell 2015, section 2.4);
- ``factor_level`` times its own change (``factor_change``), the recent indicator trend (``trend_mean``), the
  last grade and the months since the last inspection (null where either is: imputed as any missing feature).

Chosen on development seeds 7, 23 and 31 only (docs/risk.md, "Accuracy on every seed, third pass").

References
----------
Harrell, F. E. (2015). Regression Modeling Strategies, 2nd ed. Springer (section 2.4: relaxing linearity).
"""

from __future__ import annotations

import polars as pl

SQUARED = ("factor_level", "funnel_z_mean", "naive_mean_z")
WITH_FACTOR = ("factor_change", "trend_mean", "last_grade", "months_since_inspection")


def shape_features(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` (an origin's features) with the curved and joint forms of the columns it has."""
    added = [
        (pl.col(name).clip(lower_bound=0.0) ** 2).alias(f"{name}_concern_sq")
        for name in SQUARED
        if name in frame.columns
    ]
    if "factor_level" in frame.columns:
        added += [
            (pl.col("factor_level") * pl.col(name)).alias(f"factor_level_x_{name}")
            for name in WITH_FACTOR
            if name in frame.columns
        ]
    return frame.with_columns(added) if added else frame
