"""What a tool returns, and how its tables are written: CSV or Parquet files, CSV text, JSON-ready rows."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from forewarn.ingest.readers import PARQUET_SUFFIXES


@dataclass(frozen=True)
class AnalystResult:
    """What a tool returns: the main table (one row per unit or point), an optional per-series table, the
    summary (JSON-ready) and warnings for the user (printed, never raised)."""

    table: pl.DataFrame
    summary: dict[str, Any]
    series_table: pl.DataFrame | None = None
    warnings: tuple[str, ...] = ()


def write_table(frame: pl.DataFrame, path: Path) -> None:
    """Write ``frame`` to ``path``: Parquet for ``.parquet``/``.pq``, CSV otherwise (NaN as an empty cell)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in PARQUET_SUFFIXES:
        frame.write_parquet(path)
    else:
        frame.write_csv(path)


def csv_text(frame: pl.DataFrame) -> str:
    """The frame as CSV text (for stdout)."""
    return frame.write_csv()


def json_rows(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """The frame as JSON-ready rows (NaN and infinities as null)."""
    rows = frame.to_dicts()
    return [{k: _json_value(v) for k, v in row.items()} for row in rows]


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def clean_floats(frame: pl.DataFrame) -> pl.DataFrame:
    floats = [c for c, t in frame.schema.items() if t == pl.Float64]
    return frame.with_columns(pl.col(floats).fill_nan(None)) if floats else frame


def finite_or_none(value: float | np.floating[Any]) -> float | None:
    as_float = float(value)
    return as_float if math.isfinite(as_float) else None
