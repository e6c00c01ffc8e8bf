"""``forewarn risk train`` stores a versioned model and ``forewarn risk score`` stores its scores and
contributions, on SQLite and PostgreSQL (``FOREWARN_TEST_DATABASE=postgresql``); bad options are refused with
the option named."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from forewarn.cli import app
from forewarn.demo import load_simulated_surveys
from forewarn.risk.store import FEATURES_VERSION, load_model, read_scores
from forewarn.settings import get_settings
from forewarn.simulate import load
from forewarn.store.models_risk import RiskModel, RiskScore

TRAIN = ["risk", "train", "--outcome", "inspection:inadequate", "--new-only", "--step", "6", "--refits", "5"]


@pytest.fixture
def runner(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("FOREWARN_DATABASE_URL", database_url)
    monkeypatch.setenv("FOREWARN_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("FOREWARN_IMPORTED_BY", "risk-test")
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


@pytest.fixture
def loaded(engine: Engine, simulated_dir: Path) -> Engine:
    load(engine, simulated_dir)
    load_simulated_surveys(engine, simulated_dir, "test", 10, min_group_size=5)
    return engine


def _count(engine: Engine, table: type[RiskModel] | type[RiskScore]) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _plain(text: str) -> str:
    """Typer's boxed error message as one line."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


@pytest.mark.slow
def test_train_and_score_store_versioned_models_and_scores(runner: CliRunner, loaded: Engine) -> None:
    first = runner.invoke(app, [*TRAIN, "--as-of", "2023-07-01", "--json"])
    assert first.exit_code == 0, first.output
    summary = json.loads(first.stdout)
    version = summary["version"]
    assert summary["training_origins"][-1] <= "2022-07-01"  # every training outcome known by the date
    # The same model on the same data is the same version, stored once.
    again = runner.invoke(app, [*TRAIN, "--as-of", "2023-07-01", "--json"])
    assert json.loads(again.stdout)["version"] == version
    assert _count(loaded, RiskModel) == 1
    stored = load_model(loaded, version=version)
    assert stored is not None
    assert list(stored.model.features) == summary["features"]
    assert stored.model.refits.shape == (5, stored.model.coefficients.size + 1)
    assert FEATURES_VERSION in stored.code_version and len(stored.data_version) == 16
    assert stored.model.calibration["training_deciles"]["n"]

    scored = runner.invoke(
        app,
        [
            "risk",
            "score",
            "--outcome",
            "inspection:inadequate",
            "--new-only",
            "--as-of",
            "2023-07-01",
            "--top",
            "5",
            "--json",
        ],
    )
    assert scored.exit_code == 0, scored.output
    payload = json.loads(scored.stdout)
    assert payload["model_version"] == version and len(payload["organisations"]) == 5
    scores = read_scores(loaded, as_of=dt.date(2023, 7, 1))
    assert scores.height > 100 and set(scores["version"].to_list()) == {version}
    assert scores["probability"].to_list() == sorted(scores["probability"].to_list(), reverse=True)
    # The stored contributions and the model's intercept sum to each score's log-odds.
    for row in scores.head(20).iter_rows(named=True):
        logit = stored.model.intercept + sum(row["contributions"].values())
        assert logit == pytest.approx(np.log(row["probability"] / (1 - row["probability"])), abs=1e-9)
        assert row["lower"] <= row["probability"] <= row["upper"]
    # The organisation page's "why it is on the watchlist" is the riskiest's stored score: its largest positive
    # contributions, largest first, and the model's intercept (issue 11).
    from forewarn.access.policy import ALL_ORGANISATIONS, Visibility
    from forewarn.views.risk import why_on_watchlist

    top = scores.row(0, named=True)
    with loaded.connect() as conn:
        why = why_on_watchlist(conn, ALL_ORGANISATIONS, int(top["organisation_id"]))
        other = Visibility(all_organisations=False, own=int(scores["organisation_id"][1]))
        assert why_on_watchlist(conn, other, int(top["organisation_id"])) is None
    assert why is not None and why.probability == top["probability"] and why.model_version == version
    positive = sorted((v, k) for k, v in top["contributions"].items() if v > 0)[::-1][:3]
    assert [(c.log_odds, c.feature) for c in why.contributions] == positive
    assert why.reasons == list(top["reasons"]) and why.intercept == stored.model.intercept
    # Scoring again with the same model and date replaces its scores.
    runner.invoke(app, ["risk", "score", "--model-version", version, "--as-of", "2023-07-01"])
    assert _count(loaded, RiskScore) == scores.height
    one = read_scores(loaded, organisation_id=int(scores["organisation_id"][0]))
    assert one.height == 1 and one["as_of"][0] == dt.date(2023, 7, 1)
    # With no stored model for what is asked (all failures, not only new ones), score trains and stores one.
    other = runner.invoke(
        app, ["risk", "score", "--outcome", "inspection:inadequate", "--as-of", "2023-07-01", "--json"]
    )
    assert other.exit_code == 0, other.output
    assert "trained and stored" in other.stderr
    assert json.loads(other.stdout)["model_version"] != version and _count(loaded, RiskModel) == 2


