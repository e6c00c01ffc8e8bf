"""An organisation's statistical neighbours as a viewer may see them: the page "statistical neighbours and who to
learn from" and its API share this read (:func:`neighbours_view`).

A neighbour the viewer may open (an analyst's, or the member's own organisation) is named, with its context and
level. One the viewer may see anonymised (a peer the regulator granted) is shown under its pseudonym, with its level.
Any other is "Neighbour N" (numbered in order of first appearance across the two lists): its distance and
stability only, no name, code, context or level, so a member learns that comparable organisations exist without
learning who they are.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, select

from forewarn.access.policy import Visibility
from forewarn.peers.neighbours import NeighboursReport, find_neighbours
from forewarn.store.models import Indicator, Observation, Organisation
from forewarn.views.model import Model

PAGE_REPLICATES = 100
"""Bootstrap replicates the page computes (the command line's default is 200)."""


class NeighbourOut(Model):
    label: str
    organisation_id: int | None
    code: str | None
    url: str | None
    distance: float
    stability: float | None
    level: float | None
    context: dict[str, float | str | None] | None


class NeighbourListOut(Model):
    method: str
    title: str
    weights: dict[str, float]
    r2_cv: float | None
    note: str | None
    neighbours: list[NeighbourOut]


class IndicatorChoice(Model):
    code: str
    name: str


class NeighboursOut(Model):
    organisation_id: int
    code: str
    name: str
    as_of: dt.date
    k: int
    replicates: int
    indicator: str | None
    level: float | None
    attributes: list[str]
    left_out: list[str]
    context: dict[str, float | str | None]
    lists: list[NeighbourListOut]
    overlap: int | None
    notes: list[str]
    indicators: list[IndicatorChoice]


def organisation_code(conn: Connection, organisation_id: int) -> str | None:
    found = conn.execute(
        select(Organisation.code).where(Organisation.id == organisation_id)
    ).scalar_one_or_none()
    return None if found is None else str(found)


def indicator_choices(conn: Connection, organisation_id: int) -> list[IndicatorChoice]:
    """The indicators this organisation has data for."""
    ids = select(Observation.indicator_id).where(Observation.organisation_id == organisation_id).distinct()
    rows = conn.execute(
        select(Indicator.code, Indicator.name).where(Indicator.id.in_(ids)).order_by(Indicator.name)
    )
    return [IndicatorChoice(code=str(c), name=str(n)) for c, n in rows]


def neighbours_view(
    conn: Connection,
    visibility: Visibility,
    organisation_id: int,
    *,
    indicator: str | None = None,
    k: int = 12,
    replicates: int = PAGE_REPLICATES,
) -> NeighboursOut | None:
    """The organisation's neighbours for this viewer; None when it does not exist or may not be opened."""
    if not visibility.may_open(organisation_id):
        return None
    code = organisation_code(conn, organisation_id)
    if code is None:
        return None
    report = find_neighbours(conn, code, indicator=indicator, k=k, replicates=replicates)
    return _shown(report, visibility, indicator_choices(conn, organisation_id))


def _shown(report: NeighboursReport, visibility: Visibility, choices: list[IndicatorChoice]) -> NeighboursOut:
    unnamed: dict[int, str] = {}
    lists = []
    for listing in report.lists:
        shown = []
        for n in listing.neighbours:
            oid = n.organisation_id
            if visibility.may_open(oid):
                label, named = n.name, True
            elif oid in visibility.peers:
                label, named = visibility.peers[oid], False
            else:
                label = unnamed.setdefault(oid, f"Neighbour {len(unnamed) + 1}")
                named = False
            shown.append(
                NeighbourOut(
                    label=label,
                    organisation_id=oid if named else None,
                    code=n.code if named else None,
                    url=f"/organisations/{oid}" if named else None,
                    distance=round(n.distance, 6),
                    stability=round(n.stability, 4) if n.stability == n.stability else None,
                    level=n.level if visibility.may_see(oid) else None,
                    context=n.context if named else None,
                )
            )
        lists.append(
            NeighbourListOut(
                method=listing.method,
                title="CIPFA-style (fixed weights)"
                if listing.method == "fixed"
                else f"Outcome-specific ({report.indicator})",
                weights=listing.weights,
                r2_cv=listing.r2_cv,
                note=listing.note,
                neighbours=shown,
            )
        )
    return NeighboursOut(
        organisation_id=report.organisation_id,
        code=report.code,
        name=report.name,
        as_of=report.as_of,
        k=report.k,
        replicates=report.replicates,
        indicator=report.indicator,
        level=report.level,
        attributes=list(report.attributes),
        left_out=list(report.left_out),
        context=report.context,
        lists=lists,
        overlap=report.overlap,
        notes=list(report.notes),
        indicators=choices,
    )


__all__ = ["NeighbourListOut", "NeighbourOut", "NeighboursOut", "neighbours_view"]
