"""The rules of a frame applied in one pass: the same problems as a filter per check, and no copy of a clean
frame (the reference is the filter itself: each rule's rows are exactly ``frame.filter(condition)``)."""

from __future__ import annotations

import polars as pl

from forewarn.ingest.checks import Checker, Rule, keep
from forewarn.ingest.readers import ROW


def _frame() -> pl.DataFrame:
    return pl.DataFrame({"x": [1.0, -2.0, None, 4.0], ROW: [2, 3, 4, 5]})


def test_each_rule_reports_exactly_the_rows_its_filter_keeps() -> None:
    frame = _frame()
    rules = [
        Rule(pl.col("x") < 0, "x", pl.col("x"), "negative"),
        Rule(pl.col("x") > 100, "x", pl.col("x"), "too large"),  # holds nowhere: nothing reported
        Rule(pl.col("x").is_null(), "x", None, pl.format("missing on row {}", pl.col(ROW))),
    ]
    checks = Checker()
    checks.check(frame, rules)
    reference = Checker()
    for rule in rules:
        reference.add(frame.filter(rule.condition), rule.column, rule.value, rule.message)
    assert len(checks.frames) == len(reference.frames) == 2
    for ours, theirs in zip(checks.frames, reference.frames, strict=True):
        assert ours.equals(theirs)
    assert [f.rows() for f in checks.frames] == [
        [(3, "x", "-2.0", "negative")],
        [(4, "x", None, "missing on row 4")],
    ]


def test_a_null_condition_is_not_a_problem_and_an_empty_frame_has_none() -> None:
    checks = Checker()
    checks.check(_frame(), [Rule(pl.col("x") > 3, "x", None, "big")])  # null > 3 is null: not reported
    assert [f["row"].to_list() for f in checks.frames] == [[5]]
    checks.check(_frame().clear(), [Rule(pl.lit(True), None, None, "anything")])
    assert len(checks.frames) == 1


def test_keep_filters_only_when_a_row_goes() -> None:
    frame = _frame()
    assert keep(frame, pl.col(ROW) > 0) is frame
    assert keep(frame, pl.col("x") > 0)[ROW].to_list() == [2, 5]  # null dropped, as filter drops it
    assert keep(frame, pl.col("x").is_not_null()).equals(frame.filter(pl.col("x").is_not_null()))
