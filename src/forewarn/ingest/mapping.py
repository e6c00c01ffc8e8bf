"""Mapping files (YAML): how a public extract's columns become Forewarn's organisations, indicators and values.

A mapping lets a user import an extract exactly as it was published. See ``docs/mapping.md`` for the format and
``data/*/mapping.yml`` for two real examples (one wide, one long).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from forewarn.domain import Polarity
from forewarn.ingest.expressions import ExpressionError, expression_columns
from forewarn.ingest.problems import Problem
from forewarn.store.models import IndicatorKind

ColumnType = Literal["text", "number", "integer", "date"]
PeriodFormat = str  # a strftime pattern, or one of NAMED_PERIOD_FORMATS
NAMED_PERIOD_FORMATS = ("iso", "month", "year", "financial_year", "year_range", "fingertips")
FREQUENCIES = ("day", "week", "month", "quarter", "year")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FixedValue(_Strict):
    """A fixed value instead of a column: ``{value: "NHS trust"}``."""

    value: str


ColumnOrValue = Annotated[str | FixedValue, Field(union_mode="left_to_right")]


class DatasetSpec(_Strict):
    code: str = Field(pattern=r"^[a-z0-9_]+$")
    name: str
    source: str | None = None
    licence: str | None = None
    simulated: bool = False
    publication_lag_days: int | None = Field(
        None,
        ge=0,
        le=3660,
        description="Days after a period's end its figures are published (the risk model's point-in-time "
        "history knows them from then); left out: the risk model's default lag.",
    )


MISSING_VALUES: tuple[str, ...] = ("", "NA", "N/A", "n/a", "NULL", "null")
"""The cells read as missing wherever a file is read (:mod:`forewarn.ingest.readers`), unless a mapping names
its own list in ``file.missing_values``."""


class FileSpec(_Strict):
    format: Literal["csv", "excel", "parquet"] | None = None
    encoding: str = "utf-8"
    delimiter: str = Field(",", min_length=1, max_length=1)
    sheet: str | None = None
    missing_values: list[str] = Field(default_factory=lambda: list(MISSING_VALUES))
    decimal: Literal["point", "comma"] = Field(
        "point",
        description="How numbers typed as text (CSV) mark decimals: point (1,234.5) or comma (1.234,5).",
    )


class OrganisationSpec(_Strict):
    code: str
    case: Literal["upper", "lower", "preserve"] = Field(
        "upper", description="How organisation codes are normalised (after trimming spaces): bad01 is BAD01."
    )
    name: ColumnOrValue | None = None
    type: ColumnOrValue | None = None
    region: ColumnOrValue | None = None
    parent: str | None = None
    attributes: dict[str, str] = Field(default_factory=dict)


class PeriodSpec(_Strict):
    column: str
    format: PeriodFormat = "iso"
    frequency: Literal["day", "week", "month", "quarter", "year"] | None = None
    end_column: str | None = None

    @model_validator(mode="after")
    def _end_is_known(self) -> PeriodSpec:
        ranged = self.format in ("year", "financial_year", "year_range", "fingertips", "month")
        if not ranged and self.frequency is None and self.end_column is None:
            raise ValueError(
                f"period format {self.format!r} gives only a start date: set `frequency` (month, quarter, ...) "
                "or `end_column`"
            )
        return self


class ExcludeSpec(_Strict):
    column: str
    values: list[str]
    reason: str


WhereValue = str | list[str]


class IndicatorSpec(_Strict):
    code: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    name: str
    kind: IndicatorKind
    polarity: Polarity
    unit: str | None = None
    target: float | None = None
    multiplier: float = 1.0
    description: str | None = None
    where: dict[str, WhereValue] = Field(default_factory=dict)
    match: dict[str, str] = Field(
        default_factory=dict, description="column -> regular expression the text must match"
    )
    numerator: str | None = None
    denominator: str | None = None
    expected: str | None = None
    value: str | None = None
    standard_error: str | None = Field(None, description="column holding each value's standard error")
    lower: str | None = Field(None, description="column holding the lower confidence limit of each value")
    upper: str | None = Field(None, description="column holding the upper confidence limit of each value")
    ci_level: float | None = Field(None, gt=0, lt=100, description="confidence level in percent (default 95)")
    ci_scale: Literal["natural", "log"] | None = Field(
        None, description="natural (default), or log for intervals symmetric on the log scale (ratios)"
    )
    aggregate: Literal["none", "sum"] = "none"
    on_missing_value: Literal["error", "skip"] = "error"

    @model_validator(mode="after")
    def _has_what_its_kind_needs(self) -> IndicatorSpec:
        needs: dict[IndicatorKind, tuple[str, ...]] = {
            IndicatorKind.PROPORTION: ("numerator", "denominator"),
            IndicatorKind.RATE: ("numerator", "denominator"),
            IndicatorKind.RATIO_OE: ("numerator", "expected"),
            IndicatorKind.COUNT: ("numerator",),
            IndicatorKind.MEAN: ("value",),
        }
        if self.value is None:
            missing = [name for name in needs[self.kind] if getattr(self, name) is None]
            if missing:
                raise ValueError(
                    f"indicator {self.code!r} of kind {self.kind.value!r} needs {' and '.join(missing)} "
                    "(or a `value` expression)"
                )
        if self.aggregate == "sum" and self.value is not None and self.numerator is None:
            raise ValueError(
                f"indicator {self.code!r}: `aggregate: sum` adds numerators and denominators, not values"
            )
        self._uncertainty_is_whole()
        return self

    def _uncertainty_is_whole(self) -> None:
        """A standard error, or both confidence limits (with their level and scale), never both or half."""
        where = f"indicator {self.code!r}"
        if self.standard_error is not None and (self.lower is not None or self.upper is not None):
            raise ValueError(f"{where}: give `standard_error` or `lower` and `upper`, not both")
        if (self.lower is None) != (self.upper is None):
            raise ValueError(f"{where}: a confidence interval needs both `lower` and `upper`")
        if self.lower is None and (self.ci_level is not None or self.ci_scale is not None):
            raise ValueError(
                f"{where}: `ci_level` and `ci_scale` describe `lower` and `upper`, which are not set"
            )
        if self.aggregate == "sum" and (self.standard_error is not None or self.lower is not None):
            raise ValueError(
                f"{where}: `aggregate: sum` cannot combine the rows' standard errors or confidence limits"
            )

    @property
    def confidence_level(self) -> float:
        """The confidence level of ``lower`` and ``upper`` as a fraction (0.95 unless ``ci_level`` says)."""
        return (95.0 if self.ci_level is None else self.ci_level) / 100.0

    def uncertainty_columns(self) -> dict[str, str]:
        """Mapping field -> column for the value's standard error or confidence limits (empty when none)."""
        named = {"standard_error": self.standard_error, "lower": self.lower, "upper": self.upper}
        return {k: v for k, v in named.items() if v is not None}

    def expressions(self) -> dict[str, str]:
        named = {
            "numerator": self.numerator,
            "denominator": self.denominator,
            "expected": self.expected,
            "value": self.value,
        }
        return {k: v for k, v in named.items() if v is not None}


