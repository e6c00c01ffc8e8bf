"""The columnar read of a wave's responses gives what the row-by-row SQLAlchemy read gave, to the bit: the same
organisations in the same order, the same answers matrix (NaN where an item was not answered), the same upload
marks, whether one wave is read or every closed wave in one pass; and the published means from the one-pass read
are those of each wave read alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Connection, Engine, select

from forewarn.store.models import Organisation
from forewarn.store.models_surveys import SurveyResponse, SurveyWaveOrganisation
from forewarn.surveys.errors import DisclosureRefusedError
from forewarn.surveys.means import published_means, published_means_of_waves
from forewarn.surveys.responses import (
    WaveResponses,
    load_wave_responses,
    load_waves_responses,
    submit_with_token,
)
from forewarn.surveys.tokens import issue_tokens
from forewarn.surveys.waves import WaveInfo, close_wave, create_wave, open_wave, wave_instrument
from tests.surveys.conftest import ACQUIRE, acquire_answers, add_organisations, upload_scores


def row_by_row(conn: Connection, wave_id: int) -> WaveResponses:
    """The read as it was before it went columnar (SQLAlchemy rows, a dictionary lookup per row): the reference."""
    instrument = wave_instrument(conn, wave_id)
    codes = dict(
        conn.execute(
            select(Organisation.id, Organisation.code)
            .join(SurveyWaveOrganisation, SurveyWaveOrganisation.organisation_id == Organisation.id)
            .where(SurveyWaveOrganisation.wave_id == wave_id)
            .order_by(Organisation.code)
        ).all()
    )
    position = {org_id: i for i, org_id in enumerate(codes)}
    rows = conn.execute(
        select(SurveyResponse.organisation_id, SurveyResponse.source, SurveyResponse.answers).where(
            SurveyResponse.wave_id == wave_id
        )
    ).all()
    org_index = np.fromiter((position[r[0]] for r in rows), dtype=np.int64, count=len(rows))
    packed = [r[2] for r in rows]
    n_items = len(instrument.item_codes)
    keys = (
        np.frombuffer("".join(packed).encode("ascii"), dtype=f"S{n_items}") if packed else np.array([], "S1")
    )
    order = np.lexsort((keys, org_index))
    return WaveResponses(
        instrument=instrument,
        organisation_codes=tuple(str(c) for c in codes.values()),
        organisation_index=org_index[order],
        uploaded=np.fromiter((r[1] == "import" for r in rows), dtype=np.bool_, count=len(rows))[order],
        answers=instrument.decode(packed)[order],
    )


def assert_same_to_the_bit(got: WaveResponses, expected: WaveResponses) -> None:
    assert got.instrument == expected.instrument
    assert got.organisation_codes == expected.organisation_codes
    for name in ("organisation_index", "uploaded", "answers"):
        a, b = getattr(got, name), getattr(expected, name)
        assert a.dtype == b.dtype and a.shape == b.shape, name
        assert a.tobytes() == b.tobytes(), name  # NaN patterns included


@pytest.fixture
def two_closed_waves_and_an_open_one(engine: Engine, tmp_path: Path) -> list[WaveInfo]:
    """Waves mixing token answers (some items left out: NaN) and uploads; each has an organisation without
    answers, and one group under the minimum size; the last wave stays open."""
    add_organisations(engine, ("AAA", "BBB", "CCC", "DDD", "EEE"))
    rng = np.random.default_rng(11)
    waves = []
    for name, members in (
        ("w1", ["EEE", "BBB", "AAA", "CCC"]),
        ("w2", ["AAA", "DDD", "BBB"]),
        ("w3", ["AAA"]),
    ):
        create_wave(engine, name, members, floor=5)
        opened = open_wave(engine, name, floor=5)
        answering = members[:-1] if len(members) > 1 else members
        scores = {org: rng.integers(1, 6, size=int(rng.integers(3, 9))).tolist() for org in answering}
        upload_scores(engine, name, tmp_path, f"{name}.csv", scores)
        for org in answering:
            tokens = issue_tokens(engine, name, 4, [org])[org]
            for token in tokens:
                answers = acquire_answers(int(rng.integers(1, 6)))
                left_out = rng.choice(ACQUIRE, size=int(rng.integers(0, 3)), replace=False)
                submit_with_token(engine, token, {c: v for c, v in answers.items() if c not in left_out})
        waves.append(close_wave(engine, name, floor=5) if name != "w3" else opened)
    return waves


def test_the_columnar_read_is_the_row_by_row_read(
    engine: Engine, two_closed_waves_and_an_open_one: list[WaveInfo]
) -> None:
    with engine.connect() as conn:
        wave_ids = conn.execute(select(SurveyWaveOrganisation.wave_id).distinct()).scalars().all()
        assert len(wave_ids) == 3
        for wave_id in wave_ids:
            expected = row_by_row(conn, wave_id)
            assert (
                np.isnan(expected.answers).any() and expected.uploaded.any() and not expected.uploaded.all()
            )
            assert_same_to_the_bit(load_wave_responses(conn, wave_id), expected)
        together = list(load_waves_responses(conn, list(reversed(wave_ids))))
        assert [w for w, _ in together] == list(reversed(wave_ids))
        for wave_id, data in together:
            assert_same_to_the_bit(data, row_by_row(conn, wave_id))


def test_the_published_means_of_waves_read_together_are_each_waves_own(
    engine: Engine, two_closed_waves_and_an_open_one: list[WaveInfo]
) -> None:
    closed = [w.id for w in two_closed_waves_and_an_open_one if w.status == "closed"]
    assert len(closed) == 2
    together = dict(published_means_of_waves(engine, closed, floor=5))
    assert list(together) == closed
    for wave_id in closed:
        alone = published_means(engine, wave_id, floor=5)
        got = together[wave_id]
        assert len(alone.group) > 0
        assert (got.group, got.dimension) == (alone.group, alone.dimension)
        for name in ("n", "mean", "sd"):
            assert getattr(got, name).tobytes() == getattr(alone, name).tobytes(), name


def test_the_published_means_of_waves_refuse_an_open_wave(
    engine: Engine, two_closed_waves_and_an_open_one: list[WaveInfo]
) -> None:
    with pytest.raises(DisclosureRefusedError, match="results are published only once a wave is closed"):
        list(published_means_of_waves(engine, [w.id for w in two_closed_waves_and_an_open_one], floor=5))
