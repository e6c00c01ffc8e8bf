"""``forewarn digest send [--dry-run]``: who to learn from now, by email (docs/peers.md, settings in
docs/settings.md). Composing is :func:`forewarn.views.digest.compose_digest`; this command sends each message over
SMTP (``smtplib``: STARTTLS or TLS with the system's certificate check, or plain for a local relay), one connection
for the whole digest, and records each message sent in the audit log (who to, the subject).

Importing this module loads Typer only."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from forewarn.cli.output import emit_json, err, fail
from forewarn.cli.store import migrated_engine

if TYPE_CHECKING:
    from forewarn.settings import Settings
    from forewarn.views.digest import DigestMessage

digest_app = typer.Typer(help="The digest: who to learn from now, by email.", no_args_is_help=True)


def send_messages(messages: list[DigestMessage], settings: Settings) -> None:
    """Send every message through the configured server, one connection; any refusal stops the digest."""
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


@digest_app.command("send")
def digest_send_command(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Compose and show the messages; send nothing.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the messages as JSON on stdout.")] = False,
) -> None:
    """Email each drifting organisation's members who to learn from now, and the analysts a summary."""
    import smtplib

    from forewarn.access.policy import pseudonym_key_of
    from forewarn.accounts import audit
    from forewarn.settings import get_settings
    from forewarn.store.database import read_connection, write_connection
    from forewarn.views.digest import compose_digest

    settings = get_settings()
    if not dry_run and not settings.smtp_host:
        raise fail("FOREWARN_SMTP_HOST is not set: nothing sent (use --dry-run to see the digest)")
    engine = migrated_engine(settings)
    try:
        with read_connection(engine) as conn:
            messages = compose_digest(
                conn,
                pseudonym_key=pseudonym_key_of(settings.secret_key),
                min_group_size=settings.min_group_size,
                base_url=settings.public_url,
            )
        if not dry_run:
            try:
                send_messages(messages, settings)
            except (OSError, smtplib.SMTPException) as exc:
                raise fail(f"the mail server refused the digest: {exc}") from None
            with write_connection(engine) as conn:  # what was sent, to whom: in the audit log
                for m in messages:
                    audit.record(
                        conn,
                        "forewarn digest",
                        "send",
                        "digest",
                        m.to,
                        organisation_id=m.organisation_id,
                        channel="cli",
                        detail={"kind": m.kind, "subject": m.subject},
                    )
    finally:
        engine.dispose()
    if as_json:
        emit_json(
            {
                "sent": not dry_run,
                "messages": [
                    {"to": m.to, "kind": m.kind, "subject": m.subject, "body": m.body} for m in messages
                ],
            }
        )
    members = sum(1 for m in messages if m.kind == "member")
    verb = "would send" if dry_run else "sent"
    err.print(
        f"Digest: {verb} {members} member message(s) and {len(messages) - members} analyst summary(ies).",
        highlight=False,
        markup=False,
    )
    if dry_run and not as_json:
        for m in messages:
            err.print(f"\nTo: {m.to}\nSubject: {m.subject}\n\n{m.body}", highlight=False, markup=False)


__all__ = ["digest_app", "send_messages"]