class EventSpec(_Strict):
    date: str
    date_format: str = "iso"
    kind: ColumnOrValue
    grade: str | None = None
    detail: str | None = None


class Mapping(_Strict):
    """A whole mapping file."""

    version: Literal[1] = 1
    dataset: DatasetSpec
    file: FileSpec = Field(default_factory=FileSpec)
    records: Literal["observations", "events", "organisations"] = "observations"
    columns: dict[str, ColumnType]
    organisation: OrganisationSpec
    period: PeriodSpec | None = None
    exclude: list[ExcludeSpec] = Field(default_factory=list)
    indicators: list[IndicatorSpec] = Field(default_factory=list)
    events: EventSpec | None = None

    @field_validator("columns")
    @classmethod
    def _some_columns(cls, value: dict[str, ColumnType]) -> dict[str, ColumnType]:
        if not value:
            raise ValueError("`columns` must list the file's columns the mapping reads, with their types")
        return value

    @model_validator(mode="after")
    def _references_are_declared(self) -> Mapping:
        declared = set(self.columns)
        problems: list[str] = []

        def need(column: str | None, where: str) -> None:
            if column is not None and column not in declared:
                problems.append(f"{where} refers to column {column!r}, which is not declared in `columns`")

        org = self.organisation
        need(org.code, "organisation.code")
        for name in ("name", "type", "region"):
            ref = getattr(org, name)
            if isinstance(ref, str):
                need(ref, f"organisation.{name}")
        need(org.parent, "organisation.parent")
        for attr, column in org.attributes.items():
            need(column, f"organisation.attributes.{attr}")
        for item in self.exclude:
            need(item.column, "exclude")
        if self.records == "observations":
            if self.period is None:
                problems.append("observations need a `period` section")
            else:
                need(self.period.column, "period.column")
                need(self.period.end_column, "period.end_column")
            if not self.indicators:
                problems.append("observations need at least one entry under `indicators`")
        if self.records == "events":
            if self.events is None:
                problems.append("records: events needs an `events` section")
            else:
                need(self.events.date, "events.date")
                if isinstance(self.events.kind, str):
                    need(self.events.kind, "events.kind")
                need(self.events.grade, "events.grade")
                need(self.events.detail, "events.detail")
        codes: set[str] = set()
        for spec in self.indicators:
            if spec.code in codes:
                problems.append(f"indicator code {spec.code!r} appears twice")
            codes.add(spec.code)
            for column in spec.where:
                need(column, f"indicators[{spec.code}].where")
            for column, pattern in spec.match.items():
                need(column, f"indicators[{spec.code}].match")
                try:
                    re.compile(pattern)
                except re.error as exc:
                    problems.append(
                        f"indicators[{spec.code}].match.{column}: not a regular expression ({exc})"
                    )
            for field_name, text in spec.expressions().items():
                try:
                    for column in expression_columns(text):
                        need(column, f"indicators[{spec.code}].{field_name}")
                except ExpressionError as exc:
                    problems.append(f"indicators[{spec.code}].{field_name}: {exc}")
                    continue
                for column in expression_columns(text):
                    if column in declared and self.columns[column] not in ("number", "integer"):
                        problems.append(
                            f"indicators[{spec.code}].{field_name} uses column {column!r}, "
                            f"declared as {self.columns[column]!r}, not number"
                        )
            for field_name, column in spec.uncertainty_columns().items():
                need(column, f"indicators[{spec.code}].{field_name}")
                if column in declared and self.columns[column] not in ("number", "integer"):
                    problems.append(
                        f"indicators[{spec.code}].{field_name} names column {column!r}, "
                        f"declared as {self.columns[column]!r}, not number"
                    )
        if problems:
            raise ValueError("; ".join(problems))
        return self


