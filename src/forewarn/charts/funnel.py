"""Funnel plots: each organisation's value against its denominator, with the control limits around the target.

Hovering over a point names the organisation (or its pseudonym, for an anonymised peer). Organisations outside
the limits after FDR control are marked by colour and shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import altair as alt

from forewarn.charts.display import compared_scale_of
from forewarn.charts.palette import CONCERN, HIGHLIGHT, IMPROVEMENT, LIMIT, NEUTRAL, TARGET
from forewarn.charts.render import layer, layered, spec_of

# Axis titles (value, denominator) by funnel data type: proportions against their denominator N; ratios O/E
# (rates as ratios to the pooled rate) against the expected count E.
FUNNEL_AXIS_TITLES = {
    "PR": ("Proportion", "Denominator"),
    "SR": ("Ratio of observed to expected", "Expected"),
    "RC": ("Ratio of the two counts", "Second count"),
}


@dataclass(frozen=True)
class FunnelUnit:
    label: str
    denominator: float
    value: float
    outlier: int = 0  # -1 below, 0 within, +1 above (after FDR control)
    concern: bool = False  # the outlier's side is the side of concern for this indicator
    highlight: bool = False  # the viewer's own organisation
    z: float | None = None
    q: float | None = None


@dataclass(frozen=True)
class FunnelCurve:
    """One control limit drawn over a grid of denominators (e.g. the 99.8% upper limit)."""

    name: str
    denominator: Sequence[float]
    value: Sequence[float]
    dashed: bool = False


def _status(unit: FunnelUnit) -> str:
    if unit.outlier == 0:
        return "Within limits"
    side = "above" if unit.outlier > 0 else "below"
    if unit.concern:
        return f"Outlier {side}: concern"
    return f"Outlier {side}"


_STATUS_STYLE = {
    "Within limits": ("#6f777b", "circle"),
    "Outlier above: concern": (CONCERN, "diamond"),
    "Outlier below: concern": (CONCERN, "diamond"),
    "Outlier above": (IMPROVEMENT, "square"),
    "Outlier below": (NEUTRAL, "triangle-down"),
}


def funnel_plot_spec(
    units: Sequence[FunnelUnit],
    curves: Sequence[FunnelCurve],
    *,
    target: float | None,
    title: str,
    value_title: str,
    denominator_title: str,
    width: int = 620,
    height: int = 320,
    kind: str | None = None,
) -> dict[str, Any]:
    """The Vega-Lite spec of :func:`funnel_plot` (what the pages embed and the server draws as SVG)."""
    return spec_of(
        funnel_plot(
            units,
            curves,
            target=target,
            title=title,
            value_title=value_title,
            denominator_title=denominator_title,
            width=width,
            height=height,
            kind=kind,
        )
    )


def funnel_plot(
    units: Sequence[FunnelUnit],
    curves: Sequence[FunnelCurve],
    *,
    target: float | None,
    title: str,
    value_title: str,
    denominator_title: str,
    width: int = 620,
    height: int = 320,
    kind: str | None = None,
) -> alt.LayerChart:
    """A funnel plot as an Altair chart, with a tooltip naming each organisation.

    ``kind`` is the indicator's kind: a proportion's values read as percentages, and limits beyond a measure's
    natural bounds (below 0, above 100%) are drawn at the bound, as the description says. The data travel as
    named datasets: ``limits`` (the curves), ``target``, ``points`` and ``own`` (the highlighted organisation)."""
    scale = compared_scale_of(kind)
    points = [
        {
            "label": u.label,
            "denominator": u.denominator,
            "value": u.value,
            "status": _status(u),
            "own": "Your organisation" if u.highlight else "Other",
            "z": u.z,
            "q": u.q,
        }
        for u in units
    ]
    present = [s for s in _STATUS_STYLE if any(p["status"] == s for p in points)] or ["Within limits"]
    curve_rows: list[dict[str, Any]] = [
        {"limit": c.name, "denominator": d, "value": v, "dashed": c.dashed}
        for c in curves
        for d, v in zip(c.denominator, c.value, strict=True)
        if v == v  # drops NaN
    ]
    clipped = []  # "limits below 0% shown at 0%": what the description says of limits drawn at a bound
    for side, bound in (("below", scale.lower), ("above", scale.upper)):
        if bound is None:
            continue
        beyond = [
            row for row in curve_rows if (row["value"] < bound if side == "below" else row["value"] > bound)
        ]
        for row in beyond:
            row["value"] = bound
        if beyond:
            clipped.append(f"limits {side} {scale.bound_text(bound)} shown at {scale.bound_text(bound)}")
    x = {"field": "denominator", "type": "quantitative", "title": denominator_title}
    layers: list[alt.Chart] = []
    datasets: dict[str, Any] = {}
    if curve_rows:
        datasets["limits"] = curve_rows
        layers.append(
            layer(
                "limits",
                {"type": "line", "color": LIMIT, "strokeWidth": 1.2},
                x=x,
                y={"field": "value", "type": "quantitative"},
                detail={"field": "limit"},
                strokeDash={
                    "field": "dashed",
                    "type": "nominal",
                    "scale": {"domain": [False, True], "range": [[1, 0], [5, 4]]},
                    "legend": None,
                },
            )
        )
    if target is not None:
        datasets["target"] = [{"target": target}]
        layers.append(
            layer(
                "target",
                {"type": "rule", "color": TARGET, "strokeWidth": 1.5},
                y={"field": "target", "type": "quantitative"},
            )
        )
    datasets["points"] = points
    hover = alt.selection_point(name="hover", on="pointerover", clear="pointerout")
    layers.append(
        layer(
            "points",
            {"type": "point", "filled": True, "opacity": 0.85},
            x=x,
            y={
                "field": "value",
                "type": "quantitative",
                "title": value_title,
                "scale": {"zero": False},
                **({"axis": {"format": scale.axis_format}} if scale.axis_format else {}),
            },
            color={
                "field": "status",
                "type": "nominal",
                "title": "Position",
                "scale": {"domain": present, "range": [_STATUS_STYLE[s][0] for s in present]},
            },
            shape={
                "field": "status",
                "type": "nominal",
                "scale": {"domain": present, "range": [_STATUS_STYLE[s][1] for s in present]},
            },
            size={"condition": {"param": "hover", "empty": False, "value": 160}, "value": 50},
            stroke={
                "condition": {"test": "datum.own === 'Your organisation'", "value": HIGHLIGHT},
                "value": None,
            },
            strokeWidth={"value": 2},
            tooltip=[
                {"field": "label", "title": "Organisation"},
                {"field": "value", "type": "quantitative", "title": "Value", "format": scale.tooltip_format},
                {"field": "denominator", "type": "quantitative", "title": "Denominator", "format": ",.0f"},
                {"field": "status", "title": "Position"},
                {"field": "z", "type": "quantitative", "title": "z", "format": ".2f"},
                {"field": "q", "type": "quantitative", "title": "q (FDR)", "format": ".3g"},
            ],
        )
        .add_params(hover)
        .properties(name="points")
    )
    own = [p for p in points if p["own"] == "Your organisation"]
    if own:
        datasets["own"] = own
        layers.append(
            # The label repeats the point's tooltip: hidden from assistive technology, not a second image.
            layer(
                "own",
                {"type": "text", "align": "left", "dx": 8, "dy": -8, "fontWeight": "bold", "aria": False},
                x=x,
                y={"field": "value", "type": "quantitative"},
                text={"field": "label"},
            )
        )
    outliers = sum(1 for u in units if u.outlier)
    return layered(
        layers,
        description=f"Funnel plot of {title}: {len(units)} organisations, {outliers} outside the limits"
        + "".join(f"; {note}" for note in clipped),
        width=width,
        height=height,
        datasets=datasets,
    )
