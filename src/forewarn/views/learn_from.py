""" "Who to learn from now" (issue 13, advice that arrives early): when an organisation's leading signals drift
(:mod:`forewarn.peers.drift`), the positive deviants among its neighbours on the indicators concerned and the
library's notes about them (:mod:`forewarn.peers.advice`), as this viewer may see them: the organisation page's
panel, its JSON and the digest share this read.

Neighbours are shown as on the neighbours page (:func:`forewarn.views.peers.neighbour_label`): by name where the
viewer may open them, under a granted peer's pseudonym, or as "Neighbour N" with no figures.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection

from forewarn.access.policy import Visibility
from forewarn.peers.advice import Advice
from forewarn.peers.drift import SoftWave
from forewarn.views.model import Model
from forewarn.views.peers import DeviantOut, PracticeNoteOut, deviant_out, practice_notes
from forewarn.views.soft import SoftMeasuresOut


class LearnOnIndicatorOut(Model):
    code: str
    name: str
    reasons: tuple[str, ...]
    neighbours_by: str
    deviants: tuple[DeviantOut, ...]
    practice: tuple[PracticeNoteOut, ...]
    neighbours_url: str


class LearnFromOut(Model):
    """Empty (``drifting`` false) when no leading signal drifts."""

    organisation_id: int
    drifting: bool
    reasons: tuple[str, ...]
    indicators: tuple[LearnOnIndicatorOut, ...]


def soft_waves(organisation_id: int, measures: Sequence[SoftMeasuresOut]) -> list[SoftWave]:
    """The published (not suppressed) soft-measure results of one organisation, newest wave last."""
    out = []
    for order, wave in enumerate(reversed(measures)):  # the view lists the newest wave first
        if wave.suppressed:
            continue
        for d in wave.dimensions:
            if d.suppressed or d.mean is None or d.ci_lower is None or d.ci_upper is None:
                continue
            out.append(SoftWave(organisation_id, d.name, order, d.mean, d.ci_lower, d.ci_upper))
    return out


def learn_from_view(
    conn: Connection, visibility: Visibility, organisation_id: int, advice: Advice | None
) -> LearnFromOut:
    """The panel for this viewer (who may open the organisation: the caller checks)."""
    if advice is None:
        return LearnFromOut(organisation_id=organisation_id, drifting=False, reasons=(), indicators=())
    unnamed: dict[int, str] = {}  # "Neighbour N" numbered across the whole panel
    indicators = []
    for item in advice.indicators:
        ids = [d.organisation_id for d in item.deviants]
        indicators.append(
            LearnOnIndicatorOut(
                code=item.code,
                name=item.name,
                reasons=item.reasons,
                neighbours_by=item.neighbours_by,
                deviants=tuple(deviant_out(d, visibility, unnamed) for d in item.deviants),
                practice=tuple(practice_notes(conn, visibility, ids, item.code)) if ids else (),
                neighbours_url=f"/organisations/{organisation_id}/neighbours?indicator={item.code}",
            )
        )
    return LearnFromOut(
        organisation_id=organisation_id,
        drifting=advice.drifting,
        reasons=advice.reasons,
        indicators=tuple(indicators),
    )


__all__ = ["LearnFromOut", "LearnOnIndicatorOut", "learn_from_view", "soft_waves"]
