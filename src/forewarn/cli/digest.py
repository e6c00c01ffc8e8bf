"""``forewarn digest send [--dry-run] [--period P]``: who to learn from now, by email (docs/peers.md, settings in
docs/settings.md). Composing is :func:`forewarn.views.digest.compose_digest`; sending once per period
(:func:`forewarn.views.digest_send.send_digest`): each message is claimed in ``digest_sends`` before it is sent
over SMTP (one connection for the whole digest), so a message already sent for the period, by this command or by
the worker's scheduled ``digest`` job, is not sent again; each message sent is in the audit log.

Importing this module loads Typer only."""

from __future__ import annotations

from typing import Annotated

import typer

from forewarn.cli.output import emit_json, err, fail
from forewarn.cli.store import migrated_engine

digest_app = typer.Typer(help="The digest: who to learn from now, by email.", no_args_is_help=True)


@digest_app.command("send")
def digest_send_command(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Compose and show the messages; send nothing.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the messages as JSON on stdout.")] = False,
    period: Annotated[
        str | None,
        typer.Option(
            "--period",
            help="The period the digest is for (e.g. 2026-12 or 2026-W49); default: this month, or this week "
            "when FOREWARN_DIGEST_EVERY=weekly. A message already sent for it is not sent again.",
        ),
    ] = None,
) -> None:
    """Email each drifting organisation's members who to learn from now, and the analysts a summary."""
    import re
    import smtplib

    from forewarn.jobs.worker import worker_name
    from forewarn.settings import get_settings
    from forewarn.views.digest_send import digest_period, send_digest

    settings = get_settings()
    if not dry_run and not settings.smtp_host:
        raise fail("FOREWARN_SMTP_HOST is not set: nothing sent (use --dry-run to see the digest)")
    if period is not None and not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2]|W(0[1-9]|[1-4]\d|5[0-3]))", period):
        raise fail(f"--period: expected a month (2026-12) or an ISO week (2026-W49), not {period!r}")
    period = period or digest_period(settings.digest_every)
    engine = migrated_engine(settings)
    try:
        run = send_digest(engine, settings, period=period, sender=f"cli {worker_name()}", dry_run=dry_run)
    except (OSError, smtplib.SMTPException) as exc:
        raise fail(f"the mail server refused the digest: {exc}") from None
    finally:
        engine.dispose()
    messages = run.sent
    if as_json:
        emit_json(
            {
                "sent": not dry_run,
                "period": period,
                "messages": [
                    {"to": m.to, "kind": m.kind, "subject": m.subject, "body": m.body} for m in messages
                ],
                "already_sent": [
                    {"to": m.to, "kind": m.kind, "subject": m.subject} for m in run.already_sent
                ],
            }
        )
    members = sum(1 for m in messages if m.kind == "member")
    verb = "would send" if dry_run else "sent"
    err.print(
        f"Digest for {period}: {verb} {members} member message(s) and {len(messages) - members} analyst "
        f"summary(ies); {len(run.already_sent)} already sent for the period.",
        highlight=False,
        markup=False,
    )
    if dry_run and not as_json:
        for m in messages:
            err.print(f"\nTo: {m.to}\nSubject: {m.subject}\n\n{m.body}", highlight=False, markup=False)


__all__ = ["digest_app"]
