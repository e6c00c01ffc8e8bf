"""The backtest's latent-truth baseline: each case gets its organisation's latest truth score dated by its origin,
whatever order the cases and the scores come in, without Polars' sortedness warning."""

from __future__ import annotations

import datetime as dt
import warnings

import numpy as np
import polars as pl

from forewarn.risk.backtest import truth_at_origins


def _day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def test_each_case_gets_the_latest_score_by_its_origin_in_its_own_order() -> None:
    cases = pl.DataFrame(
        {
            "organisation_id": [2, 1, 1, 2, 3],
            "origin": [
                _day(d) for d in ("2021-01-01", "2021-07-01", "2021-01-01", "2020-01-01", "2021-01-01")
            ],
        }
    )
    truth = pl.DataFrame(  # not sorted by anything
        {
            "organisation_id": [1, 2, 1, 2, 3],
            "date": [_day(d) for d in ("2021-06-01", "2020-06-01", "2020-12-01", "2021-01-01", "2022-01-01")],
            "score": [0.3, 0.5, 0.1, 0.7, 0.9],
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "sortedness cannot be checked" warning
        found = truth_at_origins(cases, truth)
    # Organisation 2 at 2021-01-01: its score of that very day; at 2020-01-01, none yet; 3 has none by 2021.
    assert found.to_list() == [0.7, 0.3, 0.1, None, None]


def test_it_agrees_with_a_plain_search_on_shuffled_data() -> None:
    rng = np.random.default_rng(5)
    months = [dt.date(2018 + m // 12, m % 12 + 1, 1) for m in range(60)]
    truth = pl.DataFrame(
        {
            "organisation_id": rng.integers(0, 30, 600),
            "date": [months[i] for i in rng.integers(0, 60, 600)],
            "score": rng.normal(size=600),
        }
    ).unique(["organisation_id", "date"], keep="first")
    cases = pl.DataFrame(
        {
            "organisation_id": rng.integers(0, 32, 400),
            "origin": [months[i] for i in rng.integers(0, 60, 400)],
        }
    )
    found = truth_at_origins(cases, truth.sample(fraction=1.0, shuffle=True, seed=1)).to_list()
    rows = truth.rows()
    for (organisation, origin), value in zip(cases.rows(), found, strict=True):
        earlier = [(d, s) for o, d, s in rows if o == organisation and d <= origin]
        assert value == (max(earlier)[1] if earlier else None)
