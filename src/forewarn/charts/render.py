"""Draw a Vega-Lite spec to SVG on the server with vl-convert (no browser, no JavaScript in the page)."""

from __future__ import annotations

import json
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import vl_convert

VEGA_LITE_VERSION = "v6.4"
"""The Vega-Lite vl-convert draws with; the page's Vega-Lite bundle (6.4.1) must match it."""


def svg(spec: dict[str, Any]) -> str:
    """The chart as an SVG document, named by the spec's description (a ``<title>`` and ``role="img"``), so it
    is announced the same whether it is opened on its own or shown as an image.

    Slow (tens to hundreds of milliseconds): callers cache by spec.
    """
    drawn = str(vl_convert.vegalite_to_svg(spec, vl_version=VEGA_LITE_VERSION))
    description = spec.get("description")
    if not isinstance(description, str) or not drawn.startswith("<svg"):
        return drawn
    end = drawn.index(">")
    return (
        f'{drawn[:end]} role="img" aria-label={quoteattr(description)}>'
        f"<title>{escape(description)}</title>{drawn[end + 1 :]}"
    )


def spec_key(spec: dict[str, Any]) -> str:
    """A stable text form of a spec, to key a cache."""
    return json.dumps(spec, sort_keys=True, separators=(",", ":"), default=str)
