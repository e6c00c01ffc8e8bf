"""Altair charts to Vega-Lite specs, and specs to SVG on the server with vl-convert (no browser, no JavaScript
in the page).

Every chart in :mod:`forewarn.charts` is built as an Altair chart: the same object shows in a notebook, becomes the
spec a page embeds (:func:`spec_of`) and is drawn as SVG for pages without JavaScript and for reports (:func:`svg`).
The SPC chart, twenty to an organisation's page, is also written straight as the spec's dictionaries
(:func:`layer_spec`, :func:`layered_spec`) from the same code: the same spec, key for key, without building the
Altair objects.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Mapping, Sequence
from typing import Any, cast
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


def _order(schema_class: type) -> dict[str, int]:
    """Where each property of an Altair class goes in its ``to_dict`` (the order of its constructor's
    parameters), so that a spec written as dictionaries reads key for key as Altair writes it."""
    return {name: rank for rank, name in enumerate(inspect.signature(schema_class).parameters)}


_MARK_ORDER = _order(alt.MarkDef)
_ENCODING_ORDER = _order(alt.FacetedEncoding)
_TOP_LEVEL_ORDER = _order(alt.TopLevelLayerSpec)


def _in_order(properties: Mapping[str, Any], order: Mapping[str, int]) -> dict[str, Any]:
    return dict(sorted(properties.items(), key=lambda item: order.get(item[0], len(order))))


def layer_spec(data: str | None, mark: Mapping[str, Any], **encoding: Any) -> dict[str, Any]:
    """:func:`layer` as the dictionary it becomes in a spec, without building the Altair chart.

    A page draws twenty SPC charts; building and writing out their Altair objects (each constructor and
    ``to_dict`` deep-copies the chart, datasets and all) cost some 8 ms a chart, most of a first view's CPU.
    ``tests/charts/test_render.py`` checks that the two ways give the same spec, key for key."""
    spec: dict[str, Any] = {} if data is None else {"data": {"name": data}}
    spec["mark"] = _in_order(mark, _MARK_ORDER)
    spec["encoding"] = _in_order(encoding, _ENCODING_ORDER)
    return spec


def layered_spec(
    layers: Sequence[dict[str, Any]], *, data: str | None = None, **properties: Any
) -> dict[str, Any]:
    """:func:`spec_of` a :func:`layered` chart of :func:`layer_spec` layers, as dictionaries: the same keys
    in the same order (Altair's theme's config first, ``$schema`` last)."""
    top: dict[str, Any] = {
        "layer": list(layers),
        **({} if data is None else {"data": {"name": data}}),
        **properties,
        "config": base_config(),
    }
    spec = _in_order(top, _TOP_LEVEL_ORDER)
    spec.setdefault("$schema", alt.SCHEMA_URL)
    theme = alt.theme.get()
    if theme is None:  # as Altair's own to_dict, which refuses to write a spec without one
        raise TypeError("no Altair theme is enabled: call alt.theme.enable('default')")
    # A copy of the theme, the spec merged into it: a dict (Altair's to_dict does the same).
    return cast(dict[str, Any], alt.utils.update_nested(theme(), spec, copy=True))


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
