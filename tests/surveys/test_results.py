"""The results service passes each organisation's answers to the statistics correctly (checked on a small example
worked by hand), refuses an open wave, and compares waves with Welch's test (checked against scipy's own test on
the same scores)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from scipy import stats
from sqlalchemy import Engine

from forewarn.surveys.errors import DisclosureRefusedError
from forewarn.surveys.means import published_means
from forewarn.surveys.results import cell_rows, wave_progress, wave_results
from forewarn.surveys.waves import WaveInfo, close_wave, create_wave, open_wave, reseal_wave
from tests.surveys.conftest import add_organisations, submit_scores, upload_scores

AAA = [5, 4, 4, 3, 3, 5]  # mean 4, squared deviations 1+0+0+1+1+1 = 4, so variance 4/5 and sd sqrt(0.8)
BBB = [2, 2, 2, 2, 2]  # mean 2, sd 0
CCC = [1, 1]  # too few: suppressed


@pytest.fixture
def closed_wave(engine: Engine, open_wave_aaa_bbb: WaveInfo, tmp_path: Path) -> WaveInfo:
    create_wave(engine, "three", ["AAA", "BBB", "CCC"], floor=5)
    open_wave(engine, "three", floor=5)
    upload_scores(engine, "three", tmp_path, "three.csv", {"AAA": AAA, "BBB": BBB, "CCC": CCC})
    return close_wave(engine, "three", floor=5)


def test_each_group_gets_its_own_n_mean_sd_and_interval(engine: Engine, closed_wave: WaveInfo) -> None:
    analysis = wave_results(engine, "three", n_resamples=0, floor=5).analysis
    a = analysis.cell("AAA", "acquire")
    half = stats.t.ppf(0.975, 5) * math.sqrt(0.8) / math.sqrt(6)
    assert (a.suppressed, a.n) == (False, 6)
    assert a.mean == pytest.approx(4.0, abs=1e-12)
    assert a.sd == pytest.approx(math.sqrt(0.8), abs=1e-12)
    assert (a.ci_lower, a.ci_upper) == (
        pytest.approx(4 - half, abs=1e-12),
        pytest.approx(4 + half, abs=1e-12),
    )
    # Every item has the same answers as the score once acq_4 is reverse-keyed, so each item variance is 0.8 and,
    # against the uniform null (variance 2), rwg(j) = J(1 - 0.4) / (J(1 - 0.4) + 0.4) with J = 4: 2.4 / 2.8.
    # (James, Demaree & Wolf 1984.) Without reverse-keying acq_4 it would differ.
    assert a.rwg_j is not None
    assert a.rwg_j["uniform"] == pytest.approx(6 / 7, abs=1e-12)
    b = analysis.cell("BBB", "acquire")
    assert (b.n, b.mean, b.sd) == (5, pytest.approx(2.0, abs=1e-12), pytest.approx(0.0, abs=1e-12))
    assert b.rwg_j is not None
    assert b.rwg_j["uniform"] == pytest.approx(1.0, abs=1e-12)
    assert (a.verdict, a.reason) == (
        "not judged",
        "random-group resampling was switched off, so agreement was not tested against chance",
    ), "without resampling the service claims no verdict"


def test_small_and_empty_cells_are_suppressed_in_every_field(engine: Engine, closed_wave: WaveInfo) -> None:
    analysis = wave_results(engine, "three", n_resamples=0, floor=5).analysis
    c = analysis.cell("CCC", "acquire")
    assert c.suppressed
    assert c.n == "<5"
    assert (c.mean, c.sd, c.ci_lower, c.ci_upper, c.rwg_j, c.awg, c.verdict, c.reason) == (None,) * 8
    unanswered = analysis.cell("AAA", "safety")
    assert unanswered.suppressed and unanswered.n == "<5", "nobody answered: shown like any small group"
    rows = {(r["group"], r["dimension"]): r for r in cell_rows(analysis)}
    assert rows[("CCC", "acquire")]["n"] == "<5"
    assert all(
        rows[("CCC", "acquire")][k] is None
        for k in ("mean", "sd", "ci_lower", "ci_upper", "awg", "rwg_j_uniform")
    )


def test_pooled_figures_use_published_cells_only(engine: Engine, closed_wave: WaveInfo) -> None:
    acquire = wave_results(engine, "three", n_resamples=0, floor=5).analysis.dimensions[0]
    assert (acquire.dimension, acquire.groups_shown, acquire.groups_suppressed, acquire.respondents) == (
        "acquire",
        2,
        1,
        11,
    )
    by_item = {i.item: i for i in acquire.items}
    assert by_item["acq_4"].reverse_keyed and not by_item["acq_1"].reverse_keyed
    for item in ("acq_1", "acq_4"):  # keyed, every item carries the score: (24 + 10) / 11, CCC's 1s left out
        assert by_item[item].n == 11
        assert by_item[item].mean == pytest.approx(34 / 11, abs=1e-12)


def test_results_wait_until_the_wave_is_closed(
    engine: Engine, open_wave_aaa_bbb: WaveInfo, tmp_path: Path
) -> None:
    upload_scores(engine, "spring 2026", tmp_path, "a.csv", {"AAA": AAA, "BBB": [3, 3]})
    with pytest.raises(DisclosureRefusedError, match="results are published only once a wave is closed"):
        wave_results(engine, "spring 2026", floor=5)
    assert wave_progress(engine, "spring 2026", floor=5).responses == {"AAA": 6, "BBB": "<5"}


def test_results_do_not_depend_on_storage_order(engine: Engine, closed_wave: WaveInfo) -> None:
    before = wave_results(engine, "three", n_resamples=50, floor=5).analysis
    assert before.cell("AAA", "acquire").verdict in ("aggregate", "do not aggregate")
    reseal_wave(engine, "three")  # fresh random ids, rows rewritten
    assert wave_results(engine, "three", n_resamples=50, floor=5).analysis == before


def test_change_between_waves_is_welchs_test_on_the_two_groups(engine: Engine, tmp_path: Path) -> None:
    add_organisations(engine)
    later = [2, 2, 3, 2, 3, 2, 1]
    for name, scores in (
        ("2025", {"AAA": AAA, "BBB": BBB, "CCC": CCC}),
        ("2026", {"AAA": later, "BBB": [3]}),
    ):
        create_wave(engine, f"wave {name}", ["AAA", "BBB", "CCC"], floor=5)
        open_wave(engine, f"wave {name}", floor=5)
        submit_scores(engine, f"wave {name}", scores)
        close_wave(engine, f"wave {name}", floor=5)
    results = wave_results(engine, "wave 2026", compare_with="wave 2025", n_resamples=0, floor=5)
    assert results.compared_with == "wave 2025"
    changes = {(c.group, c.dimension): c for c in results.changes}
    aaa = changes[("AAA", "acquire")]
    welch = stats.ttest_ind(later, AAA, equal_var=False)
    assert (aaa.n_before, aaa.n_after) == (6, 7)
    assert aaa.difference == pytest.approx(sum(later) / 7 - 4, abs=1e-12)
    assert aaa.t == pytest.approx(welch.statistic, abs=1e-9)
    assert aaa.p_value == pytest.approx(welch.pvalue, abs=1e-9)
    ci = welch.confidence_interval(0.95)
    assert (aaa.ci_lower, aaa.ci_upper) == (pytest.approx(ci.low, abs=1e-9), pytest.approx(ci.high, abs=1e-9))
    assert aaa.changed is True
    bbb = changes[("BBB", "acquire")]
    assert bbb.suppressed and bbb.n_after == "<5" and bbb.difference is None, (
        "suppressed in one wave: no change shown"
    )


def test_the_published_means_alone_are_the_published_cells_of_the_full_results(
    engine: Engine, closed_wave: WaveInfo
) -> None:
    """``published_means`` (what the risk model reads) gives the cells ``wave_results`` publishes with a mean,
    in its order, with the same n, mean and sd to the bit: AAA and BBB on the dimension they answered, not CCC
    (suppressed) nor the unanswered dimensions; and it refuses an open wave as ``wave_results`` does."""
    means = published_means(engine, "three", floor=5)
    full = wave_results(engine, "three", n_resamples=50, floor=5).analysis.cells
    shown = [c for c in full if not c.suppressed and c.mean is not None]
    assert [(c.group, c.dimension) for c in shown] == [("AAA", "acquire"), ("BBB", "acquire")]
    assert list(zip(means.group, means.dimension, strict=True)) == [(c.group, c.dimension) for c in shown]
    assert means.n.tolist() == [c.n for c in shown] == [6, 5]
    assert means.mean.tolist() == [c.mean for c in shown]
    assert means.sd.tolist() == [c.sd for c in shown]
    assert means.sd[0] == pytest.approx(math.sqrt(0.8), abs=1e-12)


def test_the_published_means_wait_until_the_wave_is_closed(
    engine: Engine, open_wave_aaa_bbb: WaveInfo, tmp_path: Path
) -> None:
    upload_scores(engine, "spring 2026", tmp_path, "a.csv", {"AAA": AAA, "BBB": [3, 3]})
    with pytest.raises(DisclosureRefusedError, match="results are published only once a wave is closed"):
        published_means(engine, "spring 2026", floor=5)