def test_score_without_a_stored_model_says_what_to_do(runner: CliRunner, loaded: Engine) -> None:
    result = runner.invoke(
        app, ["risk", "score", "--model-version", "0123456789abcdef", "--as-of", "2023-07-01"]
    )
    assert result.exit_code == 2
    assert (
        "no stored risk model for version 0123456789abcdef: run `forewarn risk train` first" in result.stderr
    )


@pytest.mark.parametrize(
    ("arguments", "option", "problem"),
    [
        (
            ["risk", "backtest", "--outcome", "inspection:inadequate", "--horizon", "0"],
            "--horizon",
            "0 is not a number of months from 1 to 120",
        ),
        (
            ["risk", "train", "--outcome", "inspection:inadequate", "--horizon", "500"],
            "--horizon",
            "500 is not a number of months from 1 to 120",
        ),
        (
            ["risk", "train", "--outcome", "inspection:inadequate", "--as-of", "2023-13-01"],
            "--as-of",
            "'2023-13-01' is not a date (YYYY-MM-DD)",
        ),
        (["risk", "score", "--as-of", "yesterday"], "--as-of", "'yesterday' is not a date (YYYY-MM-DD)"),
        (
            ["risk", "backtest", "--outcome", "inspection:inadequate", "--from", "2022-01-32"],
            "--from",
            "'2022-01-32' is not a date",
        ),
        (
            ["risk", "backtest", "--outcome", "inspection:inadequate", "--to", "2023"],
            "--to",
            "'2023' is not a date",
        ),
        (
            [
                "risk",
                "backtest",
                "--outcome",
                "inspection:inadequate",
                "--from",
                "2024-01-01",
                "--to",
                "2023-01-01",
            ],
            "--from",
            "2024-01-01 is after --to 2023-01-01",
        ),
        (
            ["risk", "backtest", "--outcome", "inspection:inadequate", "--without", "hard"],
            "--without",
            "unknown feature group(s) hard; the only group is soft",
        ),
        (
            [
                "risk",
                "train",
                "--outcome",
                "inspection:inadequate",
                "--without",
                "soft",
                "--without",
                "context",
            ],
            "--without",
            "unknown feature group(s) context",
        ),
        (["risk", "backtest", "--outcome", "inspection:awful"], "--outcome", "unknown grade(s) ['awful']"),
        (
            ["risk", "train", "--outcome", "below:ae:0.95"],
            "--outcome",
            "write below:INDICATOR:STANDARD:PERIODS",
        ),
        (
            ["risk", "backtest", "--outcome", "inspection:inadequate", "--step", "0"],
            "--step",
            "0 is not a number of months",
        ),
    ],
)
def test_bad_options_are_refused_naming_the_option(
    runner: CliRunner, arguments: list[str], option: str, problem: str
) -> None:
    result = runner.invoke(app, arguments)
    assert result.exit_code == 2, result.output
    message = _plain(result.stderr)
    assert re.search(rf"Invalid value for '?{option}'?:", message), message
    assert problem in message


@pytest.mark.parametrize(
    ("arguments", "option", "problem"),
    [
        (
            ["risk", "backtest", "--outcome", "inspektion:inadequate"],
            "--outcome",
            "no events of kind 'inspektion' in the store (kinds: inspection,",
        ),
        (
            ["risk", "train", "--outcome", "below:nope:0.95:3"],
            "--outcome",
            "no indicator 'nope' in the store",
        ),
        (
            ["risk", "train", "--outcome", "inspection:inadequate", "--as-of", "1990-01-01"],
            "--as-of",
            "1990-01-01 is before the first data (2019-01-01)",
        ),
        (
            ["risk", "backtest", "--outcome", "inspection:inadequate", "--from", "1990-01-01"],
            "--from",
            "1990-01-01 is before the first data",
        ),
        (["risk", "score", "--dataset", "nope"], "--dataset", "no dataset nope in the store"),
    ],
)
def test_options_the_data_cannot_answer_are_refused_naming_the_option(
    runner: CliRunner, loaded: Engine, arguments: list[str], option: str, problem: str
) -> None:
    result = runner.invoke(app, arguments)
    assert result.exit_code == 2, result.output
    message = _plain(result.stderr)
    assert re.search(rf"Invalid value for '?{option}'?:", message), message
    assert problem in message


@pytest.mark.slow
def test_backtest_stores_its_figures_with_versions(runner: CliRunner, loaded: Engine) -> None:
    from forewarn.risk.store import latest_backtest

    arguments = [
        "risk",
        "backtest",
        "--outcome",
        "inspection:inadequate",
        "--new-only",
        "--step",
        "6",
        "--json",
    ]
    result = runner.invoke(app, arguments)
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    stored = latest_backtest(loaded)
    assert stored is not None and stored.version == payload["stored_version"]
    assert stored.result["auc"] == pytest.approx(payload["auc"])
    assert len(stored.result["calibration"]["predicted"]) == 10
    assert FEATURES_VERSION in stored.code_version
    unstored = runner.invoke(app, [*arguments[:-1], "--no-store", "--json"])
    assert "stored_version" not in json.loads(unstored.stdout)
