"""Charts as Vega-Lite specifications: pure functions from plain data to a spec dict.

The same spec is drawn twice: to SVG on the server (:func:`forewarn.charts.render.svg`, for pages without
JavaScript and for reports) and in the browser by Vega-Embed, which adds hover and tooltips.
"""

from forewarn.charts.funnel import FunnelCurve, FunnelUnit, funnel_plot_spec
from forewarn.charts.ranks import RankInterval, rank_interval_spec
from forewarn.charts.spc import SpcSeries, spc_chart_spec

__all__ = [
    "FunnelCurve",
    "FunnelUnit",
    "RankInterval",
    "SpcSeries",
    "funnel_plot_spec",
    "rank_interval_spec",
    "spc_chart_spec",
]
