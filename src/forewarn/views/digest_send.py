"""Sending the digest once per period: the duplicate-send guard, and the SMTP connection.

``forewarn digest send`` and the worker's ``digest`` job (:mod:`forewarn.jobs.worker`, queued once per period by
the schedule ``FOREWARN_DIGEST_EVERY``) both run :func:`send_digest`. Each message is claimed before it is sent by
inserting its row in ``digest_sends``, unique by period, recipient and scope (the organisation, or the analysts'
summary); the insert is ``ON CONFLICT DO NOTHING`` and only the sender whose insert made a row sends. So a second
run, or a second worker on PostgreSQL composing the same digest at the same time, sends nothing already claimed.
A message the server refused is released (its row deleted) for a later run; a sender that dies between its claim
and its send leaves the claim, and that message is not sent for the period: never twice is the guarantee, once is
not (the jobs page and ``digest_sends`` show claims left ``sending``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine, delete, select, update

from forewarn.access.policy import pseudonym_key_of
from forewarn.access.principal import Channel
from forewarn.accounts import audit
from forewarn.settings import Settings
from forewarn.store.database import read_connection, write_connection
from forewarn.store.models_peers import DigestSend
from forewarn.views.digest import DigestMessage, compose_digest

SENDING = "sending"
SENT = "sent"


def digest_period(every: str, now: dt.datetime | None = None) -> str:
    """The period a digest sent now belongs to: the calendar month (``2026-12``) or ISO week (``2026-W49``), UTC."""
    now = now or dt.datetime.now(dt.UTC)
    if every == "weekly":
        year, week, _ = now.date().isocalendar()
        return f"{year}-W{week:02d}"
    return f"{now.year}-{now.month:02d}"


def scope_of(message: DigestMessage) -> str:
    return "summary" if message.organisation_id is None else f"organisation:{message.organisation_id}"


@dataclass
class DigestRun:
    period: str
    dry_run: bool
    sent: list[DigestMessage] = field(default_factory=list)
    already_sent: list[DigestMessage] = field(default_factory=list)  # claimed before, by this or another run

    def to_dict(self) -> dict[str, object]:
        return {"period": self.period, "sent": len(self.sent), "already_sent": len(self.already_sent)}


def _insert_ignoring_conflict(conn: Connection, values: dict[str, object]) -> bool:
    """Insert a claim; False when the period, recipient and scope were already claimed."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        inserted = conn.execute(
            pg_insert(DigestSend).values(**values).on_conflict_do_nothing().returning(DigestSend.id)
        )
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        inserted = conn.execute(
            sqlite_insert(DigestSend).values(**values).on_conflict_do_nothing().returning(DigestSend.id)
        )
    # RETURNING rather than rowcount: psycopg's rowcount for ON CONFLICT DO NOTHING read 0 for a new row.
    return inserted.first() is not None


def claim(
    engine: Engine,
    messages: Sequence[DigestMessage],
    period: str,
    sender: str,
    *,
    now: dt.datetime | None = None,
) -> tuple[list[DigestMessage], list[DigestMessage]]:
    """Claim each message for ``sender`` in one transaction: (claimed now, claimed before)."""
    now = now or dt.datetime.now(dt.UTC)
    mine: list[DigestMessage] = []
    before: list[DigestMessage] = []
    with write_connection(engine) as conn:
        for m in messages:
            values: dict[str, object] = {
                "period": period,
                "recipient": m.to,
                "scope": scope_of(m),
                "organisation_id": m.organisation_id,
                "subject": m.subject[:500],
                "status": SENDING,
                "claimed_by": sender[:200],
                "claimed_at": now,
            }
            (mine if _insert_ignoring_conflict(conn, values) else before).append(m)
    return mine, before


