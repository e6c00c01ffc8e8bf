"""Survey instruments are data: a versioned YAML definition of dimensions, items and the response scale.

A regulator can load its own instrument (for example a crosswalk of a national staff survey's questions) with
:func:`load_instrument`; Forewarn's own ships in ``surveys/instruments/``. Every stored wave keeps the whole
definition and its checksum, so results always say which version produced them.

Answers are kept packed: one character per item, in the instrument's item order, the value written as a base-36
digit (``0-9`` then ``a-z``) and ``.`` for no answer. A million responses then decode in one NumPy call
(:func:`decode_answers`), with no per-row Python work.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from forewarn.ingest.problems import Problem

INSTRUMENTS_DIR = Path(__file__).parent / "instruments"
DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
MISSING = "."
CODE_PATTERN = r"^[a-z][a-z0-9_]*$"

# Byte -> value lookup for decoding; NaN for the missing marker (and anything else, which encode never writes).
_DECODE_TABLE = np.full(256, np.nan)
for _value, _char in enumerate(DIGITS):
    _DECODE_TABLE[ord(_char)] = float(_value)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ResponseScale(_Strict):
    """The answer options: ``points`` values from ``min`` upwards, each with a label."""

    points: int = Field(ge=2, le=36)
    labels: tuple[str, ...]
    min: int = Field(1, ge=0)

    @model_validator(mode="after")
    def _labels_fit(self) -> ResponseScale:
        if len(self.labels) != self.points:
            raise ValueError(f"the scale has {self.points} points but {len(self.labels)} labels")
        if self.max >= len(DIGITS):
            raise ValueError(
                f"scale values must lie between 0 and {len(DIGITS) - 1}; this one reaches {self.max}"
            )
        if len({_normal_label(label) for label in self.labels}) != len(self.labels):
            raise ValueError("two scale labels are the same")
        return self

    @property
    def max(self) -> int:
        return self.min + self.points - 1

    def describe(self) -> str:
        """How a person should write an answer, for error messages."""
        labels = ", ".join(
            f"{v} = {label!r}" for v, label in zip(range(self.min, self.max + 1), self.labels, strict=True)
        )
        return f"a whole number from {self.min} to {self.max} or its label ({labels})"


class Item(_Strict):
    code: str = Field(pattern=CODE_PATTERN, max_length=64)
    text: str = Field(min_length=1)
    reverse: bool = False


class Dimension(_Strict):
    code: str = Field(pattern=CODE_PATTERN, max_length=64)
    name: str
    description: str | None = None
    items: tuple[Item, ...] = Field(min_length=1)


class ShortForm(_Strict):
    code: str = Field(pattern=CODE_PATTERN, max_length=64)
    description: str | None = None
    items: tuple[str, ...] = Field(min_length=1)


class Instrument(_Strict):
    """A whole instrument definition, checked for internal consistency."""

    code: str = Field(pattern=CODE_PATTERN, max_length=64)
    version: str = Field(pattern=r"^[0-9A-Za-z._-]+$", max_length=32)
    name: str
    description: str | None = None
    scale: ResponseScale
    min_answers_per_dimension: int = Field(1, ge=1)
    dimensions: tuple[Dimension, ...] = Field(min_length=1)
    short_form: ShortForm | None = None

    @model_validator(mode="after")
    def _codes_are_consistent(self) -> Instrument:
        problems: list[str] = []
        seen_dimensions: set[str] = set()
        seen_items: set[str] = set()
        for dimension in self.dimensions:
            if dimension.code in seen_dimensions:
                problems.append(f"dimension code {dimension.code!r} appears twice")
            seen_dimensions.add(dimension.code)
            for item in dimension.items:
                if item.code in seen_items:
                    problems.append(f"item code {item.code!r} appears twice")
                seen_items.add(item.code)
            if self.min_answers_per_dimension > len(dimension.items):
                problems.append(
                    f"min_answers_per_dimension is {self.min_answers_per_dimension} but dimension "
                    f"{dimension.code!r} has only {len(dimension.items)} items"
                )
        if self.short_form is not None:
            unknown = [code for code in self.short_form.items if code not in seen_items]
            if unknown:
                problems.append(
                    f"short_form lists items that are not in the instrument: {', '.join(unknown)}"
                )
            if len(set(self.short_form.items)) != len(self.short_form.items):
                problems.append("short_form lists an item twice")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    # -- derived views (cached: the model is frozen) ---------------------------------------------------------------

    @cached_property
    def items(self) -> tuple[Item, ...]:
        """Every item, in the order answers are packed."""
        return tuple(item for dimension in self.dimensions for item in dimension.items)

    @cached_property
    def item_codes(self) -> tuple[str, ...]:
        return tuple(item.code for item in self.items)

    @cached_property
    def item_index(self) -> dict[str, int]:
        return {code: i for i, code in enumerate(self.item_codes)}

    @cached_property
    def item_dimension(self) -> tuple[int, ...]:
        """For each item, the position of its dimension."""
        return tuple(d for d, dimension in enumerate(self.dimensions) for _ in dimension.items)

    @cached_property
    def reverse_keyed(self) -> tuple[bool, ...]:
        return tuple(item.reverse for item in self.items)

    @cached_property
    def dimension_codes(self) -> tuple[str, ...]:
        return tuple(dimension.code for dimension in self.dimensions)

    @cached_property
    def _labels(self) -> dict[str, int]:
        return {_normal_label(label): self.scale.min + i for i, label in enumerate(self.scale.labels)}

    def definition(self) -> dict[str, Any]:
        """The definition as plain JSON data (what the store keeps)."""
        return self.model_dump(mode="json", exclude_none=True)

    @cached_property
    def checksum(self) -> str:
        """SHA-256 of the canonical JSON definition: the same content always gives the same checksum."""
        canonical = json.dumps(self.definition(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    @property
    def label(self) -> str:
        """``code@version``, the way results and the command line name an instrument."""
        return f"{self.code}@{self.version}"

    def short_form_instrument(self) -> Instrument | None:
        """The short form as an instrument of its own: each dimension keeps only its short-form items.

        Dimensions without a short-form item are left out; a dimension's score needs one answer.
        """
        if self.short_form is None:
            return None
        chosen = set(self.short_form.items)
        dimensions = [
            dimension.model_copy(
                update={"items": tuple(item for item in dimension.items if item.code in chosen)}
            )
            for dimension in self.dimensions
            if any(item.code in chosen for item in dimension.items)
        ]
        return Instrument(
            code=self.short_form.code,
            version=self.version,
            name=f"{self.name} (short form)",
            description=self.short_form.description,
            scale=self.scale,
            min_answers_per_dimension=1,
            dimensions=tuple(dimensions),
            short_form=None,
        )

    # -- answers ------------------------------------------------------------------------------------------------

    def parse_answer(self, value: object) -> int | None:
        """One answer as its scale value: a whole number on the scale, or a label (case and spaces ignored).

        ``None`` and blank text mean no answer. Raises ``ValueError`` naming the scale for anything else.
        """
        if value is None:
            return None
        if isinstance(value, bool):
            raise ValueError(self.scale_message)
        if isinstance(value, int | float | np.integer | np.floating):
            number = float(value)
        else:
            text = str(value).strip()
            if not text:
                return None
            normal = _normal_label(text)
            if normal in self._labels:
                return self._labels[normal]
            try:
                number = float(text)
            except ValueError:
                raise ValueError(self.scale_message) from None
        if not number.is_integer() or not self.scale.min <= number <= self.scale.max:
            raise ValueError(self.scale_message)
        return int(number)

    @property
    def scale_message(self) -> str:
        """What is wrong with a value off the scale, in the words every refusal uses."""
        return f"not an answer on the {self.scale.points}-point scale: expected {self.scale.describe()}"

    def encode(self, values: Mapping[str, int | None]) -> str:
        """Pack answers (item code -> scale value, already checked) into one character per item."""
        chars = [MISSING] * len(self.item_codes)
        for code, value in values.items():
            if value is not None:
                chars[self.item_index[code]] = DIGITS[value]
        return "".join(chars)

    def decode(self, packed: Sequence[str]) -> NDArray[np.float64]:
        """Responses x items matrix of answers (NaN where none) from packed strings."""
        return decode_answers(packed, len(self.item_codes))


def decode_answers(packed: Sequence[str], n_items: int) -> NDArray[np.float64]:
    """Unpack answer strings of ``n_items`` characters each into a float matrix, NaN for no answer.

    Examples
    --------
    >>> decode_answers(["12.", "543"], 3)
    array([[ 1.,  2., nan],
           [ 5.,  4.,  3.]])
    """
    if not packed:
        return np.empty((0, n_items))
    blob = "".join(packed).encode("ascii")
    if len(blob) != len(packed) * n_items:
        raise ValueError(
            f"stored answers do not all have {n_items} items: the instrument and the data disagree"
        )
    codes = np.frombuffer(blob, dtype=np.uint8).reshape(len(packed), n_items)
    decoded: NDArray[np.float64] = _DECODE_TABLE[codes]
    return decoded


def _normal_label(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().casefold()


class InstrumentError(Exception):
    """An instrument definition that cannot be used; ``problems`` say where in the YAML."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


