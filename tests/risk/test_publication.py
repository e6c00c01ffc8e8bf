"""Publication dates per dataset (issue 11 item 1): a mapping sets its dataset's publication lag, the store keeps
it, and the risk model's history knows each observation from its period's end plus its own dataset's lag; with
two datasets published at different lags no feature at an origin uses anything published after it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from sqlalchemy import Engine, insert, select, update

from forewarn.ingest.importer import import_file
from forewarn.ingest.mapping import MappingError, parse_mapping
from forewarn.risk.features import origin_features
from forewarn.risk.history import StoreHistory, load_history
from forewarn.simulate import load
from forewarn.store.models import Dataset, Indicator
from tests.conftest import FIXTURES

MAPPING = (FIXTURES / "ingest" / "mapping.yml").read_text(encoding="utf-8")
ROWS = "period,org_code,org_name,attendances,breaches\n2020-01-01,AAA,Alpha,1000,100\n2020-02-01,AAA,Alpha,900,90\n"


def _mapping(tmp_path: Path, lag: str) -> Path:
    """The fixture mapping, with ``publication_lag_days: LAG`` in its dataset (none when empty)."""
    setting = f", publication_lag_days: {lag}" if lag else ""
    text = MAPPING.replace(
        "dataset: {code: test_ae, name: Test extract}",
        f"dataset: {{code: test_ae, name: Test extract{setting}}}",
    )
    assert text != MAPPING or not lag
    path = tmp_path / "mapping.yml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_mapping_sets_the_datasets_publication_lag_and_the_history_uses_it(
    engine: Engine, tmp_path: Path
) -> None:
    data = tmp_path / "ae.csv"
    data.write_text(ROWS, encoding="utf-8")
    import_file(engine, data, _mapping(tmp_path, "45"))
    with engine.connect() as conn:
        assert conn.execute(select(Dataset.publication_lag_days)).scalar_one() == 45
        history = load_history(conn, publication_lag_days=30)
    # January's figures end on 31 January: known 45 days later, on 16 March (not the default's 1 March).
    january = history.observations.filter(pl.col("period_start") == dt.date(2020, 1, 1))
    assert set(january["known_on"].to_list()) == {dt.date(2020, 1, 31) + dt.timedelta(days=45)}
    assert history.as_of(dt.date(2020, 3, 15)).observations.height == 0
    assert history.as_of(dt.date(2020, 3, 16)).observations.height == january.height == 2  # two indicators
    # A mapping without a lag leaves the default to the risk model (here 30 days).
    import_file(engine, data, _mapping(tmp_path, ""))
    with engine.connect() as conn:
        assert conn.execute(select(Dataset.publication_lag_days)).scalar_one() is None
        again = load_history(conn, publication_lag_days=30)
    assert set(again.observations.filter(pl.col("period_start") == dt.date(2020, 1, 1))["known_on"]) == {
        dt.date(2020, 3, 1)
    }


def test_a_negative_lag_is_refused_where_it_is_written() -> None:
    text = MAPPING.replace(
        "dataset: {code: test_ae, name: Test extract}",
        "dataset: {code: test_ae, name: Test extract, publication_lag_days: -3}",
    )
    with pytest.raises(MappingError) as info:
        parse_mapping(text)
    assert "dataset.publication_lag_days" in str(info.value) and "greater than or equal to 0" in str(
        info.value
    )


def test_two_datasets_published_at_different_lags_are_each_known_from_their_own(
    engine: Engine, simulated_dir: Path
) -> None:
    """Half the simulated indicators moved to a second dataset published 120 days after each period, the rest
    published after 10 days: each observation is known exactly then, and the features at an origin neither move
    when everything published after it is scrambled nor match the features of a single lag."""
    load(engine, simulated_dir)
    with engine.begin() as conn:
        early = conn.execute(select(Dataset.id).where(Dataset.code == "simulated")).scalar_one()
        conn.execute(update(Dataset).where(Dataset.id == early).values(publication_lag_days=10))
        late = conn.execute(
            insert(Dataset)
            .values(code="late", name="Published late", publication_lag_days=120)
            .returning(Dataset.id)
        ).scalar_one()
        codes = sorted(conn.execute(select(Indicator.code).where(Indicator.dataset_id == early)).scalars())
        moved = codes[::2]
        conn.execute(update(Indicator).where(Indicator.code.in_(moved)).values(dataset_id=late))
    with engine.connect() as conn:
        history = load_history(conn, publication_lag_days=30)
    with engine.begin() as conn:
        conn.execute(update(Dataset).values(publication_lag_days=None))
    with engine.connect() as conn:
        single = load_history(conn, publication_lag_days=10)  # every dataset published after 10 days
    observations = history.observations.join(
        history.indicators.select("indicator_id", "code"), on="indicator_id"
    )
    lag = (observations["known_on"] - observations["period_end"]).dt.total_days()
    expected = pl.Series([120 if c in moved else 10 for c in observations["code"]], dtype=pl.Int64)
    assert (lag == expected).all()

    origin = dt.date(2021, 7, 1)
    known = history.as_of(origin).observations.join(
        history.indicators.select("indicator_id", "code"), on="indicator_id"
    )
    late_known = known.filter(pl.col("code").is_in(moved))
    early_known = known.filter(~pl.col("code").is_in(moved))
    assert late_known["period_end"].max() <= origin - dt.timedelta(days=120)  # type: ignore[operator]
    assert early_known["period_end"].max() > origin - dt.timedelta(days=120)  # type: ignore[operator]

    whole = origin_features(history, origin).frame
    later = pl.col("known_on") > origin
    scrambled = StoreHistory(
        history.observations.with_columns(
            pl.when(later).then(pl.col(c) * 7 + 3).otherwise(pl.col(c)).alias(c)
            for c in ("numerator", "value", "expected")
        ),
        *(history.indicators, history.events, history.organisations, history.attributes, history.soft),
    )
    assert_frame_equal(whole, origin_features(scrambled, origin).frame, check_exact=False, rel_tol=1e-12)
    # The late dataset's last four months, known under one 10-day lag, are not known under its own 120 days.
    with pytest.raises(AssertionError):
        assert_frame_equal(whole, origin_features(single, origin).frame, check_exact=False, rel_tol=1e-6)
