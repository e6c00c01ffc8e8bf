"""Evidence a case pulls in beyond the scan's signals, inspections and context: the organisation's latest stored
risk score and its published soft measures, each dated.

The risk score is read from the store (``forewarn risk score`` wrote it: :func:`forewarn.risk.store.read_scores`,
each model's latest date; the lowest model version where two scored it then, as its page shows). Soft measures are
published by the survey service with its disclosure rules; reading them means analysing a closed wave, which the
web app keeps per wave, so the caller hands them in (:data:`SoftMeasuresOf`, built on what the organisation page
shows) and a case holds exactly the figures its page showed. A suppressed group stays suppressed: its evidence
row says so and carries no number.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import polars as pl
from sqlalchemy import Connection

from forewarn.risk.outcomes import Outcome
from forewarn.risk.store import read_scores


@dataclass(frozen=True)
class SoftMeasure:
    """One published organisation x dimension result of a closed survey wave (``mean`` None when suppressed)."""

    wave: str
    closed_on: dt.date | None
    dimension: str
    respondents: int | str
    mean: float | None
    ci_lower: float | None
    ci_upper: float | None
    suppressed: bool


SoftMeasuresOf = Callable[[Connection, str], Sequence[SoftMeasure]]
"""The organisation's (by code) soft measures in its latest closed wave, as its page shows them."""


def risk_evidence(conn: Connection, organisation_id: int) -> list[dict[str, object]]:
    """The organisation's latest stored risk score as one evidence row (none when it was never scored): the
    probability with its 90% interval, the outcome and horizon, and the reasons, dated by the score's as-of."""
    scores = read_scores(conn, organisation_id=organisation_id)
    if scores.is_empty():
        return []
    latest = scores.filter(pl.col("as_of") == pl.col("as_of").max()).sort("version").row(0, named=True)
    reasons = "; ".join(latest["reasons"] or [])
    return [
        {
            "kind": "risk",
            "label": f"Risk: {Outcome.parse(str(latest['outcome'])).label()} within {latest['horizon_months']} months",
            "value": f"{latest['probability']:.1%} (90% interval {latest['lower']:.1%} to {latest['upper']:.1%})"
            + (f": {reasons}" if reasons else ""),
            "as_of": latest["as_of"],
            "source": f"risk model {latest['version']}",
        }
    ]


def soft_evidence(measures: Sequence[SoftMeasure]) -> list[dict[str, object]]:
    """One evidence row per soft measure, dated by its wave's closing (suppressed groups named, no number)."""
    rows: list[dict[str, object]] = []
    for m in measures:
        if m.suppressed or m.mean is None:
            value = "suppressed (small group)"
        else:
            interval = (
                f" (95% CI {m.ci_lower:.3g} to {m.ci_upper:.3g})"
                if m.ci_lower is not None and m.ci_upper is not None
                else ""
            )
            value = f"{m.mean:.3g}{interval}, {m.respondents} respondents"
        rows.append(
            {
                "kind": "soft_measure",
                "label": m.dimension,
                "value": value,
                "as_of": m.closed_on,
                "source": f"staff survey {m.wave}",
            }
        )
    return rows


__all__ = ["SoftMeasure", "SoftMeasuresOf", "risk_evidence", "soft_evidence"]
