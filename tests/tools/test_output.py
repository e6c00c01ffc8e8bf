"""Tests for forewarn.tools.output: tables written by suffix."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from forewarn.tools.funnel import funnel_file
from forewarn.tools.output import write_table
from tests.tools.test_funnel import funnel_request


def test_output_by_suffix(tmp_path: Path) -> None:
    path, request = funnel_request("testdata_SR_SHMI_adj_99")
    table = funnel_file(path, request).table
    write_table(table, tmp_path / "out" / "funnel.parquet")
    write_table(table, tmp_path / "funnel.csv")
    assert pl.read_parquet(tmp_path / "out" / "funnel.parquet").equals(table)
    assert pl.read_csv(tmp_path / "funnel.csv", schema=table.schema).equals(table)
