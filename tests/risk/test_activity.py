"""Learning activity as soft features (issue 11 with issue 13 item 5): read dated from the store, counted per
organisation in the two years before an origin from what was known then, and absent when the store holds none."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
from polars.testing import assert_frame_equal
from sqlalchemy import Engine, insert, select

from forewarn.library.documents import DocumentInput, create_document
from forewarn.risk.activity import FEATURES, activity_features, learning_activity
from forewarn.risk.backtest import BacktestOptions, labelled_cases
from forewarn.risk.features import origin_features
from forewarn.risk.history import load_history
from forewarn.risk.outcomes import Outcome, failures
from forewarn.simulate import load
from forewarn.store.models import Indicator, Organisation
from forewarn.store.models_experiments import Experiment, ExperimentResult, ExperimentUnit


def test_each_kind_is_counted_in_the_two_years_up_to_the_origin() -> None:
    origin = dt.date(2022, 7, 1)
    activity = pl.DataFrame(
        {
            "organisation_id": [1, 1, 1, 1, 2, 2],
            "kind": [
                "library_document",
                "library_document",  # 731 days before the origin: outside the two years
                "experiment_started",
                "experiment_analysed",
                "experiment_registered",
                "library_document",
            ],
            "known_on": [
                dt.date(2022, 6, 30),
                origin - dt.timedelta(days=731),
                origin - dt.timedelta(days=729),
                origin,
                dt.date(2021, 1, 1),
                dt.date(
                    2022, 8, 1
                ),  # after the origin: not known yet (as_of would have cut it; cut here too)
            ],
        }
    )
    organisations = pl.DataFrame({"organisation_id": [1, 2, 3]})
    counts = activity_features(activity, organisations, origin).sort("organisation_id")
    assert counts["organisation_id"].to_list() == [1, 2, 3]
    assert counts[FEATURES["library_document"]].to_list() == [1.0, 0.0, 0.0]
    assert counts[FEATURES["experiment_started"]].to_list() == [1.0, 0.0, 0.0]
    assert counts[FEATURES["experiment_analysed"]].to_list() == [1.0, 0.0, 0.0]
    assert counts[FEATURES["experiment_registered"]].to_list() == [0.0, 1.0, 0.0]


def _experiment(engine: Engine, owner: int, units: list[int], indicator: int) -> None:
    created = dt.datetime(2021, 3, 5, 10, 0, tzinfo=dt.UTC)
    with engine.begin() as conn:
        experiment = conn.execute(
            insert(Experiment)
            .values(
                code="night-checks",
                title="Night checks",
                hypothesis="A second check at night reduces falls.",
                unit_kind="organisation",
                outcome_indicator_id=indicator,
                design="cluster",
                analysis_plan={},
                minimum_effect=0.1,
                owner="tests",
                owner_organisation_id=owner,
                status="completed",
                planned_start=dt.date(2021, 4, 1),
                planned_end=dt.date(2022, 4, 1),
                created_by="tests",
                created_at=created,
                started_at=dt.datetime(2021, 4, 1, 9, 0, tzinfo=dt.UTC),
                completed_at=dt.datetime(2022, 4, 2, 9, 0, tzinfo=dt.UTC),
            )
            .returning(Experiment.id)
        ).scalar_one()
        conn.execute(
            insert(ExperimentUnit), [{"experiment_id": experiment, "organisation_id": o} for o in units]
        )
        conn.execute(
            insert(ExperimentResult).values(
                experiment_id=experiment,
                method="cluster",
                pre_registered=True,
                result={},
                padlocks=3,
                rating={},
                analysed_by="tests",
                analysed_at=dt.datetime(2022, 5, 1, 9, 0, tzinfo=dt.UTC),
            )
        )


def test_the_store_s_library_and_experiments_are_read_dated_and_counted_point_in_time(
    engine: Engine, simulated_dir: Path
) -> None:
    load(engine, simulated_dir)
    with engine.connect() as conn:
        before = load_history(conn)
        ids = dict(conn.execute(select(Organisation.code, Organisation.id).order_by(Organisation.code)).all())
        indicator = conn.execute(select(Indicator.id).limit(1)).scalar_one()
    assert before.activity.height == 0
    owner, partner = ids["SIM00001"], ids["SIM00002"]
    origin = dt.date(2022, 1, 1)
    # Without any learning activity in the store the features are exactly as before (no activity columns).
    plain = origin_features(before, origin).frame
    assert not set(FEATURES.values()) & set(plain.columns)

    with engine.begin() as conn:
        create_document(
            conn,
            DocumentInput(
                title="Huddles", body="Daily huddles.", organisation="SIM00001", date=dt.date(2021, 6, 1)
            ),
            "tests",
        )
        create_document(
            conn,
            DocumentInput(
                title="Later", body="Written after.", organisation="SIM00001", date=dt.date(2022, 3, 1)
            ),
            "tests",
        )
    _experiment(engine, owner, [owner, partner], indicator)
    with engine.connect() as conn:
        read = learning_activity(conn).sort("known_on", "organisation_id", "kind")
        history = load_history(conn)
    assert read.rows() == [
        (owner, "experiment_registered", dt.date(2021, 3, 5)),
        (owner, "experiment_started", dt.date(2021, 4, 1)),
        (partner, "experiment_started", dt.date(2021, 4, 1)),
        (owner, "library_document", dt.date(2021, 6, 1)),
        (owner, "library_document", dt.date(2022, 3, 1)),
        (owner, "experiment_analysed", dt.date(2022, 5, 1)),
    ]
    features = origin_features(history, origin).frame
    row = features.filter(pl.col("organisation_id") == owner).row(0, named=True)
    assert [
        row[FEATURES[k]]
        for k in ("library_document", "experiment_registered", "experiment_started", "experiment_analysed")
    ] == [1.0, 1.0, 1.0, 0.0]
    other = features.filter(pl.col("organisation_id") == partner).row(0, named=True)
    assert other[FEATURES["experiment_started"]] == 1.0 and other[FEATURES["library_document"]] == 0.0
    assert (
        features.filter(~pl.col("organisation_id").is_in([owner, partner]))[
            FEATURES["library_document"]
        ].sum()
        == 0
    )
    # Everything else is as it was; and the activity columns are soft features (left out by --without soft).
    assert_frame_equal(features.select(plain.columns), plain)
    outcome = Outcome.parse("inspection:inadequate")
    found = failures(history, outcome)
    without = labelled_cases(history, BacktestOptions(outcome=outcome, with_soft=False), [origin], found)
    assert not set(FEATURES.values()) & set(without.features)
    with_soft = labelled_cases(history, BacktestOptions(outcome=outcome), [origin], found)
    assert set(FEATURES.values()) <= set(with_soft.features)


def test_members_logged_acts_are_features_only_where_k_anonymous(engine: Engine) -> None:
    """Organisation A's members: 5 accounts in May 2024 (3 searches, 2 notes read, 1 neighbours page each of two
    accounts); B: 2 accounts (suppressed at k = 5: not in the model either). Each act is known on 1 June, when
    May's count is complete; the features count them from then."""
    from forewarn.accounts.passwords import Argon2Parameters, Passwords
    from forewarn.accounts.users import create_user
    from forewarn.library.activity import log_activity
    from forewarn.risk.activity import logged_activity
    from forewarn.store.models_web import Role

    passwords = Passwords(Argon2Parameters(time_cost=1, memory_cost=1024, parallelism=1))
    may = dt.date(2024, 5, 1)
    with engine.begin() as conn:
        a, b = (
            conn.execute(
                insert(Organisation).values(code=code, name=code).returning(Organisation.id)
            ).scalar_one()
            for code in ("A", "B")
        )
        users = {
            (org, i): create_user(
                conn,
                passwords,
                email=f"u{org}{i}@test.forewarn",
                display_name=f"U{i}",
                password="a long and unusual passphrase",
                role=Role.MEMBER,
                organisation_id=org,
            )
            for org, n in ((a, 5), (b, 2))
            for i in range(n)
        }
        acts = [
            (a, 0, "search"),
            (a, 1, "search"),
            (a, 2, "search"),
            (a, 3, "note_read"),
            (a, 3, "note_read"),
        ]
        acts += [(a, 4, "neighbours"), (a, 0, "neighbours"), (b, 0, "search"), (b, 1, "deviants")]
        for org, i, kind in acts:
            assert log_activity(conn, org, users[(org, i)], kind, when=may + dt.timedelta(days=i))
        logged = logged_activity(conn)
        everything = learning_activity(conn)
    assert sorted(logged.rows()) == sorted(
        [(a, "search", dt.date(2024, 6, 1))] * 3
        + [(a, "note_read", dt.date(2024, 6, 1))] * 2
        + [(a, "neighbours", dt.date(2024, 6, 1))] * 2
    )
    assert everything.height == logged.height  # no documents or experiments here
    organisations = pl.DataFrame({"organisation_id": [a, b]})
    before = activity_features(everything, organisations, dt.date(2024, 5, 31))
    after = activity_features(everything, organisations, dt.date(2024, 6, 1))
    assert before["soft_library_searches_2y"].to_list() == [0.0, 0.0]
    assert after.select(
        "soft_library_searches_2y",
        "soft_library_notes_read_2y",
        "soft_neighbours_visits_2y",
        "soft_deviants_visits_2y",
    ).rows() == [(3.0, 2.0, 2.0, 0.0), (0.0, 0.0, 0.0, 0.0)]
