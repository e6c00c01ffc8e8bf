"""Neighbours and deviants from the store: dated context as of a date, the two neighbour lists side by side,
deviants listed by name with intervals, and the simulator checks (neighbours recover type and deprivation; level
deviants are enriched for truly high-capacity organisations)."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest
from sqlalchemy import Engine, insert, select

from forewarn.domain import Polarity
from forewarn.peers.context import UnknownOrganisation, load_context
from forewarn.peers.deviants import deviants_in, find_deviants, neighbour_groups
from forewarn.peers.evaluation import deviant_precision, high_capacity, neighbour_recovery, truth_bands
from forewarn.peers.levels import UnknownIndicator, indicator_levels
from forewarn.peers.neighbours import FIXED_WEIGHTS, find_neighbours, fixed_weights
from forewarn.stats.neighbours import design, nearest
from forewarn.store.database import read_connection
from forewarn.store.models import Dataset, Indicator, Organisation, OrganisationAttribute
from tests.peers.conftest import Region


def test_context_is_read_as_of_a_date(engine: Engine) -> None:
    with engine.begin() as conn:
        dataset = conn.execute(insert(Dataset).values(code="d", name="D").returning(Dataset.id)).scalar_one()
        ids = [
            conn.execute(
                insert(Organisation)
                .values(code=f"O{i}", name=f"Org {i}", type="a" if i < 3 else "b", dataset_id=dataset)
                .returning(Organisation.id)
            ).scalar_one()
            for i in range(5)
        ]
        rows = []
        for i, org in enumerate(ids):
            rows.append(
                {
                    "organisation_id": org,
                    "name": "size",
                    "valid_from": dt.date(2020, 1, 1),
                    "value_number": 10.0 * i,
                }
            )
            rows.append(
                {
                    "organisation_id": org,
                    "name": "size",
                    "valid_from": dt.date(2021, 1, 1),
                    "value_number": 100.0 - i,
                }
            )
        # A rare attribute: one organisation of five has it.
        rows.append(
            {
                "organisation_id": ids[0],
                "name": "rare",
                "valid_from": dt.date(2020, 1, 1),
                "value_number": 1.0,
            }
        )
        conn.execute(insert(OrganisationAttribute), rows)
    with read_connection(engine) as conn:
        early = load_context(conn, dataset, dt.date(2020, 6, 30))
        late = load_context(conn, dataset, dt.date(2021, 6, 30))
        before = load_context(conn, dataset, dt.date(2019, 1, 1))
        report = find_neighbours(conn, "O0", k=2, replicates=20, as_of=dt.date(2020, 6, 30))
    assert early.numeric[:, 0].tolist() == [0.0, 10.0, 20.0, 30.0, 40.0]
    assert late.numeric[:, 0].tolist() == [100.0, 99.0, 98.0, 97.0, 96.0]
    assert early.categorical_names == ("type",) and early.levels == (("a", "b"),)
    assert early.left_out == ("rare",) and before.attributes == ("type",)
    # O0 (size 0, type a): O1 (10, a) then O2 (20, a); O3 is as near in size as O2 but of the other type.
    fixed = report.list_of("fixed")
    assert fixed is not None and [n.code for n in fixed.neighbours] == ["O1", "O2"]
    size_weight, type_weight = FIXED_WEIGHTS.get("size", 1.0), FIXED_WEIGHTS["type"]
    assert fixed.weights == pytest.approx(
        {"size": size_weight / (size_weight + type_weight), "type": type_weight / (size_weight + type_weight)}
    )
    sd = np.std([0, 10, 20, 30, 40])
    assert fixed.neighbours[0].distance == pytest.approx(np.sqrt(fixed.weights["size"] * (10 / sd) ** 2))
    with read_connection(engine) as conn, pytest.raises(UnknownOrganisation):
        find_neighbours(conn, "NOPE")


def test_an_organisations_neighbours_side_by_side(region: Region) -> None:
    with read_connection(region.engine) as conn:
        report = find_neighbours(conn, "SIM00007", indicator="sim_timely_care", k=12, replicates=40, seed=2)
        with pytest.raises(UnknownIndicator):
            find_neighbours(conn, "SIM00007", indicator="nope")
    assert report.attributes == ("deprivation", "staff", "type", "region")
    assert report.logged == ("staff",)
    fixed, outcome = report.list_of("fixed"), report.list_of("outcome")
    assert fixed is not None and outcome is not None
    for listing in (fixed, outcome):
        assert len(listing.neighbours) == 12
        assert "SIM00007" not in [n.code for n in listing.neighbours]
        distances = [n.distance for n in listing.neighbours]
        assert distances == sorted(distances)
        assert all(0.0 <= n.stability <= 1.0 for n in listing.neighbours)
        assert sum(listing.weights.values()) == pytest.approx(1.0, abs=1e-5)  # rounded to 6 decimals
    assert outcome.r2_cv is not None and outcome.r2_cv > 0
    assert all(n.level is not None for n in outcome.neighbours)
    assert report.overlap is not None and 0 <= report.overlap <= 12
    payload = json.loads(json.dumps(report.to_dict()))
    assert [x["method"] for x in payload["lists"]] == ["fixed", "outcome"]
    # The same seed gives the same answer.
    with read_connection(region.engine) as conn:
        again = find_neighbours(conn, "SIM00007", indicator="sim_timely_care", k=12, replicates=40, seed=2)
    assert again.to_dict() == report.to_dict()


def test_neighbours_recover_type_and_deprivation_better_than_random(region: Region) -> None:
    with read_connection(region.engine) as conn:
        dataset = conn.execute(select(Dataset.id).where(Dataset.code == "simulated")).scalar_one()
        context = load_context(conn, dataset)
    found = nearest(design(context.distance_numeric(), context.categorical), fixed_weights(context), 12)
    recovery = neighbour_recovery(context, found.index, np.arange(context.n), truth_bands(region.out))
    # docs/peers.md states the figure at 2,000 organisations; at 400 it is of the same order.
    assert recovery.share_same_type == 1.0
    assert recovery.share_same > 0.6 and recovery.share_random < 0.2
    assert recovery.ratio_lower > 3.0


def test_deviants_are_listed_by_name_with_intervals_and_are_enriched_for_high_capacity(
    region: Region,
) -> None:
    with read_connection(region.engine) as conn:
        dataset = conn.execute(select(Dataset.id).where(Dataset.code == "simulated")).scalar_one()
        context = load_context(conn, dataset)
        codes = conn.execute(
            select(Indicator.code)
            .where(Indicator.polarity != Polarity.NEUTRAL.value)
            .order_by(Indicator.code)
        ).scalars()
        reports = [deviants_in(context, indicator_levels(conn, context, code)) for code in codes]
    listed = 0
    for report in reports:
        for group in report.groups:
            names = [(d.name.casefold(), d.code) for d in group.deviants]
            assert names == sorted(names)  # never ranked
            for d in group.deviants:
                listed += 1
                assert d.by_level or d.by_improvement
                if d.level is not None and d.lower is not None and d.upper is not None:
                    assert d.lower <= d.level <= d.upper
                if d.by_level:
                    assert d.z is not None and d.limit_lower is not None and d.limit_upper is not None
                    side = 1 if report.polarity == Polarity.HIGHER_IS_BETTER.value else -1
                    assert side * d.z > 3.0
                    assert d.level > d.limit_upper if side > 0 else d.level < d.limit_lower
                if d.by_improvement:
                    assert d.shift_since is not None and d.shift_points is not None and d.shift_points >= 7
    assert listed > 0
    precision = deviant_precision(reports, high_capacity(region.out), basis="level", name="high capacity")
    # A third of organisations are high-capacity by definition; level deviants are well above that.
    assert precision.deviants >= 30
    assert precision.lower > precision.base_rate, precision


def test_one_organisations_deviants_and_the_rules_that_stop_them(region: Region) -> None:
    with read_connection(region.engine) as conn:
        one = find_deviants(conn, "sim_mortality_oe", organisation="SIM00011", k=10)
        neutral = find_deviants(conn, "sim_activity", organisation="SIM00011")
        dataset = conn.execute(select(Dataset.id).where(Dataset.code == "simulated")).scalar_one()
        context = load_context(conn, dataset)
        levels = indicator_levels(conn, context, "sim_mortality_oe")
    assert [g.code for g in one.groups] == ["SIM00011"]
    assert one.groups[0].neighbours == 10
    assert one.neighbours_by in ("outcome", "fixed")
    group_rows, _, _ = neighbour_groups(
        context, levels, np.array([context.row_of(one.groups[0].organisation_id)]), 10
    )
    assert {d.organisation_id for d in one.groups[0].deviants} <= set(
        context.organisation_id[group_rows[0]].tolist()
    )
    assert neutral.groups == [] and "neutral" in neutral.notes[0]
    payload = json.loads(json.dumps(one.to_dict()))
    assert payload["indicator"] == "sim_mortality_oe" and payload["groups"][0]["code"] == "SIM00011"


def test_who_to_learn_from_as_an_analyst_and_as_a_member_sees_it(region: Region) -> None:
    from forewarn.access.policy import ALL_ORGANISATIONS, Visibility
    from forewarn.library.documents import DocumentInput, create_document
    from forewarn.store.database import write_connection
    from forewarn.views.peers import neighbours_view

    with read_connection(region.engine) as conn:
        report = find_deviants(conn, "sim_timely_care")
    group = next(g for g in report.groups if g.deviants)
    deviant = group.deviants[0]
    with write_connection(region.engine) as conn:
        note = create_document(
            conn,
            DocumentInput(
                title="How we see patients on time",
                body="Triage at the door.",
                organisation=deviant.code,
                indicators=("sim_timely_care",),
            ),
            "tests",
        )
    member = Visibility(all_organisations=False, own=group.organisation_id, peers={})
    with read_connection(region.engine) as conn:
        analyst_view = neighbours_view(
            conn, ALL_ORGANISATIONS, group.organisation_id, indicator="sim_timely_care", replicates=10
        )
        member_view = neighbours_view(
            conn, member, group.organisation_id, indicator="sim_timely_care", replicates=10
        )
        hidden = neighbours_view(
            conn, member, deviant.organisation_id, indicator="sim_timely_care", replicates=10
        )
    assert analyst_view is not None and member_view is not None and hidden is None
    assert {d.label for d in analyst_view.deviants} == {d.name for d in group.deviants}
    assert [p.url for p in analyst_view.practice] == [f"/library/{note}"]
    assert [p.url for p in member_view.practice] == [f"/library/{note}"]  # shared with everyone
    for d in member_view.deviants:
        assert (
            d.label.startswith("Neighbour ") and d.url is None and d.level is None and d.limit_lower is None
        )
    labels = {n.label for listing in member_view.lists for n in listing.neighbours}
    assert {d.label for d in member_view.deviants} <= labels
    text = member_view.model_dump_json()
    assert deviant.code not in text and deviant.name not in text