def already_claimed(conn: Connection, messages: Sequence[DigestMessage], period: str) -> set[tuple[str, str]]:
    """The (recipient, scope) of the messages claimed for the period (for a dry run, which claims nothing)."""
    rows = conn.execute(
        select(DigestSend.recipient, DigestSend.scope).where(DigestSend.period == period)
    ).all()
    return {(str(r), str(s)) for r, s in rows}


def send_messages(
    messages: Sequence[DigestMessage],
    settings: Settings,
    on_sent: Callable[[DigestMessage], None] | None = None,
) -> None:
    """Send every message through the configured server, one connection; any refusal stops the digest
    (``on_sent`` has been called for each message sent before it)."""
    import smtplib
    import ssl
    from email.message import EmailMessage

    host = settings.smtp_host
    if not host:
        raise ValueError("FOREWARN_SMTP_HOST is not set: there is no mail server to send through")
    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    if settings.smtp_tls == "ssl":
        smtp = smtplib.SMTP_SSL(host, settings.smtp_port, context=context, timeout=30)
    else:
        smtp = smtplib.SMTP(host, settings.smtp_port, timeout=30)
    with smtp:
        if settings.smtp_tls == "starttls":
            smtp.starttls(context=context)
        if settings.smtp_username:
            password = settings.smtp_password.get_secret_value() if settings.smtp_password else ""
            smtp.login(settings.smtp_username, password)
        for message in messages:
            mail = EmailMessage()
            mail["From"] = settings.smtp_from
            mail["To"] = message.to
            mail["Subject"] = message.subject
            mail.set_content(message.body)
            smtp.send_message(mail)
            if on_sent is not None:
                on_sent(message)


def send_digest(
    engine: Engine,
    settings: Settings,
    *,
    period: str,
    sender: str,
    dry_run: bool = False,
    actor: str = "forewarn digest",
    channel: Channel = "cli",
) -> DigestRun:
    """Compose the digest now and send each message not yet claimed for ``period``; with ``dry_run`` compose
    and report only. Raises the SMTP error after releasing the claims of messages not sent."""
    run = DigestRun(period=period, dry_run=dry_run)
    with read_connection(engine) as conn:
        messages = compose_digest(
            conn,
            pseudonym_key=pseudonym_key_of(settings.secret_key),
            min_group_size=settings.min_group_size,
            base_url=settings.public_url,
        )
        if dry_run:
            claimed = already_claimed(conn, messages, period)
    if dry_run:
        for m in messages:
            (run.already_sent if (m.to, scope_of(m)) in claimed else run.sent).append(m)
        return run
    if not settings.smtp_host:
        raise ValueError("FOREWARN_SMTP_HOST is not set: there is no mail server to send through")
    mine, run.already_sent = claim(engine, messages, period, sender)
    try:
        send_messages(mine, settings, on_sent=run.sent.append)
    finally:
        _settle(engine, period, mine, run.sent, actor, channel)
    return run


def _settle(
    engine: Engine,
    period: str,
    claimed: Sequence[DigestMessage],
    sent: Sequence[DigestMessage],
    actor: str,
    channel: Channel,
) -> None:
    """Mark what was sent (and put it in the audit log); release the claims of what was not."""
    now = dt.datetime.now(dt.UTC)
    sent_keys = {(m.to, scope_of(m)) for m in sent}
    with write_connection(engine) as conn:
        for m in claimed:
            where = (
                (DigestSend.period == period)
                & (DigestSend.recipient == m.to)
                & (DigestSend.scope == scope_of(m))
            )
            if (m.to, scope_of(m)) in sent_keys:
                conn.execute(update(DigestSend).where(where).values(status=SENT, sent_at=now))
                audit.record(
                    conn,
                    actor,
                    "send",
                    "digest",
                    m.to,
                    organisation_id=m.organisation_id,
                    channel=channel,
                    detail={"kind": m.kind, "subject": m.subject, "period": period},
                )
            else:
                conn.execute(delete(DigestSend).where(where))


__all__ = ["DigestRun", "claim", "digest_period", "scope_of", "send_digest", "send_messages"]
