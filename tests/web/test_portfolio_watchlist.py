"""Issue 11: the portfolio page, its JSON and its CSV in order of calibrated risk with ties shown as ties; a
member's page shows their own organisation's risk and nothing of anyone else's."""

from __future__ import annotations

import polars as pl
from fastapi import FastAPI
from sqlalchemy import Engine

from forewarn.risk.history import StoreHistory
from forewarn.risk.store import save_backtest
from tests.web.risk_world import BACKTEST, store_risk_scores
from tests.web.test_authorisation_matrix import _client
from tests.web.world import SECRET_WORDS_FOR_MEMBER, World


def test_the_portfolio_page_json_and_csv_show_risk_and_ties(
    app: FastAPI, engine: Engine, world: World
) -> None:
    store_risk_scores(world, engine)
    client, _ = _client(app, engine, world, "analyst")
    with client:
        page = client.get("/portfolio").text
        assert "tied: 2 to 3" in page and "Risk within 12 months (90% interval)" in page
        assert "12.0%" in page and "8.0% to 18.0%" in page
        view = client.get("/api/v1/portfolio").json()
        assert [r["code"] for r in view["organisations"]] == ["HIDE1", "OWN1", "PEER1", "SIM1"]
        csv = client.get("/portfolio/tables/organisations.csv").text.splitlines()
        assert csv[0].endswith("risk,risk_lower,risk_upper,place_best,place_worst")
        assert csv[1].startswith("Charlie Hidden Trust") and csv[1].endswith("0.4,0.3,0.5,1,1")
    member, _ = _client(app, engine, world, "member")
    with member:
        page = member.get("/portfolio").text
        assert "12.0%" in page and "tied:" not in page and "40.0%" not in page
        for word in SECRET_WORDS_FOR_MEMBER:
            assert word not in page


def test_a_boosting_backtest_page_shows_what_the_model_leaned_on(
    app: FastAPI, engine: Engine, world: World
) -> None:

    result = {
        **BACKTEST,
        "model": "boosting",
        "explanations": {
            "method": "TreeSHAP",
            "origin": "2022-07-01",
            "n_cases": 321,
            "expected_value": -3.2,
            "mean_abs_shap": {"soft_mean": 0.41, "last_grade": 0.2},
            "additivity_max_error": 1e-12,
        },
    }
    empty = StoreHistory(*(pl.DataFrame() for _ in range(6)))
    save_backtest(engine, result, empty, run_by="tests")
    client, _ = _client(app, engine, world, "analyst")
    with client:
        page = client.get("/risk/backtest").text
        assert "What the boosting model leaned on at 2022-07-01" in page and "over 321 cases" in page
        assert "staff survey: capacity to learn" in page and "0.410" in page
        assert "SHAP values add up to the log-odds of the uncalibrated model" in page
