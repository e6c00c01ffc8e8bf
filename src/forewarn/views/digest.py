"""The digest (``forewarn digest send``): who to learn from now, by email. Each organisation member whose
organisation's leading signals drift gets its drifts and the positive deviants among its neighbours with their
practice notes, exactly as the organisation page's panel shows them to that account
(:func:`forewarn.views.learn_from.learn_from_view` with the account's visibility: a neighbour it may not open is a
granted peer's pseudonym or "Neighbour N", with no figures); each of the regulator's analysts gets a summary of
every drifting organisation. Accounts that are inactive, members without an organisation and members whose
organisation does not drift get nothing. Soft measures are read as the pages read them (groups under the minimum
size suppressed before they get here).

Composing is a read; sending is the command's (:mod:`forewarn.cli.digest`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace

from sqlalchemy import Connection, Engine, select

from forewarn.access.policy import ALL_ORGANISATIONS, Visibility, visibility
from forewarn.access.principal import Principal
from forewarn.peers.advice import Advice, early_advice
from forewarn.peers.drift import SoftWave
from forewarn.store.models import Organisation
from forewarn.store.models_web import Role, User
from forewarn.surveys.result_types import WaveResults
from forewarn.views.learn_from import LearnFromOut, learn_from_view, soft_waves
from forewarn.views.soft import closed_waves, computed_results, soft_measures


@dataclass(frozen=True)
class DigestMessage:
    to: str
    subject: str
    body: str
    kind: str  # "member" or "analyst"
    organisation_id: int | None


def _soft_for_all(conn: Connection, min_group_size: int) -> list[SoftWave]:
    """Every organisation's published soft measures in its latest closed waves, each wave's results computed
    once."""
    kept: dict[int, WaveResults] = {}

    def results_of(engine: Engine, wave_id: int, floor: int) -> WaveResults:
        if wave_id not in kept:
            kept[wave_id] = computed_results(engine, wave_id, floor)
        return kept[wave_id]

    codes = sorted({code for wave in closed_waves(conn, min_group_size) for code in wave.organisations})
    ids = dict(
        conn.execute(select(Organisation.code, Organisation.id).where(Organisation.code.in_(codes))).all()
    )
    out: list[SoftWave] = []
    for code in codes:
        if code in ids:
            measures = soft_measures(conn, code, min_group_size=min_group_size, results_of=results_of)
            out.extend(soft_waves(int(ids[code]), measures))
    return out


def _lines(panel: LearnFromOut, base_url: str) -> list[str]:
    lines = [f"- {r[:1].upper()}{r[1:]}" for r in panel.reasons]
    for item in panel.indicators:
        lines.append("")
        lines.append(f"{item.name}")
        lines.extend(f"  - {r[:1].upper()}{r[1:]}" for r in item.reasons)
        if not item.reasons:
            lines.append("  - One of the indicators on which it sits furthest on the side of concern.")
        if item.deviants:
            lines.append("  Neighbours doing better than noise allows (by name, not ranked):")
            for d in item.deviants:
                why = " and ".join(
                    w
                    for w, on in (
                        ("level beyond the group's limits", d.by_level),
                        ("improving", d.by_improvement),
                    )
                    if on
                )
                lines.append(f"    * {d.label}: {why}")
        else:
            lines.append("  No neighbour stands out from noise on it yet.")
        for note in item.practice:
            lines.append(f"    Practice note: {note.title} <{base_url}{note.url}>")
        lines.append(f"  In full: {base_url}{item.neighbours_url}")
    return lines


def compose_digest(
    conn: Connection, *, pseudonym_key: bytes, min_group_size: int, base_url: str
) -> list[DigestMessage]:
    """Every message of the digest, composed now (nothing is sent)."""
    base_url = base_url.rstrip("/")
    advice = early_advice(conn, soft=_soft_for_all(conn, min_group_size))
    names = dict(conn.execute(select(Organisation.id, Organisation.name)).all())
    users = conn.execute(
        select(User.id, User.email, User.display_name, User.role, User.organisation_id)
        .where(User.is_active.is_(True))
        .order_by(User.email)
    ).all()
    messages: list[DigestMessage] = []
    summary: DigestMessage | None = None
    for user_id, email, display, role, organisation_id in users:
        role = Role(role)
        if role == Role.MEMBER and organisation_id is not None and organisation_id in advice:
            principal = Principal(int(user_id), str(email), str(display), role, int(organisation_id), "cli")
            seen = visibility(conn, principal, pseudonym_key)
            messages.append(
                _member_message(conn, seen, str(email), advice[int(organisation_id)], names, base_url)
            )
        elif role == Role.ANALYST and advice:
            summary = summary or _analyst_message(conn, str(email), advice, names, base_url)
            messages.append(replace(summary, to=str(email)))
    return messages


def _member_message(
    conn: Connection, seen: Visibility, email: str, advice: Advice, names: dict[int, str], base_url: str
) -> DigestMessage:
    oid = advice.organisation_id
    panel = learn_from_view(conn, seen, oid, advice)
    body = [
        f"{names[oid]}: a leading signal is drifting towards concern. Before anything fails, these are the "
        "neighbours to learn from.",
        "",
        *_lines(panel, base_url),
        "",
        f"The organisation's page: {base_url}/organisations/{oid}",
    ]
    return DigestMessage(
        email, f"Forewarn: who to learn from now ({names[oid]})", "\n".join(body), "member", oid
    )


def _analyst_message(
    conn: Connection, email: str, advice: dict[int, Advice], names: dict[int, str], base_url: str
) -> DigestMessage:
    reasons: Counter[str] = Counter()
    for a in advice.values():
        reasons.update(r.split(" (")[0] for i in a.indicators for r in i.reasons)
        reasons.update(r.split(" to ")[0].split(":")[0] for r in a.reasons)
    with_deviants = sum(1 for a in advice.values() if any(i.deviants for i in a.indicators))
    body = [
        f"Organisations with a leading signal drifting towards concern: {len(advice)}; with positive deviants "
        f"among their neighbours on an indicator concerned: {with_deviants}.",
        "",
        "Drifts by kind (series or organisations):",
        *(f"- {r[:1].upper()}{r[1:]}: {n}" for r, n in sorted(reasons.items())),
    ]
    for oid in sorted(advice, key=lambda o: names.get(o, "").casefold()):
        panel = learn_from_view(conn, ALL_ORGANISATIONS, oid, advice[oid])
        body += ["", f"{names.get(oid, oid)} <{base_url}/organisations/{oid}>", *_lines(panel, base_url)]
    subject = f"Forewarn digest: organisations drifting: {len(advice)}"
    return DigestMessage(email, subject, "\n".join(body), "analyst", None)


__all__ = ["DigestMessage", "compose_digest"]
