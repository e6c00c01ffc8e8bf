"""Funnel plots: each organisation's value against its denominator, with the control limits around the target.

Hovering over a point names the organisation (or its pseudonym, for an anonymised peer). Organisations outside
the limits after FDR control are marked by colour and shape.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from forewarn.charts.palette import CONCERN, HIGHLIGHT, IMPROVEMENT, LIMIT, NEUTRAL, TARGET, base_config
from forewarn.stats.funnel import (
    FunnelOptions,
    funnel_denominator_grid,
    funnel_limit_curves,
    funnel_statistics,
)


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
) -> dict[str, Any]:
    """A Vega-Lite funnel plot with a tooltip naming each organisation."""
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
    curve_rows = [
        {"limit": c.name, "denominator": d, "value": v, "dashed": c.dashed}
        for c in curves
        for d, v in zip(c.denominator, c.value, strict=True)
        if v == v  # drops NaN
    ]
    x = {"field": "denominator", "type": "quantitative", "title": denominator_title}
    layers: list[dict[str, Any]] = []
    if curve_rows:
        layers.append(
            {
                "data": {"values": curve_rows},
                "mark": {"type": "line", "color": LIMIT, "strokeWidth": 1.2},
                "encoding": {
                    "x": x,
                    "y": {"field": "value", "type": "quantitative"},
                    "detail": {"field": "limit"},
                    "strokeDash": {
                        "field": "dashed",
                        "type": "nominal",
                        "scale": {"domain": [False, True], "range": [[1, 0], [5, 4]]},
                        "legend": None,
                    },
                },
            }
        )
    if target is not None:
        layers.append(
            {
                "data": {"values": [{"target": target}]},
                "mark": {"type": "rule", "color": TARGET, "strokeWidth": 1.5},
                "encoding": {"y": {"field": "target", "type": "quantitative"}},
            }
        )
    layers.append(
        {
            "data": {"values": points},
            "params": [
                {"name": "hover", "select": {"type": "point", "on": "pointerover", "clear": "pointerout"}}
            ],
            "mark": {"type": "point", "filled": True, "opacity": 0.85},
            "encoding": {
                "x": x,
                "y": {
                    "field": "value",
                    "type": "quantitative",
                    "title": value_title,
                    "scale": {"zero": False},
                },
                "color": {
                    "field": "status",
                    "type": "nominal",
                    "title": "Position",
                    "scale": {"domain": present, "range": [_STATUS_STYLE[s][0] for s in present]},
                },
                "shape": {
                    "field": "status",
                    "type": "nominal",
                    "scale": {"domain": present, "range": [_STATUS_STYLE[s][1] for s in present]},
                },
                "size": {"condition": {"param": "hover", "empty": False, "value": 160}, "value": 50},
                "stroke": {
                    "condition": {"test": "datum.own === 'Your organisation'", "value": HIGHLIGHT},
                    "value": None,
                },
                "strokeWidth": {"value": 2},
                "tooltip": [
                    {"field": "label", "title": "Organisation"},
                    {"field": "value", "type": "quantitative", "title": "Value", "format": ",.4~g"},
                    {
                        "field": "denominator",
                        "type": "quantitative",
                        "title": "Denominator",
                        "format": ",.0f",
                    },
                    {"field": "status", "title": "Position"},
                    {"field": "z", "type": "quantitative", "title": "z", "format": ".2f"},
                    {"field": "q", "type": "quantitative", "title": "q (FDR)", "format": ".3g"},
                ],
            },
        }
    )
    own = [p for p in points if p["own"] == "Your organisation"]
    if own:
        layers.append(
            {
                "data": {"values": own},
                # The label repeats the point's tooltip: hidden from assistive technology, not a second image.
                "mark": {
                    "type": "text",
                    "align": "left",
                    "dx": 8,
                    "dy": -8,
                    "fontWeight": "bold",
                    "aria": False,
                },
                "encoding": {
                    "x": x,
                    "y": {"field": "value", "type": "quantitative"},
                    "text": {"field": "label"},
                },
            }
        )
    outliers = sum(1 for u in units if u.outlier)
    return {
        "description": f"Funnel plot of {title}: {len(units)} organisations, {outliers} outside the limits",
        "width": width,
        "height": height,
        "layer": layers,
        "config": base_config(),
    }


@dataclass(frozen=True)
class FunnelView:
    """What a funnel plot draws for one indicator: each unit's plotted ratio and denominator, and the limits.

    ``index`` maps each unit back to the caller's input position (units that cannot enter a funnel, such as a
    proportion with no denominator, are left out).
    """

    index: Sequence[int]
    ratio: Sequence[float]
    denominator: Sequence[float]
    curves: Sequence[FunnelCurve]
    target: float
    value_title: str
    denominator_title: str
    outside_limits: int


def funnel_view(
    kind: str,
    numerator: Sequence[float | None],
    denominator: Sequence[float | None],
    expected: Sequence[float | None],
    *,
    limit: float = 99.8,
    trim: float = 0.1,
) -> FunnelView | None:
    """Recompute one indicator's funnel as the surveillance scan does, for drawing.

    Proportions: binomial (PR) with multiplicative over-dispersion by winsorised z ("cqc"). Ratios O/E and
    rates (as ratios against the pooled rate): Poisson (SR) with additive over-dispersion after truncation
    ("shmi"). None for kinds without a funnel, or when no unit can enter one.
    """
    if kind not in ("proportion", "ratio_oe", "rate"):
        return None
    num = np.array([np.nan if v is None else v for v in numerator], dtype=np.float64)
    den = np.array([np.nan if v is None else v for v in denominator], dtype=np.float64)
    exp = np.array([np.nan if v is None else v for v in expected], dtype=np.float64)
    if kind == "proportion":
        keep = np.isfinite(num) & np.isfinite(den) & (den > 0) & (num >= 0) & (num <= den)
        observed, against = num[keep], den[keep]
        options = FunnelOptions(data_type="PR", overdispersion="cqc", limit=limit, trim=trim)
        value_title, denominator_title = "Proportion", "Denominator"
    else:
        if kind == "rate":
            usable = np.isfinite(num) & np.isfinite(den) & (den > 0)
            rate = num[usable].sum() / den[usable].sum() if usable.any() else np.nan
            against_all = den * rate
        else:
            against_all = exp
        keep = np.isfinite(num) & np.isfinite(against_all) & (against_all > 0) & (num >= 0)
        observed, against = num[keep], against_all[keep]
        options = FunnelOptions(data_type="SR", overdispersion="shmi", limit=limit, trim=trim)
        value_title, denominator_title = "Ratio of observed to expected", "Expected"
    if observed.size < 2:
        return None
    try:
        result = funnel_statistics(observed, against, options=options)
        grid = funnel_denominator_grid(against, n_points=120)
        curves = []
        for coverage in sorted({95.0, float(limit)}):
            dashed = coverage < limit
            drawn = funnel_limit_curves(result, grid, options=options, limit=coverage)
            label = f"{coverage:g}%"
            curves.append(FunnelCurve(f"{label} lower", grid[0].tolist(), drawn.lower[0].tolist(), dashed))
            curves.append(FunnelCurve(f"{label} upper", grid[0].tolist(), drawn.upper[0].tolist(), dashed))
    except ValueError:
        return None
    return FunnelView(
        index=np.flatnonzero(keep).tolist(),
        ratio=result.ratio.tolist(),
        denominator=against.tolist(),
        curves=curves,
        target=float(result.target[0]),
        value_title=value_title,
        denominator_title=denominator_title,
        outside_limits=int(result.outlier.sum()),
    )
