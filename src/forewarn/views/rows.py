"""Rows of the store as plain fields, ready for a model to validate by name."""

from __future__ import annotations

import enum
from typing import Any

from sqlalchemy import Row, RowMapping

AnyRow = Row[*tuple[Any, ...]]


def fields(row: AnyRow | RowMapping, **more: object) -> dict[str, object]:
    """A row's labelled columns by name, enum members as their values (a model's ``str`` field would keep the
    member), plus ``more``."""
    mapping = row if isinstance(row, RowMapping) else row._mapping
    plain: dict[str, object] = {
        str(k): v.value if isinstance(v, enum.Enum) else v for k, v in mapping.items()
    }
    plain.update(more)
    return plain
