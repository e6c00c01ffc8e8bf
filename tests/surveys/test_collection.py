"""Collection: waves open and close once, tokens are single-use and stored hashed, answers are checked item by
item, and nothing stored pairs a token with the answers it was used for."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from sqlalchemy import Engine, func, inspect, select

from forewarn.store.models_surveys import SurveyInstrument, SurveyResponse, SurveyToken
from forewarn.surveys.errors import (
    AnswersRejectedError,
    SurveyError,
    TokenRejectedError,
    WaveNotFoundError,
    WaveStateError,
)
from forewarn.surveys.instrument import parse_instrument, resolve_instrument
from forewarn.surveys.responses import load_wave_responses, submit_with_token
from forewarn.surveys.tokens import TokenState, issue_tokens, normalise_token, token_hash, token_state
from forewarn.surveys.waves import (
    WaveInfo,
    close_wave,
    closed_wave_ids,
    create_wave,
    get_wave,
    list_waves,
    open_wave,
    reseal_wave,
)
from tests.surveys.conftest import add_organisations

JUNE = dt.date(2026, 6, 17)


def test_a_wave_goes_draft_open_closed_and_never_back(engine: Engine) -> None:
    add_organisations(engine)
    wave = create_wave(engine, "autumn", ["BBB", "AAA"], created_by="admin", floor=5)
    assert (wave.status, wave.organisations, wave.instrument, wave.min_group_size) == (
        "draft",
        ("AAA", "BBB"),
        "forewarn_lc@1.0",
        5,
    )
    assert wave.instrument_checksum == resolve_instrument("forewarn_lc").checksum
    with pytest.raises(WaveStateError, match="only an open wave can be closed"):
        close_wave(engine, "autumn", floor=5)
    opened = open_wave(engine, wave.id, by="admin", floor=5)
    assert opened.status == "open" and opened.opened_at is not None
    with pytest.raises(WaveStateError, match="only a draft wave can be opened"):
        open_wave(engine, "autumn", floor=5)
    closed = close_wave(engine, str(wave.id), by="admin", floor=5)
    assert closed.status == "closed" and closed.closed_at is not None
    with pytest.raises(
        WaveStateError, match=r"is closed; only a draft wave can be opened \(a closed wave stays closed\)"
    ):
        open_wave(engine, "autumn", floor=5)
    assert [w.name for w in list_waves(engine, floor=5)] == ["autumn"]


def test_wave_creation_refuses_what_it_cannot_use(engine: Engine) -> None:
    add_organisations(engine)
    with pytest.raises(
        SurveyError, match=r"unknown organisation code\(s\): ZZZ, YYY; import the organisations first"
    ):
        create_wave(engine, "w", ["AAA", "ZZZ", "YYY"], floor=5)
    with pytest.raises(SurveyError, match="at least one organisation"):
        create_wave(engine, "w", [], floor=5)
    with pytest.raises(SurveyError, match="cannot be only digits"):
        create_wave(engine, "2026", ["AAA"], floor=5)
    create_wave(engine, "w", ["AAA"], floor=5)
    with pytest.raises(SurveyError, match="a wave named 'w' already exists"):
        create_wave(engine, "w", ["BBB"], floor=5)
    with pytest.raises(WaveNotFoundError, match="no survey wave 'nope'"):
        get_wave(engine, "nope", floor=5)


def test_min_group_size_can_be_raised_per_wave_never_lowered_below_the_setting(engine: Engine) -> None:
    add_organisations(engine)
    assert create_wave(engine, "raised", ["AAA"], min_group_size=10, floor=5).min_group_size == 10
    with pytest.raises(SurveyError, match=r"min_group_size 4 is below the minimum group size setting \(5\)"):
        create_wave(engine, "lowered", ["AAA"], min_group_size=4, floor=5)
    assert create_wave(engine, "default", ["AAA"], floor=7).min_group_size == 7, (
        "the floor when none is given"
    )
    assert get_wave(engine, "raised", floor=5).min_group_size == 10
    assert get_wave(engine, "raised", floor=12).min_group_size == 12, (
        "raising the setting later protects older waves too"
    )


def test_a_changed_instrument_under_an_old_version_is_refused(engine: Engine) -> None:
    add_organisations(engine)
    create_wave(engine, "first", ["AAA"], floor=5)
    builtin = resolve_instrument("forewarn_lc")
    altered = parse_instrument(
        builtin.model_copy(update={"name": "Renamed but same version"}).model_dump_json(), "altered"
    )
    with pytest.raises(
        SurveyError, match=r"already stored with different content.*give the changed instrument a new version"
    ):
        create_wave(engine, "second", ["AAA"], instrument=altered, floor=5)
    create_wave(engine, "third", ["AAA"], instrument=altered.model_copy(update={"version": "1.1"}), floor=5)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(SurveyInstrument)).scalar_one() == 2


def test_tokens_are_shown_once_and_stored_only_as_their_hash(
    engine: Engine, open_wave_aaa_bbb: WaveInfo
) -> None:
    issued = issue_tokens(engine, open_wave_aaa_bbb.name, 3)
    assert sorted(issued) == ["AAA", "BBB"] and all(len(t) == 3 for t in issued.values())
    texts = [t for ts in issued.values() for t in ts]
    assert len(set(texts)) == 6
    assert all(len(t) == 29 and t.count("-") == 5 for t in texts)
    with engine.connect() as conn:
        stored = set(conn.execute(select(SurveyToken.token_hash)).scalars())
        dumped = " ".join(str(row) for row in conn.execute(select(SurveyToken.__table__)).all())
    assert stored == {hashlib.sha256(t.replace("-", "").encode()).hexdigest() for t in texts}
    assert not any(t.replace("-", "") in dumped or t in dumped for t in texts), "no token text is stored"
    more = issue_tokens(engine, open_wave_aaa_bbb.name, 2, organisations=["BBB"])
    assert list(more) == ["BBB"]
    with pytest.raises(SurveyError, match=r"not in wave 'spring 2026': CCC"):
        issue_tokens(engine, open_wave_aaa_bbb.name, 1, organisations=["CCC"])
    with pytest.raises(SurveyError, match="between 1 and 100,000"):
        issue_tokens(engine, open_wave_aaa_bbb.name, 0)


def test_tokens_survive_the_ways_people_copy_them() -> None:
    canonical = "ABCDEFGHIJKLMNOPQRSTUVWX"
    assert normalise_token(" abcd-efgh ijkl-mnop-qrst-uvwx\n") == canonical
    assert token_hash("ABCD-EFGH-IJKL-MNOP-QRST-UVWX") == hashlib.sha256(canonical.encode()).hexdigest()
    for bad in ("ABCD", "ABCD-EFGH-IJKL-MNOP-QRST-UVW1", ""):
        with pytest.raises(TokenRejectedError) as info:
            normalise_token(bad)
        assert info.value.reason == "malformed"


def test_a_token_answers_once_and_the_answers_are_stored_as_given(
    engine: Engine, open_wave_aaa_bbb: WaveInfo
) -> None:
    token = issue_tokens(engine, open_wave_aaa_bbb.name, 1, organisations=["BBB"])["BBB"][0]
    receipt = submit_with_token(
        engine, token.lower(), {"acq_1": 5, "acq_4": "Disagree", "dev_4": "3"}, today=JUNE
    )
    assert (receipt.wave, receipt.submitted_month, receipt.answered_items) == (
        "spring 2026",
        dt.date(2026, 6, 1),
        3,
    )
    with pytest.raises(TokenRejectedError, match="already been used") as info:
        submit_with_token(engine, token, {"acq_1": 1})
    assert info.value.reason == "used"
    with engine.connect() as conn:
        rows = conn.execute(select(SurveyResponse.__table__)).mappings().all()
        data = load_wave_responses(conn, open_wave_aaa_bbb.id)
    assert len(rows) == 1
    assert rows[0]["source"] == "token" and rows[0]["upload_id"] is None
    assert rows[0]["submitted_month"] == dt.date(2026, 6, 1)
    assert rows[0]["answers"] == "5..2" + "." * 27 + "3"
    assert data.organisation_codes == ("AAA", "BBB") and data.organisation_index.tolist() == [1]
    assert data.answers[0, [0, 3, 31]].tolist() == [5.0, 2.0, 3.0]


def test_token_state_says_which_wave_and_whether_used(engine: Engine, open_wave_aaa_bbb: WaveInfo) -> None:
    token = issue_tokens(engine, open_wave_aaa_bbb.name, 1, organisations=["AAA"])["AAA"][0]
    with engine.connect() as conn:
        before = token_state(conn, token_hash(token))
        unknown = token_state(conn, hashlib.sha256(b"no such token").hexdigest())
    submit_with_token(engine, token, {"acq_1": 4}, today=JUNE)
    with engine.connect() as conn:
        after = token_state(conn, token_hash(token))
    assert before == TokenState(wave_id=open_wave_aaa_bbb.id, used=False)
    assert after == TokenState(wave_id=open_wave_aaa_bbb.id, used=True)
    assert unknown is None


def test_closed_wave_ids_lists_only_closed_waves(engine: Engine, open_wave_aaa_bbb: WaveInfo) -> None:
    create_wave(engine, "autumn 2026", ["AAA"], created_by="tester", floor=5)
    with engine.connect() as conn:
        assert closed_wave_ids(conn) == []
    closed = close_wave(engine, open_wave_aaa_bbb.name, by="tester", floor=5)
    with engine.connect() as conn:
        assert closed_wave_ids(conn) == [closed.id]


def test_refusals_say_why_and_write_nothing(engine: Engine, open_wave_aaa_bbb: WaveInfo) -> None:
    token = issue_tokens(engine, open_wave_aaa_bbb.name, 1, organisations=["AAA"])["AAA"][0]
    with pytest.raises(AnswersRejectedError) as info:
        submit_with_token(engine, token, {"acq_1": 6, "nope": 3, "asm_2": "sometimes", "asm_3": 4})
    assert info.value.problems == [
        "item 'acq_1': not an answer on the 5-point scale: expected a whole number from 1 to 5 or its label "
        "(1 = 'Strongly disagree', 2 = 'Disagree', 3 = 'Neither agree nor disagree', 4 = 'Agree', "
        "5 = 'Strongly agree') (value 6)",
        "item 'nope': not an item of forewarn_lc@1.0",
        "item 'asm_2': not an answer on the 5-point scale: expected a whole number from 1 to 5 or its label "
        "(1 = 'Strongly disagree', 2 = 'Disagree', 3 = 'Neither agree nor disagree', 4 = 'Agree', "
        "5 = 'Strongly agree') (value 'sometimes')",
    ]
    with pytest.raises(AnswersRejectedError, match="no answers were given"):
        submit_with_token(engine, token, {"acq_1": None, "acq_2": ""})
    with pytest.raises(TokenRejectedError, match="not one we issued") as unknown:
        submit_with_token(engine, "AAAA-AAAA-AAAA-AAAA-AAAA-AAAA", {"acq_1": 3})
    assert unknown.value.reason == "unknown"
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(SurveyResponse)).scalar_one() == 0
        assert conn.execute(select(SurveyToken.used)).scalars().all() == [False], (
            "refused answers leave the token unused"
        )
    submit_with_token(engine, token, {"acq_1": 3})


def test_draft_and_closed_waves_refuse_answers(engine: Engine) -> None:
    add_organisations(engine)
    create_wave(engine, "later", ["AAA"], floor=5)
    first, second = issue_tokens(engine, "later", 2)["AAA"]
    with pytest.raises(TokenRejectedError, match="'later' is not open yet") as draft:
        submit_with_token(engine, first, {"acq_1": 3})
    assert draft.value.reason == "not_open"
    open_wave(engine, "later", floor=5)
    submit_with_token(engine, first, {"acq_1": 3})
    close_wave(engine, "later", floor=5)
    with pytest.raises(
        TokenRejectedError, match="'later' has closed; answers can no longer be accepted"
    ) as closed:
        submit_with_token(engine, second, {"acq_1": 3})
    assert closed.value.reason == "closed"
    with pytest.raises(WaveStateError, match="closed; no more tokens"):
        issue_tokens(engine, "later", 1)


def test_nothing_stored_pairs_a_token_with_its_answers(engine: Engine, open_wave_aaa_bbb: WaveInfo) -> None:
    columns = {c["name"] for c in inspect(engine).get_columns("survey_responses")}
    assert columns == {
        "id",
        "wave_id",
        "organisation_id",
        "submitted_month",
        "source",
        "upload_id",
        "answers",
    }
    token_columns = {c["name"] for c in inspect(engine).get_columns("survey_tokens")}
    assert token_columns == {"token_hash", "wave_id", "organisation_id", "used"}
    foreign = {fk["referred_table"] for fk in inspect(engine).get_foreign_keys("survey_responses")}
    assert "survey_tokens" not in foreign
    tokens = issue_tokens(engine, open_wave_aaa_bbb.name, 6, organisations=["AAA"])["AAA"]
    for i, token in enumerate(tokens):
        submit_with_token(engine, token, {"acq_1": 1 + i % 5}, today=JUNE)
    with engine.connect() as conn:
        ids = conn.execute(select(SurveyResponse.id)).scalars().all()
    assert all(len(i) == 32 and int(i[12], 16) == 4 for i in ids), (
        "ids are random uuid4s, not sequence numbers"
    )
    before = set(ids)
    assert reseal_wave(engine, open_wave_aaa_bbb.name) == 6
    with engine.connect() as conn:
        after = conn.execute(select(SurveyResponse.id, SurveyResponse.answers)).all()
        used = conn.execute(select(func.count()).where(SurveyToken.used.is_(True))).scalar_one()
    assert not before & {i for i, _ in after}, "resealing gives every response a fresh random id"
    assert sorted(a[0] for _, a in after) == ["1", "1", "2", "3", "4", "5"], "and keeps the answers"
    assert used == 6


def test_tokens_and_responses_tables_keep_no_hidden_insertion_order_on_sqlite(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("rowid is SQLite's")
    with engine.connect() as conn:
        for table in ("survey_tokens", "survey_responses"):
            sql = conn.exec_driver_sql("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).scalar_one()
            assert "WITHOUT ROWID" in sql.upper()
