"""An organisation's statistical neighbours as a viewer may see them: the page "statistical neighbours and who to
learn from" and its API share this read (:func:`neighbours_view`). With an indicator, it adds who to learn from:
the positive deviants in the organisation's group (:mod:`forewarn.peers.deviants`) and the library's notes linked
to them and the indicator.

A neighbour the viewer may open (an analyst's, or the member's own organisation) is named, with its context and
level. One the viewer may see anonymised (a peer the regulator granted) is shown under its pseudonym, with its level.
Any other is "Neighbour N" (numbered in order of first appearance across the two lists): its distance and
stability only, no name, code, context or level (as a deviant, only whether it is one by level or by improvement),
so a member learns that comparable organisations exist, and that one does better, without learning who it is.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, select

from forewarn.access.policy import Visibility
from forewarn.library.documents import documents_about, get_document
from forewarn.library.search import EVERYTHING, Reader
from forewarn.peers.deviants import Deviant, find_deviants
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
    set_stability: float | None = None
    period_jaccard: float | None = None


class DeviantOut(Model):
    """A positive deviant among the neighbours; its figures only where the viewer may see the organisation."""

    label: str
    url: str | None
    by_level: bool
    by_improvement: bool
    level: float | None
    lower: float | None
    upper: float | None
    limit_lower: float | None
    limit_upper: float | None
    shift_since: dt.date | None
    shift_points: int | None


class PracticeNoteOut(Model):
    title: str
    url: str


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
    deviants: tuple[DeviantOut, ...] = ()
    deviants_by: str | None = None
    deviants_notes: tuple[str, ...] = ()
    group_level: float | None = None
    practice: tuple[PracticeNoteOut, ...] = ()
    profile_overlap: int | None = None


LIST_TITLES = {
    "fixed": "CIPFA-style (fixed weights)",
    "outcome": "Outcome-specific ({indicator})",
    "profile": "Indicator profile (earliest periods)",
}


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
    unnamed: dict[int, str] = {}
    shown = _shown(report, visibility, indicator_choices(conn, organisation_id), unnamed)
    if indicator is None:
        return shown
    return _with_deviants(conn, shown, visibility, code, indicator, k, unnamed)


def neighbour_label(oid: int, name: str, visibility: Visibility, unnamed: dict[int, str]) -> tuple[str, bool]:
    """How this viewer sees an organisation among neighbours: its name (and True: it may be opened), a granted
    peer's pseudonym, or "Neighbour N", numbered in ``unnamed`` in order of first appearance."""
    if visibility.may_open(oid):
        return name, True
    if oid in visibility.peers:
        return visibility.peers[oid], False
    return unnamed.setdefault(oid, f"Neighbour {len(unnamed) + 1}"), False


def deviant_out(d: Deviant, visibility: Visibility, unnamed: dict[int, str]) -> DeviantOut:
    """A positive deviant as this viewer may see it: figures only where it may see the organisation."""
    label, named = neighbour_label(d.organisation_id, d.name, visibility, unnamed)
    figures = visibility.may_see(d.organisation_id)
    return DeviantOut(
        label=label,
        url=f"/organisations/{d.organisation_id}" if named else None,
        by_level=d.by_level,
        by_improvement=d.by_improvement,
        level=d.level if figures else None,
        lower=d.lower if figures else None,
        upper=d.upper if figures else None,
        limit_lower=d.limit_lower if figures else None,
        limit_upper=d.limit_upper if figures else None,
        shift_since=d.shift_since if figures else None,
        shift_points=d.shift_points if figures else None,
    )


def practice_notes(
    conn: Connection, visibility: Visibility, organisation_ids: list[int], indicator: str
) -> list[PracticeNoteOut]:
    """The library's notes linked to these organisations and the indicator that this viewer may read."""
    reader = EVERYTHING if visibility.all_organisations else Reader(False, visibility.own)
    practice = []
    for document_id in documents_about(conn, organisation_ids=organisation_ids, indicator=indicator):
        doc = get_document(conn, document_id)
        if doc is not None and (
            reader.everything or doc.audience == "everyone" or doc.organisation_id == visibility.own
        ):
            practice.append(PracticeNoteOut(title=doc.title, url=f"/library/{doc.id}"))
    return practice


def _with_deviants(
    conn: Connection,
    shown: NeighboursOut,
    visibility: Visibility,
    code: str,
    indicator: str,
    k: int,
    unnamed: dict[int, str],
) -> NeighboursOut:
    """Who to learn from: the positive deviants in the organisation's group on the indicator, and the library's
    notes linked to them and to the indicator that this viewer may read."""
    report = find_deviants(conn, indicator, organisation=code, k=k)
    group = report.groups[0] if report.groups else None
    deviants = [deviant_out(d, visibility, unnamed) for d in (group.deviants if group else [])]
    practice: list[PracticeNoteOut] = []
    if group and group.deviants:
        practice = practice_notes(conn, visibility, [d.organisation_id for d in group.deviants], indicator)
    return shown.model_copy(
        update={
            "deviants": tuple(deviants),
            "deviants_by": report.neighbours_by,
            "deviants_notes": tuple(report.notes),
            "group_level": group.target if group else None,
            "practice": tuple(practice),
        }
    )


def _shown(
    report: NeighboursReport, visibility: Visibility, choices: list[IndicatorChoice], unnamed: dict[int, str]
) -> NeighboursOut:
    lists = []
    for listing in report.lists:
        shown = []
        for n in listing.neighbours:
            oid = n.organisation_id
            label, named = neighbour_label(oid, n.name, visibility, unnamed)
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
                title=LIST_TITLES[listing.method].format(indicator=report.indicator),
                weights=listing.weights,
                r2_cv=listing.r2_cv,
                note=listing.note,
                neighbours=shown,
                set_stability=listing.set_stability,
                period_jaccard=listing.period_jaccard,
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
        profile_overlap=report.profile_overlap,
        notes=list(report.notes),
        indicators=choices,
    )


__all__ = [
    "DeviantOut",
    "NeighbourListOut",
    "NeighbourOut",
    "NeighboursOut",
    "PracticeNoteOut",
    "deviant_out",
    "neighbour_label",
    "neighbours_view",
    "practice_notes",
]
