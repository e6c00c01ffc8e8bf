"""Forewarn: spot failure early in public services and learn the way out of it.

The analyst's tools as Python functions, each taking a pandas or Polars DataFrame and column names::

    import forewarn as fw
    result = fw.funnel(df, unit_col="trust", numerator_col="deaths", denominator_col="expected", data_type="SR")
    result.table, result.summary, result.chart()

``import forewarn`` loads nothing heavy: the functions (:mod:`forewarn.api`) load Polars, the statistics and
Altair the first time one of them is used, and the web app never.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from forewarn.api import cusum, ewma, funnel, psychometrics, ranks, spc

__all__ = ["__version__", "cusum", "ewma", "funnel", "psychometrics", "ranks", "spc"]

_API = frozenset({"cusum", "ewma", "funnel", "psychometrics", "ranks", "spc"})


def __getattr__(name: str) -> Any:
    """The API's functions, imported when first asked for (PEP 562)."""
    if name in _API:
        from forewarn import api

        return getattr(api, name)
    raise AttributeError(f"module 'forewarn' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | _API)
