"""Charts of a risk backtest (issue 11): calibration (predicted against observed by tenth of the predictions, on
held-out origins) and the lead-time curve (share of failures in the riskiest 10% at each lead before them),
the model beside its baselines."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import altair as alt

from forewarn.charts.palette import COMMON_CAUSE, CONCERN, IMPROVEMENT, LIMIT, NEUTRAL, TARGET
from forewarn.charts.render import layer, layered, spec_of

SERIES_COLOURS = (IMPROVEMENT, CONCERN, NEUTRAL, TARGET, COMMON_CAUSE)


def calibration_chart(
    predicted: Sequence[float], observed: Sequence[float], *, width: int = 420
) -> alt.LayerChart:
    """Observed failure rate against mean predicted probability in each tenth of the held-out predictions, over
    the diagonal of perfect calibration."""
    rows = [{"predicted": p, "observed": o} for p, o in zip(predicted, observed, strict=True)]
    top = max([0.05, *predicted, *observed]) * 1.05
    scale = {"domain": [0, top]}
    diagonal = [{"predicted": 0.0, "observed": 0.0}, {"predicted": top, "observed": top}]
    layers = [
        layer(
            "diagonal",
            {"type": "line", "strokeDash": [4, 4], "color": LIMIT},
            x={"field": "predicted", "type": "quantitative", "scale": scale},
            y={"field": "observed", "type": "quantitative", "scale": scale},
        ),
        layer(
            "deciles",
            {"type": "line", "point": True, "color": IMPROVEMENT},
            x={
                "field": "predicted",
                "type": "quantitative",
                "title": "Mean predicted probability",
                "axis": {"format": ".0%"},
                "scale": scale,
            },
            y={
                "field": "observed",
                "type": "quantitative",
                "title": "Observed failure rate",
                "axis": {"format": ".0%"},
                "scale": scale,
            },
            tooltip=[
                {"field": "predicted", "type": "quantitative", "title": "Predicted", "format": ".1%"},
                {"field": "observed", "type": "quantitative", "title": "Observed", "format": ".1%"},
            ],
        ),
    ]
    return layered(
        layers,
        description="Calibration on held-out origins: observed failure rate against the mean predicted "
        "probability in each tenth of the predictions; the dashed diagonal is perfect calibration",
        width=width,
        height=width,
        datasets={"deciles": rows, "diagonal": diagonal},
    )


def lead_time_chart(curves: Mapping[str, Mapping[str, float | None]], *, width: int = 520) -> alt.LayerChart:
    """One line per score (the model first, then its baselines): the share of failures that were in the riskiest
    10% at each lead (months before the failure)."""
    rows = [
        {"score": name, "months": int(lead), "share": share}
        for name, curve in curves.items()
        for lead, share in curve.items()
        if share is not None
    ]
    names = list(curves)
    layers = [
        layer(
            None,
            {"type": "line", "point": True},
            x={"field": "months", "type": "quantitative", "title": "Months before the failure"},
            y={
                "field": "share",
                "type": "quantitative",
                "title": "Share of failures in the riskiest 10%",
                "axis": {"format": ".0%"},
                "scale": {"domain": [0, 1]},
            },
            color={
                "field": "score",
                "type": "nominal",
                "title": "Score",
                "scale": {"domain": names, "range": list(SERIES_COLOURS[: len(names)])},
            },
            tooltip=[
                {"field": "score", "title": "Score"},
                {"field": "months", "type": "quantitative", "title": "Months before"},
                {"field": "share", "type": "quantitative", "title": "Share", "format": ".0%"},
            ],
        )
    ]
    return layered(
        layers,
        data="lead_time",
        description="Lead time: the share of failures that were in the riskiest 10% 1, 3, 6, 12 and 24 months "
        "before them, for the model and its baselines",
        width=width,
        height=300,
        datasets={"lead_time": rows},
    )


def calibration_spec(predicted: Sequence[float], observed: Sequence[float]) -> dict[str, Any]:
    return spec_of(calibration_chart(predicted, observed))


def lead_time_spec(curves: Mapping[str, Mapping[str, float | None]]) -> dict[str, Any]:
    return spec_of(lead_time_chart(curves))


__all__ = ["calibration_chart", "calibration_spec", "lead_time_chart", "lead_time_spec"]
