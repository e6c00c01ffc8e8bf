"""forewarn.peers.profile and the profile list of forewarn.peers.neighbours on a five-organisation store whose
answer is derived by hand below (the earliest three periods averaged, standardised with the population standard
deviation, a missing value at the mean, equal weights), on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine

from forewarn.ingest.importer import import_file
from forewarn.peers.context import load_context, organisation_by_code
from forewarn.peers.neighbours import find_neighbours, fixed_weights
from forewarn.peers.profile import PROFILE_PERIODS, load_profile, profile_agreement
from forewarn.stats.neighbours import design, nearest

MAPPING = """
version: 1
dataset: {code: tiny_health, name: Tiny health profile}
columns: {area_code: text, area_name: text, area_type: text, period: text, indicator: text, value: number}
organisation: {code: area_code, name: area_name, type: area_type}
period: {column: period, format: fingertips}
indicators:
  - {code: a, name: Indicator A, where: {indicator: A}, kind: mean, polarity: lower_is_better, value: value,
     on_missing_value: skip}
  - {code: b, name: Indicator B, where: {indicator: B}, kind: mean, polarity: lower_is_better, value: value,
     on_missing_value: skip}
"""
# The earliest three periods (2015-17, PROFILE_PERIODS) make the profile; 2018-20 the later one. O3 has no B in
# 2015-17 (at the mean); O5 nothing before 2018 (no profile, so no one's neighbour).
VALUES = {
    ("O1", "UA"): {"A": [10, 12, 11, 10, 10, 10], "B": [1, 1, 1, 1, 1, 1]},
    ("O2", "UA"): {"A": [14, 14, 14, 14, 14, 14], "B": [2, 4, 3, 3, 3, 3]},
    ("O3", "District"): {"A": [20, 20, 20, 20, 20, 20], "B": [None, None, None, 9, 9, 9]},
    ("O4", "District"): {"A": [11, 11, 11, 11, 11, 11], "B": [5, 5, 5, 5, 5, 5]},
    ("O5", "UA"): {"A": [None, None, None, 30, 30, 30], "B": [None, None, None, 7, 7, 7]},
}
YEARS = ["2015", "2016", "2017", "2018", "2019", "2020"]


@pytest.fixture
def tiny(engine: Engine, tmp_path: Path) -> Engine:
    lines = ["area_code,area_name,area_type,period,indicator,value"]
    for (code, kind), series in VALUES.items():
        for indicator, values in series.items():
            for year, value in zip(YEARS, values, strict=True):
                lines.append(f"{code},Org {code},{kind},{year},{indicator},{'' if value is None else value}")
    (tmp_path / "tiny.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "mapping.yml").write_text(MAPPING)
    import_file(engine, tmp_path / "tiny.csv", tmp_path / "mapping.yml")
    return engine


def test_profile_values_and_missing(tiny: Engine) -> None:
    with tiny.connect() as conn:
        _, dataset, _ = organisation_by_code(conn, "O1")
        context = load_context(conn, dataset)
        profile = load_profile(conn, context)
        later = load_profile(conn, context, skip=PROFILE_PERIODS)
    assert profile.indicators == ("a", "b")
    nan = float("nan")
    expected = [[11, 1], [14, 3], [20, nan], [11, 5], [nan, nan]]
    np.testing.assert_array_equal(profile.values, np.array(expected, dtype=float))
    assert profile.missing.tolist() == [0, 0, 1, 0, 2]
    assert profile.complete.tolist() == [True, True, True, True, False]
    assert [p.year for p in profile.first_period] == [2015, 2015] and [
        p.year for p in profile.last_period
    ] == [2017, 2017]
    assert [p.year for p in later.first_period] == [2018, 2018]
    assert later.complete.tolist() == [True] * 5


def test_profile_distances_by_hand(tiny: Engine) -> None:
    # A over O1-O4: 11, 14, 20, 11, mean 14, variance (9 + 0 + 36 + 9) / 4 = 13.5.
    # B over O1, O2, O4: 1, 3, 5, mean 3, variance 8/3; O3's B is missing: z = 0.
    # Equal weights 1/2: d^2(O1, O2) = (9/13.5 + 4/(8/3)) / 2 = 13/12; d^2(O1, O4) = (0 + 16/(8/3)) / 2 = 3;
    # d^2(O1, O3) = (81/13.5 + 4/(8/3)) / 2 = 3.75. O5 has no profile: never a neighbour.
    with tiny.connect() as conn:
        report = find_neighbours(conn, "O1", k=4, replicates=50)
        lonely = find_neighbours(conn, "O5", k=2, replicates=0)
        gap = find_neighbours(conn, "O3", k=2, replicates=0)
    listing = report.list_of("profile")
    assert listing is not None
    assert [n.code for n in listing.neighbours] == ["O2", "O4", "O3"]
    squared = [n.distance**2 for n in listing.neighbours]
    assert squared == pytest.approx([13 / 12, 3.0, 3.75], rel=1e-12)
    assert listing.weights == {"a": 0.5, "b": 0.5}
    assert listing.candidates == 3
    assert all(0.0 <= n.stability <= 1.0 for n in listing.neighbours)
    # Every set of 3 among 3 candidates is the same set, whatever the draw or the periods.
    assert listing.set_stability == 1.0
    assert listing.period_jaccard == pytest.approx(3 / 4)  # later: O5 is a candidate, so 3 of the 4 in either
    assert report.profile_overlap == len(
        {"O2", "O3", "O4"} & {n.code for n in report.list_of("fixed").neighbours}
    )
    assert lonely.list_of("profile").neighbours == []  # type: ignore[union-attr]
    assert any("has 0 of the profile's 2 indicators" in note for note in lonely.notes)
    assert any("1 of the profile's 2 indicators are missing for O3" in note for note in gap.notes)


def test_profile_only_when_asked_or_context_has_no_number(tiny: Engine) -> None:
    with tiny.connect() as conn:
        assert find_neighbours(conn, "O1", k=2, replicates=0, profile=False).list_of("profile") is None
        assert find_neighbours(conn, "O1", k=2, replicates=0).list_of("profile") is not None


def test_every_organisation_at_once_agrees_with_one_at_a_time(tiny: Engine) -> None:
    with tiny.connect() as conn:
        _, dataset, _ = organisation_by_code(conn, "O1")
        context = load_context(conn, dataset)
        profile = load_profile(conn, context)
        later = load_profile(conn, context, skip=PROFILE_PERIODS)
        one = {code: find_neighbours(conn, code, k=2, replicates=0) for code in ("O1", "O2", "O3", "O4")}
    fixed = nearest(design(context.distance_numeric(), context.categorical), fixed_weights(context), 2).index
    agreement = profile_agreement(context, fixed, profile, later, k=2, replicates=20)
    assert agreement.rows.tolist() == [0, 1, 2, 3]
    for row, code in enumerate(("O1", "O2", "O3", "O4")):
        listing = one[code].list_of("profile")
        assert listing is not None
        assert [context.code[i] for i in agreement.index[row]] == [n.code for n in listing.neighbours]
    # Two random sets of 2 among 3 candidates share 1 (Jaccard 1/3) with probability 2/3, or both (1) with 1/3.
    assert agreement.random_jaccard == pytest.approx(5 / 9)
    assert np.all((agreement.period_jaccard >= 0) & (agreement.period_jaccard <= 1))
