"""Instruments as data: the built-in definition, its short form, checks on a bad definition, answer parsing and
the packed answer encoding. Expected values are read off the YAML file itself."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from forewarn.surveys.instrument import (
    INSTRUMENTS_DIR,
    InstrumentError,
    decode_answers,
    load_instrument,
    parse_instrument,
    resolve_instrument,
)

BUILTIN = INSTRUMENTS_DIR / "forewarn_lc_v1.yml"


def raw_builtin() -> dict[str, object]:
    data = yaml.safe_load(BUILTIN.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_builtin_instrument_has_eight_dimensions_of_four_items_one_reverse_keyed_each() -> None:
    instrument = resolve_instrument("forewarn_lc")
    assert instrument.label == "forewarn_lc@1.0"
    assert instrument.dimension_codes == (
        "acquire",
        "assimilate",
        "apply",
        "peers",
        "experiment",
        "safety",
        "leadership",
        "development",
    )
    assert len(instrument.item_codes) == 32
    assert instrument.item_dimension == tuple(d for d in range(8) for _ in range(4))
    assert instrument.reverse_keyed == tuple(i % 4 == 3 for i in range(32))
    assert instrument.item_codes[:4] == ("acq_1", "acq_2", "acq_3", "acq_4")
    assert (instrument.scale.min, instrument.scale.max, instrument.min_answers_per_dimension) == (1, 5, 3)
    assert all(d.description for d in instrument.dimensions), "every dimension says what it means"


def test_same_content_same_checksum_and_any_change_changes_it(tmp_path: Path) -> None:
    a = load_instrument(BUILTIN)
    b = parse_instrument(BUILTIN.read_text(encoding="utf-8"))
    assert a.checksum == b.checksum and len(a.checksum) == 64
    raw = raw_builtin()
    raw["dimensions"][0]["items"][0]["text"] += " "  # type: ignore[index]
    changed = tmp_path / "changed.yml"
    changed.write_text(yaml.safe_dump(raw), encoding="utf-8")
    assert load_instrument(changed).checksum != a.checksum


def test_short_form_is_one_item_per_dimension_with_the_same_scale() -> None:
    short = resolve_instrument("forewarn_lc_short")
    assert short.label == "forewarn_lc_short@1.0"
    assert short.item_codes == ("acq_1", "asm_1", "app_1", "peer_2", "exp_1", "psy_1", "lead_1", "dev_1")
    assert short.dimension_codes == resolve_instrument("forewarn_lc").dimension_codes
    assert short.min_answers_per_dimension == 1
    assert short.scale == resolve_instrument("forewarn_lc").scale
    assert resolve_instrument("forewarn_lc@1.0").checksum == resolve_instrument("forewarn_lc").checksum


def test_unknown_builtin_names_what_there_is() -> None:
    with pytest.raises(
        InstrumentError, match=r"no such instrument; built in: forewarn_lc@1.0, forewarn_lc_short@1.0"
    ):
        resolve_instrument("forewarn_lc@9.9")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r["dimensions"][1]["items"][0].update(code="acq_1"), "item code 'acq_1' appears twice"),
        (lambda r: r["dimensions"][1].update(code="acquire"), "dimension code 'acquire' appears twice"),
        (lambda r: r["scale"].update(points=4), "the scale has 4 points but 5 labels"),
        (
            lambda r: r.update(min_answers_per_dimension=5),
            "min_answers_per_dimension is 5 but dimension 'acquire' has only 4 items",
        ),
        (
            lambda r: r["short_form"].update(items=["acq_1", "nope"]),
            "short_form lists items that are not in the instrument: nope",
        ),
        (lambda r: r["dimensions"][0]["items"][0].update(code="Acq 1"), "String should match pattern"),
        (lambda r: r.update(colour="blue"), "Extra inputs are not permitted"),
    ],
)
def test_bad_definitions_are_refused_with_where_and_why(change: object, message: str) -> None:
    raw = raw_builtin()
    change(raw)  # type: ignore[operator]
    with pytest.raises(InstrumentError) as info:
        parse_instrument(yaml.safe_dump(raw), "mine.yml")
    texts = [str(p) for p in info.value.problems]
    assert any(message in t for t in texts), texts
    assert all(t.startswith("mine.yml") for t in texts)


def test_yaml_that_is_not_yaml_names_the_line() -> None:
    with pytest.raises(InstrumentError) as info:
        parse_instrument("code: x\n  version: [\n", "broken.yml")
    assert str(info.value.problems[0]).startswith("broken.yml, row ")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1, 1),
        (5, 5),
        ("3", 3),
        (" 4 ", 4),
        ("4.0", 4),
        (2.0, 2),
        ("agree", 4),
        ("Strongly   DISAGREE", 1),
        ("", None),
        (None, None),
    ],
)
def test_answers_are_scale_values_or_labels(value: object, expected: int | None) -> None:
    assert resolve_instrument("forewarn_lc").parse_answer(value) == expected


@pytest.mark.parametrize("value", [0, 6, "6", 4.5, "four", True, "1e1"])
def test_values_off_the_scale_are_refused_naming_the_scale(value: object) -> None:
    with pytest.raises(
        ValueError, match=r"not an answer on the 5-point scale: expected a whole number from 1 to 5"
    ):
        resolve_instrument("forewarn_lc").parse_answer(value)


def test_packed_answers_round_trip_in_item_order() -> None:
    instrument = resolve_instrument("forewarn_lc")
    packed = instrument.encode({"acq_1": 5, "acq_4": 1, "dev_4": 3, "psy_2": None})
    assert packed == "5..1" + "." * 27 + "3"
    matrix = instrument.decode([packed, instrument.encode({"asm_1": 2})])
    assert matrix.shape == (2, 32)
    assert matrix[0, 0] == 5 and matrix[0, 3] == 1 and matrix[0, 31] == 3 and matrix[1, 4] == 2
    assert int(np.isnan(matrix).sum()) == 29 + 31


def test_decoding_refuses_answers_of_the_wrong_length() -> None:
    with pytest.raises(ValueError, match="do not all have 3 items"):
        decode_answers(["123", "12"], 3)
