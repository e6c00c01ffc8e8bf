"""Disclosure control: small groups are suppressed everywhere, and an attacker who subtracts published totals of
overlapping selections, or filters a group, cannot recover a suppressed group's answers."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from forewarn.surveys.errors import DisclosureRefusedError
from forewarn.surveys.privacy import DisclosureControl
from forewarn.surveys.results import pooled_summary, wave_results
from forewarn.surveys.uploads import import_responses
from forewarn.surveys.waves import close_wave, create_wave, open_wave
from tests.surveys.conftest import add_organisations, submit_scores, upload_scores

AAA = [5, 4, 4, 3, 3, 5]
BBB = [2, 2, 3, 2, 2]


def test_the_rule_itself() -> None:
    control = DisclosureControl(5)
    assert [control.publishable(n) for n in (0, 4, 5, 50)] == [False, False, True, True]
    assert [control.shown_n(n) for n in (0, 3, 5, 12)] == ["<5", "<5", 5, 12]
    control.check_breakdown({"a": 5, "b": 7})
    control.check_breakdown({"a": 12, "b": 0})  # an empty cell, or an empty remainder, reveals nothing
    with pytest.raises(DisclosureRefusedError) as small:
        control.check_breakdown({"a": 9, "b": 4})
    assert str(small.value) == (
        "breakdown of the group refused: fewer than 5 respondents in b; fewer than 5 respondents outside a, "
        "which the group's total minus this figure would reveal"
    )
    with pytest.raises(
        DisclosureRefusedError, match=r"fewer than 5 respondents outside a, which the group's total"
    ):
        control.check_breakdown({"a": 10, "b": 3, "c": 1})
    control.check_filter(0, 8, "x")
    control.check_filter(8, 8, "x")
    with pytest.raises(DisclosureRefusedError, match="fewer than 5 respondents in the others"):
        control.check_filter(6, 8, "organisation AAA")
    with pytest.raises(ValueError, match="at least 2"):
        DisclosureControl(1)


def _wave_with(engine: Engine, folder: Path, name: str, ccc: list[int]) -> None:
    create_wave(engine, name, ["AAA", "BBB", "CCC", "DDD"], floor=5)
    open_wave(engine, name, floor=5)
    upload_scores(
        engine, name, folder, f"{name}.csv", {"AAA": AAA, "BBB": BBB, "CCC": ccc, "DDD": [3, 3, 3, 3]}
    )
    close_wave(engine, name, floor=5)


def test_no_published_figure_depends_on_a_suppressed_groups_answers(engine: Engine, tmp_path: Path) -> None:
    """Two waves identical but for what CCC's three respondents said: every output is the same."""
    add_organisations(engine)
    _wave_with(engine, tmp_path, "ccc says 1", [1, 1, 1])
    _wave_with(engine, tmp_path, "ccc says 5", [5, 5, 5])
    low = wave_results(engine, "ccc says 1", n_resamples=30, floor=5)
    high = wave_results(engine, "ccc says 5", n_resamples=30, floor=5)
    assert low.analysis == high.analysis
    for selection in (None, ["AAA", "CCC"], ["CCC"], ["BBB", "CCC", "DDD"]):
        assert pooled_summary(engine, "ccc says 1", selection, floor=5).dimensions == (
            pooled_summary(engine, "ccc says 5", selection, floor=5).dimensions
        )