class MappingError(Exception):
    """A mapping file that cannot be used; ``problems`` name where in the YAML."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


def _location(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(top level)"


def parse_mapping(text: str, name: str = "mapping") -> Mapping:
    """Parse mapping YAML text, raising :class:`MappingError` with every problem found."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        row = mark.line + 1 if mark is not None else None
        raise MappingError([Problem(name, row, None, None, f"not valid YAML: {exc}")]) from exc
    if not isinstance(raw, dict):
        raise MappingError(
            [Problem(name, None, None, None, "a mapping file must be a YAML mapping (key: value)")]
        )
    try:
        return Mapping.model_validate(raw)
    except ValidationError as exc:
        problems = [
            Problem(
                name, None, _location(tuple(err["loc"])), None, str(err["msg"]).removeprefix("Value error, ")
            )
            for err in exc.errors()
        ]
        raise MappingError(problems) from exc


def read_mapping_text(path: Path) -> str:
    """The text of a mapping file, which must be UTF-8; a clear :class:`MappingError` otherwise."""
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise MappingError([Problem(str(path), None, None, None, "mapping file not found")]) from exc
    except IsADirectoryError as exc:
        raise MappingError([Problem(str(path), None, None, None, "mapping file is a directory")]) from exc
    try:
        return data.removeprefix(b"\xef\xbb\xbf").decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise MappingError(
            [
                Problem(
                    str(path),
                    line,
                    None,
                    f"0x{data[exc.start : exc.start + 1].hex()}",
                    "mapping file is not UTF-8 text: save it as UTF-8 (YAML files are UTF-8)",
                )
            ]
        ) from exc


def load_mapping(path: Path) -> Mapping:
    return parse_mapping(read_mapping_text(path), str(path))


def file_checksum(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def text_checksum(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
