"""Publishing an experiment's result to the practice library (issue 15): a document of kind ``experiment`` with the
result, its padlock rating and why, linked to the experiment's organisations and its outcome indicator, written
through the library's own service (:func:`forewarn.library.documents.create_document`) in the caller's transaction.

The document's text names no organisation: the library shows the linked organisations to each reader as their
visibility allows (a member sees a peer under its pseudonym, others as "another organisation"). It carries the
words a search would use (the title, hypothesis, practice, indicator, design, method and reading), so the library's
full-text search finds it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, select, update

from forewarn.experiments.registry import ExperimentError, ExperimentInfo, get_experiment, record_event
from forewarn.library.documents import DocumentInput, DocumentRejected, create_document
from forewarn.store.models import Indicator
from forewarn.store.models_experiments import ExperimentResult

__all__ = ["publish_result", "result_text"]


def _number(value: object) -> str:
    return f"{value:.3f}" if isinstance(value, int | float) else "–"


def result_text(info: ExperimentInfo, result: dict[str, Any], indicator_name: str) -> str:
    """The document's text (Markdown): what was tested, how, what was found and how secure it is."""
    r = result["result"]
    interval = (
        f"(95% CI {_number(r.get('ci_low'))} to {_number(r.get('ci_high'))})"
        if isinstance(r.get("ci_low"), int | float)
        else f"(placebo p = {_number(r.get('p_value'))})"
    )
    arms: dict[str, int] = {}
    for arm in info.units.values():
        arms[arm or "not allocated"] = arms.get(arm or "not allocated", 0) + 1
    lines = [
        f"**Hypothesis.** {info.hypothesis}",
        "",
        f"**Practice adapted.** {info.adapted_practice or 'not stated'}",
        "",
        f"**Outcome.** {indicator_name} ({info.outcome_indicator}); the minimum effect of interest was "
        f"{info.minimum_effect} standard deviations.",
        "",
        f"**Design.** {info.design.replace('_', ' ')}, {len(info.units)} {info.unit_kind}s "
        f"({', '.join(f'{n} {arm}' for arm, n in sorted(arms.items()))}), planned "
        f"{info.planned_start.isoformat()} to {info.planned_end.isoformat()}.",
        "",
        f"**Analysis.** {result['method'].replace('_', ' ')}"
        + (" (pre-registered)" if result["pre_registered"] else " (not the pre-registered analysis)")
        + ".",
        "",
        f"**Result.** {_number(r.get('estimate'))} {interval}: {r.get('reading', 'no reading')}.",
        "",
        f"**Evidence rating.** {result['padlocks']} of 5 padlocks: {'; '.join(result['rating'].get('reasons', []))}.",
        "",
        f"The experiment's registration, audit trail and every analysis: /experiments/{info.code}",
    ]
    return "\n".join(lines)


def publish_result(
    conn: Connection,
    ref: int | str,
    actor: str,
    *,
    result_id: int | None = None,
    audience: str = "everyone",
) -> int:
    """Publish a result (the latest when ``result_id`` is None) as a library document; its id. A result is
    published once; the document is linked to the result and the publication recorded in the audit trail."""
    info = get_experiment(conn, ref)
    if not info.results:
        raise ExperimentError("analyse the experiment before publishing its result")
    chosen = (
        info.results[-1]
        if result_id is None
        else next((r for r in info.results if r["id"] == result_id), None)
    )
    if chosen is None:
        raise ExperimentError(f"the experiment has no result {result_id}", {"result_id": "no such result"})
    if chosen["library_document_id"] is not None:
        raise ExperimentError(
            f"this result is published already (library document {chosen['library_document_id']})",
            {"publish": "this result is published already"},
        )
    indicator_name = conn.execute(
        select(Indicator.name).where(Indicator.code == info.outcome_indicator)
    ).scalar_one()
    reading = chosen["result"].get("reading") or "no reading"
    data = DocumentInput(
        title=f"Experiment result: {info.title}"[:300],
        body=result_text(info, chosen, str(indicator_name)),
        kind="experiment",
        summary=f"{reading.capitalize()}; {chosen['padlocks']} of 5 padlocks ({chosen['method'].replace('_', ' ')}).",
        authors=(info.owner,),
        date=dt.date.today(),
        organisation=info.owner_organisation,
        organisations=tuple(sorted(info.units)),
        indicators=(info.outcome_indicator,),
        audience=audience,
    )
    try:
        document_id = create_document(conn, data, actor, source=f"experiment {info.code}")
    except DocumentRejected as exc:
        raise ExperimentError(
            str(exc), {"audience" if p.field == "audience" else "publish": p.message for p in exc.problems}
        ) from None
    conn.execute(
        update(ExperimentResult)
        .where(ExperimentResult.id == chosen["id"])
        .values(library_document_id=document_id)
    )
    record_event(
        conn, info.id, actor, "published", new={"result": chosen["id"], "library_document": document_id}
    )
    return document_id