def test_subtracting_overlapping_totals_recovers_nothing(engine: Engine, tmp_path: Path) -> None:
    add_organisations(engine)
    _wave_with(engine, tmp_path, "w", [1, 1, 1])
    with_ccc = pooled_summary(engine, "w", ["AAA", "CCC"], floor=5).dimensions[0]
    without = pooled_summary(engine, "w", ["AAA"], floor=5).dimensions[0]
    assert with_ccc == without, "adding the suppressed group to a selection changes nothing"
    everyone = pooled_summary(engine, "w", floor=5).dimensions[0]
    cells = wave_results(engine, "w", n_resamples=0, floor=5).analysis
    published = [cells.cell(org, "acquire") for org in ("AAA", "BBB")]
    assert everyone.n == 11
    assert isinstance(everyone.n, int) and everyone.mean is not None
    leftover_sum = everyone.n * everyone.mean - sum(c.n * c.mean for c in published)  # type: ignore[operator]
    assert leftover_sum == pytest.approx(0.0, abs=1e-9), (
        "the whole-wave total minus the published groups is empty"
    )
    only_ccc = pooled_summary(engine, "w", ["CCC"], floor=5).dimensions[0]
    assert (only_ccc.suppressed, only_ccc.n, only_ccc.mean) == (True, "<5", None)


def test_a_filter_that_leaves_a_small_remainder_is_refused(engine: Engine, tmp_path: Path) -> None:
    add_organisations(engine)
    create_wave(engine, "mixed", ["AAA", "BBB"], floor=5)
    open_wave(engine, "mixed", floor=5)
    submit_scores(engine, "mixed", {"AAA": AAA, "BBB": [4, 4, 4, 4, 4]})  # by token
    upload_scores(engine, "mixed", tmp_path, "late.csv", {"AAA": [1, 1], "BBB": [2, 2, 2, 2, 2]})  # uploaded
    close_wave(engine, "mixed", floor=5)
    assert wave_results(engine, "mixed", n_resamples=0, floor=5).analysis.cell("AAA", "acquire").n == 8
    # AAA's published total (8) minus its 6 token answers would give its 2 uploaded answers.
    with pytest.raises(DisclosureRefusedError, match="fewer than 5 respondents in the others"):
        pooled_summary(engine, "mixed", ["AAA"], source="token", floor=5)
    with pytest.raises(DisclosureRefusedError, match="fewer than 5 respondents in the filtered respondents"):
        pooled_summary(engine, "mixed", ["AAA", "BBB"], source="import", floor=5)
    bbb_tokens = pooled_summary(engine, "mixed", ["BBB"], source="token", floor=5).dimensions[0]
    assert (bbb_tokens.n, bbb_tokens.mean) == (5, pytest.approx(4.0, abs=1e-12)), (
        "5 and 5: both sides publishable"
    )


def test_pooling_refuses_organisations_outside_the_wave(engine: Engine, tmp_path: Path) -> None:
    add_organisations(engine)
    _wave_with(engine, tmp_path, "w", [1])
    from forewarn.surveys.errors import SurveyError

    with pytest.raises(SurveyError, match="not in wave 'w': ZZZ"):
        pooled_summary(engine, "w", ["AAA", "ZZZ"], floor=5)


def test_only_respondents_with_a_score_count_towards_the_minimum(engine: Engine, tmp_path: Path) -> None:
    """A dimension score needs 3 of its 4 answers; a respondent with 2 does not make a group of 5 publishable."""
    add_organisations(engine)
    create_wave(engine, "partial", ["AAA", "BBB"], floor=5)
    open_wave(engine, "partial", floor=5)
    export = tmp_path / "partial.csv"
    rows = ["org_code,acq_1,acq_2,acq_3,acq_4"] + ["AAA,4,4,4,2"] * 4 + ["AAA,4,4,4,"]
    rows += ["BBB,3,3,3,3"] * 4 + ["BBB,3,3,,"]
    export.write_text("\n".join(rows) + "\n", encoding="utf-8")
    import_responses(engine, "partial", export)
    close_wave(engine, "partial", floor=5)
    analysis = wave_results(engine, "partial", n_resamples=0, floor=5).analysis
    assert analysis.cell("AAA", "acquire").n == 5, "three of four answers still give a score"
    bbb = analysis.cell("BBB", "acquire")
    assert (bbb.suppressed, bbb.n) == (True, "<5")
