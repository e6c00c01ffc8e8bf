"""Colours and shapes shared by every chart.

Making Data Count's meanings (orange concern, blue improvement, purple neutral, grey common cause), in shades
with at least 3:1 contrast against white (WCAG 2.2, 1.4.11 non-text contrast), and a distinct shape for each,
so that colour is never the only cue (1.4.1).
"""

from __future__ import annotations

COMMON_CAUSE = "#505a5f"
CONCERN = "#b04a00"
IMPROVEMENT = "#1d70b8"
NEUTRAL = "#4c2c92"
LIMIT = "#505a5f"
TARGET = "#00703c"
HIGHLIGHT = "#0b0c0c"
INTERVENTION = "#003078"  # GOV.UK dark blue: interventions' bands, edges and labels

POINT_TYPES: dict[str, tuple[str, str, str]] = {
    # label in the legend, colour, Vega shape
    "common_cause": ("Common cause", COMMON_CAUSE, "circle"),
    "special_cause_concern": ("Special cause: concern", CONCERN, "diamond"),
    "special_cause_improvement": ("Special cause: improvement", IMPROVEMENT, "square"),
    "special_cause_neutral_high": ("Special cause: neutral (high)", NEUTRAL, "triangle-up"),
    "special_cause_neutral_low": ("Special cause: neutral (low)", NEUTRAL, "triangle-down"),
    # A series the scan gave no SPC chart (too short, or not yet scanned): never called "common cause".
    "not_assessed": ("Not assessed by SPC", "#b1b4b6", "circle"),
}

FONT = "Arial, Helvetica, sans-serif"  # GOV.UK Transport is for gov.uk only; SVG reports use a system font


def base_config() -> dict[str, object]:
    return {
        "font": FONT,
        "axis": {"labelFontSize": 12, "titleFontSize": 13, "labelColor": "#0b0c0c", "titleColor": "#0b0c0c"},
        "legend": {"labelFontSize": 12, "titleFontSize": 13, "orient": "bottom", "labelLimit": 260},
        "title": {"fontSize": 15, "anchor": "start", "color": "#0b0c0c"},
        "view": {"stroke": None},
    }