def parse_instrument(text: str, name: str = "instrument") -> Instrument:
    """Parse instrument YAML, raising :class:`InstrumentError` with every problem found."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        row = mark.line + 1 if mark is not None else None
        raise InstrumentError([Problem(name, row, None, None, f"not valid YAML: {exc}")]) from exc
    if not isinstance(raw, dict):
        raise InstrumentError([Problem(name, None, None, None, "an instrument file must be a YAML mapping")])
    return instrument_from_definition(raw, name)


def instrument_from_definition(definition: Mapping[str, Any], name: str = "instrument") -> Instrument:
    """An instrument from parsed data (a YAML file's content, or a definition kept in the store)."""
    try:
        return Instrument.model_validate(dict(definition))
    except ValidationError as exc:
        problems = [
            Problem(
                name,
                None,
                ".".join(str(part) for part in err["loc"]) or "(top level)",
                None,
                str(err["msg"]).removeprefix("Value error, "),
            )
            for err in exc.errors()
        ]
        raise InstrumentError(problems) from exc


def load_instrument(path: Path) -> Instrument:
    """Read and check an instrument YAML file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise InstrumentError([Problem(str(path), None, None, None, "instrument file not found")]) from exc
    return parse_instrument(text, str(path))


def _version_key(version: str) -> tuple[tuple[int, str], ...]:
    return tuple((int(part), "") if part.isdigit() else (-1, part) for part in re.split(r"[._-]", version))


def builtin_instruments() -> list[Instrument]:
    """Forewarn's own instruments and their short forms, every version shipped."""
    found: list[Instrument] = []
    for path in sorted(INSTRUMENTS_DIR.glob("*.yml")):
        instrument = load_instrument(path)
        found.append(instrument)
        short = instrument.short_form_instrument()
        if short is not None:
            found.append(short)
    return found


def resolve_instrument(reference: str) -> Instrument:
    """An instrument from a YAML path, or a built-in one by ``code`` (newest version) or ``code@version``."""
    path = Path(reference)
    if path.suffix.lower() in (".yml", ".yaml") or path.exists():
        return load_instrument(path)
    code, _, version = reference.partition("@")
    candidates = [
        i for i in builtin_instruments() if i.code == code and (not version or i.version == version)
    ]
    if not candidates:
        known = ", ".join(sorted({i.label for i in builtin_instruments()}))
        raise InstrumentError(
            [
                Problem(
                    reference,
                    None,
                    None,
                    None,
                    f"no such instrument; built in: {known}, or give a YAML file path",
                )
            ]
        )
    return max(candidates, key=lambda i: _version_key(i.version))
