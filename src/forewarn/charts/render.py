"""Draw a Vega-Lite spec to SVG on the server with vl-convert (no browser, no JavaScript in the page)."""

from __future__ import annotations

import json
from typing import Any

import vl_convert

VEGA_LITE_VERSION = "v6.4"
"""The Vega-Lite vl-convert draws with; the page's Vega-Lite bundle (6.4.1) must match it."""


def svg(spec: dict[str, Any]) -> str:
    """The chart as an SVG document. Slow (tens to hundreds of milliseconds): callers cache by spec."""
    return str(vl_convert.vegalite_to_svg(spec, vl_version=VEGA_LITE_VERSION))


def spec_key(spec: dict[str, Any]) -> str:
    """A stable text form of a spec, to key a cache."""
    return json.dumps(spec, sort_keys=True, separators=(",", ":"), default=str)
