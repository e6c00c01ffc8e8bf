"""Tests for forewarn.tools.psychometrics: a file read by the one reader, options that do not fit it (exit 2) told
apart from problems in its cells (exit 1)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from forewarn.ingest.problems import ImportRejected
from forewarn.settings import default, get_settings
from forewarn.tools.psychometrics import OptionsDoNotFit, analyse_file

ANSWERS = "team,q1,q2\n" + "".join(
    f"{t},{1 + i % 4},{2 + i % 3}\n" for t in ("north", "south") for i in range(6)
)


def write(tmp_path: Path, text: str, name: str = "answers.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_missing_answer_is_any_of_the_readers_missing_values(tmp_path: Path) -> None:
    blank = analyse_file(
        write(tmp_path, ANSWERS + "north,,3\n"),
        group_column="team",
        items=["q1", "q2"],
        n_resamples=0,
        floor=5,
    )
    marked = analyse_file(
        write(tmp_path, ANSWERS + "north,NA,3\n", "na.csv"),
        group_column="team",
        items=["q1", "q2"],
        n_resamples=0,
        floor=5,
    )
    assert marked.respondents == blank.respondents == 13
    assert marked.analysis == blank.analysis


def test_a_column_not_in_the_header_is_an_option_that_does_not_fit(tmp_path: Path) -> None:
    with pytest.raises(OptionsDoNotFit) as exc:
        analyse_file(
            write(tmp_path, ANSWERS), group_column="Team", items=["q1", "q3"], n_resamples=0, floor=5
        )
    assert [str(p) for p in exc.value.problems] == [
        "answers.csv, row 1, column 'Team': --group-col names a column that is not in the header; did you mean "
        "'team'? (the header has 'team', 'q1', 'q2')",
        "answers.csv, row 1, column 'q3': --items names a column that is not in the header "
        "(the header has 'team', 'q1', 'q2')",
    ]


def test_an_unreadable_file_or_cell_is_a_problem_with_the_data(tmp_path: Path) -> None:
    with pytest.raises(ImportRejected) as exc:
        analyse_file(write(tmp_path, "team,q1\n"), group_column="team", items=["q1"], n_resamples=0, floor=5)
    assert [str(p) for p in exc.value.report.problems] == [
        "answers.csv: empty file: the header is there but no data rows"
    ]
    with pytest.raises(ImportRejected) as exc:
        analyse_file(
            write(tmp_path, "team,q1\nnorth,1,2\nsouth,6\n"), group_column="team", items=["q1"], floor=5
        )
    assert [str(p) for p in exc.value.report.problems] == [
        "answers.csv, row 2: row has 3 fields where the header has 2"
    ]


def test_the_floor_given_governs_suppression_not_the_process_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each team has 6 respondents: shown under the default minimum (5), suppressed under a floor or a chosen
    minimum of 7, whatever the process's global settings say."""
    monkeypatch.delenv("FOREWARN_MIN_GROUP_SIZE", raising=False)
    get_settings.cache_clear()
    assert get_settings().min_group_size == default("min_group_size") == 5
    path = write(tmp_path, ANSWERS)
    options: dict[str, Any] = {"group_column": "team", "items": ["q1", "q2"], "n_resamples": 0}
    shown = analyse_file(path, floor=5, **options).analysis
    assert shown.min_group_size == 5
    assert [(c.group, c.suppressed, c.n) for c in shown.cells] == [("north", False, 6), ("south", False, 6)]
    for strict in (
        analyse_file(path, floor=7, **options),
        analyse_file(path, floor=5, min_group_size=7, **options),
    ):
        assert strict.analysis.min_group_size == 7
        assert [(c.group, c.suppressed, c.n, c.mean) for c in strict.analysis.cells] == [
            ("north", True, "<7", None),
            ("south", True, "<7", None),
        ]
    with pytest.raises(OptionsDoNotFit) as exc:
        analyse_file(path, floor=7, min_group_size=6, **options)
    assert [p.message for p in exc.value.problems] == [
        "the minimum group size is below the FOREWARN_MIN_GROUP_SIZE setting (7)"
    ]
    get_settings.cache_clear()


def test_forewarn_psychometrics_suppresses_under_the_minimum_it_is_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import forewarn as fw

    monkeypatch.delenv("FOREWARN_MIN_GROUP_SIZE", raising=False)
    get_settings.cache_clear()
    assert get_settings().min_group_size == 5
    frame = pl.read_csv(io.StringIO(ANSWERS))
    shown = fw.psychometrics(frame, group_col="team", items="q1,q2", resamples=0)
    assert shown.summary["min_group_size"] == 5 and shown.table["suppressed"].to_list() == [False, False]
    strict = fw.psychometrics(frame, group_col="team", items="q1,q2", resamples=0, min_group_size=7)
    assert strict.summary["min_group_size"] == 7
    assert strict.table["suppressed"].to_list() == [True, True]
    assert strict.table["n"].to_list() == ["<7", "<7"] and strict.table["mean"].null_count() == 2
    get_settings.cache_clear()
