"""Tests for forewarn.tools.psychometrics: a file read by the one reader, options that do not fit it (exit 2) told
apart from problems in its cells (exit 1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from forewarn.ingest.problems import ImportRejected
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
