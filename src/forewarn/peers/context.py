"""The context of a population of organisations on a date: their dated attributes as they stood then, with
their type and region, as the arrays :mod:`forewarn.stats.neighbours` takes.

An attribute holds from its ``valid_from`` until the organisation's next value of it (``organisation_attributes``,
written by imports: the simulator's staff and deprivation every January, any attribute a mapping names). The
population is the organisations of one dataset: a council is compared with councils from the same source, not
with a simulated school. An attribute that fewer than half of the population have on the date is left out (and
named), so a rare attribute does not make everyone else "missing"; numbers are the attribute's ``value_number``,
text its ``value_text`` as categories.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import polars as pl
from sqlalchemy import Connection, select

from forewarn.stats.arrays import FloatArray, IntArray
from forewarn.stats.neighbours import log_where_skewed
from forewarn.store.columnar import read_frame
from forewarn.store.models import Organisation

MIN_COVERAGE = 0.5
"""Share of the population that must have an attribute on the date for it to enter the distance."""
BUILT_IN = ("type", "region")
"""Columns of ``organisations`` used as categorical attributes beside the dated ones."""


class UnknownOrganisation(LookupError):
    """No organisation has this code."""


@dataclass(frozen=True)
class Context:
    """One row per organisation of the population; numeric attributes first, then categorical ones."""

    as_of: dt.date
    dataset_id: int | None
    organisation_id: IntArray
    code: tuple[str, ...]
    name: tuple[str, ...]
    numeric_names: tuple[str, ...]
    numeric: FloatArray  # (n, p) as stored (NaN unknown)
    logged: tuple[bool, ...]  # (p,) put on the log scale for the distance
    categorical_names: tuple[str, ...]
    categorical: IntArray  # (n, m) level codes, -1 unknown
    levels: tuple[tuple[str, ...], ...]  # (m,) level names by code
    left_out: tuple[str, ...] = field(default=())

    @property
    def attributes(self) -> tuple[str, ...]:
        return self.numeric_names + self.categorical_names

    @property
    def n(self) -> int:
        return int(self.organisation_id.size)

    def row_of(self, organisation_id: int) -> int:
        rows = np.flatnonzero(self.organisation_id == organisation_id)
        if rows.size == 0:
            raise UnknownOrganisation(f"organisation {organisation_id} is not in this population")
        return int(rows[0])

    def distance_numeric(self) -> FloatArray:
        """The numbers as the distance takes them: logged where :attr:`logged` says."""
        out = self.numeric.copy()
        for j, logged in enumerate(self.logged):
            if logged:
                with np.errstate(invalid="ignore", divide="ignore"):
                    out[:, j] = np.log(out[:, j])
        return out

    def values_of(self, row: int) -> dict[str, float | str | None]:
        """An organisation's attribute values as stored (numbers unlogged)."""
        values: dict[str, float | str | None] = {}
        for j, name in enumerate(self.numeric_names):
            value = float(self.numeric[row, j])
            values[name] = value if np.isfinite(value) else None
        for j, name in enumerate(self.categorical_names):
            code = int(self.categorical[row, j])
            values[name] = self.levels[j][code] if code >= 0 else None
        return values


def organisation_by_code(conn: Connection, code: str) -> tuple[int, int | None, str]:
    """The id, dataset and name of the organisation with this code."""
    row = conn.execute(
        select(Organisation.id, Organisation.dataset_id, Organisation.name).where(
            Organisation.code == code.strip()
        )
    ).one_or_none()
    if row is None:
        raise UnknownOrganisation(f"no organisation with code {code!r}")
    return int(row[0]), None if row[1] is None else int(row[1]), str(row[2])


def load_context(conn: Connection, dataset_id: int | None, as_of: dt.date | None = None) -> Context:
    """The organisations of ``dataset_id`` (those without a dataset when None) and their context on ``as_of``
    (default today): for each dated attribute, the value with the latest ``valid_from`` on or before it."""
    as_of = as_of or dt.date.today()
    where = "o.dataset_id IS NULL" if dataset_id is None else f"o.dataset_id = {int(dataset_id)}"
    organisations = read_frame(
        conn,
        f"SELECT o.id, o.code, o.name, o.type, o.region FROM organisations o WHERE {where} ORDER BY o.id",
        {"id": pl.Int64, "code": pl.String, "name": pl.String, "type": pl.String, "region": pl.String},
    )
    attributes = read_frame(
        conn,
        "SELECT a.organisation_id, a.name, a.valid_from, a.value_number, a.value_text "
        f"FROM organisation_attributes a JOIN organisations o ON o.id = a.organisation_id "
        f"WHERE {where} AND a.valid_from <= '{as_of.isoformat()}'",
        {
            "organisation_id": pl.Int64,
            "name": pl.String,
            "valid_from": pl.Date,
            "value_number": pl.Float64,
            "value_text": pl.String,
        },
    )
    current = attributes.sort("valid_from").group_by("organisation_id", "name").last()
    n = organisations.height
    ids = organisations["id"].to_numpy().astype(np.int64)
    numeric_names: list[str] = []
    numeric_columns: list[FloatArray] = []
    categorical_names: list[str] = []
    categorical_columns: list[IntArray] = []
    levels: list[tuple[str, ...]] = []
    left_out: list[str] = []
    enough = max(1, int(np.ceil(MIN_COVERAGE * n)))

    def add_categories(name: str, labels: pl.Series) -> None:
        known = labels.drop_nulls()
        if known.len() == 0:
            return  # nobody has it: nothing to say
        if known.len() < enough or known.n_unique() < 2:
            left_out.append(name)
            return
        names = tuple(sorted(known.unique().to_list()))
        lookup = {label: i for i, label in enumerate(names)}
        categorical_names.append(name)
        categorical_columns.append(
            np.array([-1 if v is None else lookup[v] for v in labels.to_list()], dtype=np.int64)
        )
        levels.append(names)

    for name in BUILT_IN:
        add_categories(name, organisations[name])
    for name in sorted(current["name"].unique().to_list()):
        rows = current.filter(pl.col("name") == name)
        aligned = organisations.select(pl.col("id").alias("organisation_id")).join(
            rows, on="organisation_id", how="left"
        )
        if aligned["value_number"].drop_nulls().len() >= aligned["value_text"].drop_nulls().len():
            values = aligned["value_number"].to_numpy().astype(np.float64)
            if np.isfinite(values).sum() < enough or np.nanstd(values) == 0:
                left_out.append(name)
                continue
            numeric_names.append(name)
            numeric_columns.append(values)
        else:
            if name in BUILT_IN:
                left_out.append(name)
                continue
            add_categories(name, aligned["value_text"])
    numeric = np.column_stack(numeric_columns) if numeric_columns else np.zeros((n, 0))
    _, logged = log_where_skewed(numeric) if numeric_columns else (None, np.zeros(0, dtype=bool))
    return Context(
        as_of=as_of,
        dataset_id=dataset_id,
        organisation_id=ids,
        code=tuple(organisations["code"].to_list()),
        name=tuple(organisations["name"].to_list()),
        numeric_names=tuple(numeric_names),
        numeric=numeric,
        logged=tuple(bool(v) for v in logged),
        categorical_names=tuple(categorical_names),
        categorical=(
            np.column_stack(categorical_columns) if categorical_columns else np.zeros((n, 0), dtype=np.int64)
        ),
        levels=tuple(levels),
        left_out=tuple(left_out),
    )


__all__ = ["Context", "UnknownOrganisation", "load_context", "organisation_by_code"]
