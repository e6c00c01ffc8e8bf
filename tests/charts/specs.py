"""Reading chart specs as Vega-Lite reads them: a layer's rows are its own, a named dataset's, or the chart's."""

from __future__ import annotations

from typing import Any


def rows(spec: dict[str, Any], layer: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The rows a layer draws (or the chart's own, for ``layer=None``), wherever the spec keeps them."""
    data = (layer or {}).get("data") or spec.get("data") or {}
    if "values" in data:
        return list(data["values"])
    return list(spec["datasets"][data["name"]])
