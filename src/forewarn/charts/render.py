"""Altair charts to Vega-Lite specs, and specs to SVG on the server with vl-convert (no browser, no JavaScript
in the page).

Every chart in :mod:`forewarn.charts` is built as an Altair chart: the same object shows in a notebook, becomes the
spec a page embeds (:func:`spec_of`) and is drawn as SVG for pages without JavaScript and for reports (:func:`svg`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import altair as alt
import vl_convert

from forewarn.charts.palette import base_config

VEGA_LITE_VERSION = "v6.4"
"""The Vega-Lite vl-convert draws with; the page's Vega-Lite bundle (6.4.1) must match it."""


def layer(data: str | None, mark: Mapping[str, Any], **encoding: Any) -> alt.Chart:
    """One layer in Vega-Lite's own words: a named dataset (None: the chart's own), a mark and its encoding.

    The encoding is given to Altair as it is, not parsed channel by channel (``Chart.encode`` converts each
    dictionary through the schema, some 60 ms a layer); :func:`spec_of` writes it out unchanged and the tests
    validate every kind of chart against the schema."""
    factory: Any = alt.Chart
    chart: alt.Chart = factory(
        data=alt.Undefined if data is None else alt.NamedData(data),
        mark=alt.MarkDef(**mark),
        encoding=alt.FacetedEncoding(**encoding),
    )
    return chart


def layered(layers: Sequence[alt.Chart], *, data: str | None = None, **properties: Any) -> alt.LayerChart:
    """The layers as one chart with Forewarn's fonts, sizes and colours
    (:func:`forewarn.charts.palette.base_config`); ``properties`` are top-level (``description``, ``width``,
    ``datasets``...)."""
    # One constructor call: each .properties() or .configure() would deep-copy the chart, datasets and all.
    factory: Any = alt.LayerChart
    chart: alt.LayerChart = factory(
        layer=list(layers),
        **({} if data is None else {"data": alt.NamedData(data)}),
        **properties,
        config=base_config(),
    )
    return chart


def spec_of(chart: alt.TopLevelMixin) -> dict[str, Any]:
    """The chart's Vega-Lite spec, as pages embed it and :func:`svg` draws it.

    Not validated against the schema here (it costs more than building the chart; the tests validate every
    kind of chart once), and with Altair's ``$schema``, which tells Vega-Embed the spec is Vega-Lite.
    """
    spec: dict[str, Any] = chart.to_dict(validate=False)
    return spec


def svg(spec: dict[str, Any] | alt.TopLevelMixin) -> str:
    """The chart as an SVG document, named by the spec's description (a ``<title>`` and ``role="img"``), so it
    is announced the same whether it is opened on its own or shown as an image.

    Slow (tens to hundreds of milliseconds): callers cache by spec.
    """
    if not isinstance(spec, dict):
        spec = spec_of(spec)
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
