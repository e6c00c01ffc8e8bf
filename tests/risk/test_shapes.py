"""The curved and joint forms of the strongest features (forewarn.risk.shapes) against a derivation by hand."""

from __future__ import annotations

import math

import polars as pl

from forewarn.risk.reasons import meaning
from forewarn.risk.shapes import shape_features


def test_squares_of_the_concern_side_and_products_with_the_factor() -> None:
    frame = pl.DataFrame(
        {
            "organisation_id": [1, 2, 3],
            "factor_level": [1.5, -0.5, 0.0],
            "funnel_z_mean": [-1.0, 2.0, 0.5],
            "naive_mean_z": [0.25, None, -0.1],
            "factor_change": [0.2, 0.4, -1.0],
            "trend_mean": [0.01, -0.02, 0.03],
            "last_grade": [2.0, None, 1.0],
            "months_since_inspection": [30.0, 6.0, None],
        }
    )
    out = shape_features(frame)
    assert out["factor_level_concern_sq"].to_list() == [2.25, 0.0, 0.0]
    assert out["funnel_z_mean_concern_sq"].to_list() == [0.0, 4.0, 0.25]
    assert out["naive_mean_z_concern_sq"].to_list() == [0.0625, None, 0.0]
    assert out["factor_level_x_factor_change"].to_list() == [1.5 * 0.2, -0.5 * 0.4, 0.0]
    assert all(
        math.isclose(a, b) for a, b in zip(out["factor_level_x_trend_mean"], [0.015, 0.01, 0.0], strict=True)
    )
    assert out["factor_level_x_last_grade"].to_list() == [3.0, None, 0.0]
    assert out["factor_level_x_months_since_inspection"].to_list() == [45.0, -3.0, None]
    # Every new column has a plain-English meaning (it can be given as a reason on the watchlist).
    assert all(meaning(c) is not None for c in out.columns if c not in frame.columns)


def test_without_the_factor_only_the_squares_are_added() -> None:
    frame = pl.DataFrame({"organisation_id": [1], "funnel_z_mean": [1.0]})
    assert shape_features(frame).columns == ["organisation_id", "funnel_z_mean", "funnel_z_mean_concern_sq"]
    assert shape_features(pl.DataFrame({"organisation_id": [1]})).columns == ["organisation_id"]
