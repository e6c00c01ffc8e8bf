"""What the tests of the analyst's tools share: the reference fixtures and small helpers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from forewarn.tools.problems import AnalystInputError

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
FUNNEL = FIXTURES / "funnelplotr"
PTD = FIXTURES / "nhsrplotthedots"
QIC = FIXTURES / "qicharts2"
TOL = 1e-6


def read_reference(path: Path) -> pl.DataFrame:
    """A reference table, with unit and facet codes ("030001") kept as text."""
    header = pl.read_csv(path, n_rows=0).columns
    codes = {c: pl.String for c in ("group", "f", "provnum") if c in header}
    return pl.read_csv(path, null_values="NA", infer_schema_length=None, schema_overrides=codes)


def assert_close(actual: Any, expected: Any, what: str, tol: float = TOL) -> None:
    np.testing.assert_allclose(
        np.asarray(actual, dtype=np.float64),
        np.asarray(expected, dtype=np.float64),
        rtol=0,
        atol=tol,
        err_msg=what,
    )


def write_csv(tmp_path: Path, text: str, name: str = "input.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def problems_of(exc: pytest.ExceptionInfo[AnalystInputError]) -> list[str]:
    return [str(p) for p in exc.value.problems]
