"""Organisations by code and codes by organisation: for forms that name an organisation, and for services that
key results by code (surveys)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, select

from forewarn.store.models import Organisation


def organisation_id_by_code(conn: Connection, code: str) -> int | None:
    found = conn.execute(
        select(Organisation.id).where(Organisation.code == code.strip())
    ).scalar_one_or_none()
    return None if found is None else int(found)


def organisation_codes(conn: Connection, ids: Sequence[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = conn.execute(select(Organisation.id, Organisation.code).where(Organisation.id.in_(list(ids))))
    return {int(i): str(c) for i, c in rows}
