"""``forewarn case``: case files and the interventions recorded from them (docs/interventions.md).

Importing this module loads Typer only; each command imports the store and the cases service when it runs. Changes
are audited with the command line as the channel and ``FOREWARN_IMPORTED_BY`` (else the operating-system user) as
the actor.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import getpass
from typing import TYPE_CHECKING, Annotated, Any

import typer

from forewarn.cli.output import emit_json, err, fail, out
from forewarn.cli.store import migrated_engine

if TYPE_CHECKING:
    from forewarn.cases.evidence import SoftMeasuresOf

case_app = typer.Typer(help="Case files: why of concern, support, milestones, exit criteria, interventions.")

JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]


def _date(text: str | None, option: str) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date (YYYY-MM-DD)", param_hint=option) from None


def _actor() -> str:
    from forewarn.settings import get_settings

    return get_settings().imported_by or getpass.getuser()


def _run(change: Any, as_json: bool, message: str) -> Any:
    """Run ``change(conn)`` in one transaction; a CaseError or unknown case exits 1 with its message."""
    from forewarn.cases.service import CaseError, CaseNotFound

    engine = migrated_engine()
    try:
        with engine.begin() as conn:
            result = change(conn)
    except (CaseError, CaseNotFound) as exc:
        raise fail(str(exc)) from None
    finally:
        engine.dispose()
    if as_json:
        emit_json({"ok": True, "result": result})
    else:
        err.print(message.format(result=result), highlight=False)
    return result


@case_app.command("open")
def open_command(
    organisation: Annotated[str, typer.Argument(help="Organisation code.")],
    support: Annotated[str, typer.Option("--support", help="development, enforcement or watch.")],
    owner: Annotated[str, typer.Option("--owner", help="Who owns the case.")],
    concern: Annotated[str, typer.Option("--concern", help="Why the organisation is of concern.")],
    withdrawal: Annotated[
        str | None, typer.Option("--withdrawal", help="Planned withdrawal (YYYY-MM-DD).")
    ] = None,
    follow_up_months: Annotated[int, typer.Option("--follow-up-months", help="Months followed after.")] = 24,
    as_json: JsonOption = False,
) -> None:
    """Open a case and pull in its evidence (signals, inspections, context), dated."""
    from forewarn.cases.service import open_case

    _run(
        lambda conn: open_case(
            conn,
            organisation,
            support=support,
            owner=owner,
            concern=concern,
            actor=_actor(),
            withdrawal_date=_date(withdrawal, "--withdrawal"),
            follow_up_months=follow_up_months,
            soft_measures_of=_soft_measures_of(),
        ),
        as_json,
        "opened case {result}",
    )


def _soft_measures_of() -> SoftMeasuresOf:
    """The soft measures a case pulls in, as the organisation page shows them (the configured group floor)."""
    from forewarn.settings import get_settings
    from forewarn.views.soft import case_soft_measures

    return case_soft_measures(min_group_size=get_settings().min_group_size)


@case_app.command("list")
def list_command(
    status: Annotated[str | None, typer.Option("--status", help="open or closed.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Every case, newest first."""
    from forewarn.cases.reading import list_cases

    engine = migrated_engine()
    try:
        with engine.connect() as conn:
            cases = list_cases(conn, status=status)
    finally:
        engine.dispose()
    if as_json:
        emit_json([dataclasses.asdict(c) for c in cases])
        return
    for c in cases:
        out.print(
            f"{c.id}\t{c.organisation_code}\t{c.status}\t{c.support}\t{c.owner}\t"
            f"opened {c.opened_at:%Y-%m-%d}\twithdrawal {c.withdrawal_date or '-'}",
            highlight=False,
        )


@case_app.command("show")
def show_command(
    case_id: Annotated[int, typer.Argument(help="Case number.")],
    outcome: Annotated[
        bool, typer.Option("--outcome", help="Also measure the interventions' effect and follow-up.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """A case file: evidence, milestones, exit criteria (evaluated now), notes, interventions."""
    from forewarn.cases.outcomes import case_outcome
    from forewarn.cases.reading import get_case
    from forewarn.cases.records import CaseNotFound

    engine = migrated_engine()
    try:
        with engine.connect() as conn:
            case = get_case(conn, case_id)
            result = case_outcome(conn, case_id) if outcome else None
    except CaseNotFound as exc:
        raise fail(str(exc)) from None
    finally:
        engine.dispose()
    if as_json:
        payload: dict[str, Any] = {"case": dataclasses.asdict(case)}
        if result is not None:
            payload["outcome"] = dataclasses.asdict(result)
        emit_json(payload)
        return
    out.print(
        f"Case {case.id}: {case.organisation_name} ({case.organisation_code}), {case.status}, support "
        f"{case.support}, owner {case.owner}\nConcern: {case.concern}",
        highlight=False,
    )
    for e in case.evidence:
        out.print(f"  evidence [{e['kind']}] {e['label']}: {e['value']} (as of {e['as_of']}, {e['source']})")
    for m in case.milestones:
        out.print(f"  milestone {m['id']}: {m['title']} due {m['due']} done {m['done_on'] or '-'}")
    for x in case.exit_criteria:
        met = "not enough data" if x.met is None else ("met" if x.met else "not met")
        value = "-" if x.value is None else f"{x.value:.4g}"
        out.print(f"  exit: {x.indicator_code} {x.text}: {value} ({met})")
    for i in case.interventions:
        out.print(f"  intervention {i['id']}: {i['support']} {i['start_date']} to {i['end_date'] or 'now'}")
    for n in case.notes:
        out.print(f"  {n['kind']} {n['at']:%Y-%m-%d} {n['author']}: {n['body']}")
    if result is not None:
        for effect in result.effects:
            if effect.reason:
                out.print(f"  effect of {effect.key}: not estimated ({effect.reason})")
            else:
                out.print(
                    f"  effect of {effect.key}: naive {effect.naive:+.3f}, comparison group "
                    f"{effect.comparison_change:+.3f}, difference in differences {effect.did:+.3f} "
                    f"({effect.ci_low:+.3f} to {effect.ci_high:+.3f}, {effect.n_comparison} comparisons)"
                )
        for f in result.follow_ups:
            out.print(
                f"  follow-up after {f.withdrawal}: {f.status} ({f.months_followed} months"
                + (f", alarm {f.alarm_month} by {f.signal}" if f.alarm_month else "")
                + ")"
            )


@case_app.command("note")
def note_command(
    case_id: Annotated[int, typer.Argument()],
    body: Annotated[str, typer.Argument(help="The note.")],
    progress: Annotated[
        bool, typer.Option("--progress", help="A progress note from the organisation.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Add a note."""
    from forewarn.cases.service import add_note

    _run(
        lambda conn: add_note(
            conn, case_id, body=body, kind="progress" if progress else "note", actor=_actor()
        ),
        as_json,
        "note {result} added",
    )


@case_app.command("evidence")
def evidence_command(
    case_id: Annotated[int, typer.Argument()],
    label: Annotated[str | None, typer.Option("--label", help="What it is (e.g. 'risk score').")] = None,
    value: Annotated[str | None, typer.Option("--value")] = None,
    as_of: Annotated[str | None, typer.Option("--as-of", help="The date it refers to (YYYY-MM-DD).")] = None,
    source: Annotated[str | None, typer.Option("--source", help="Where it comes from.")] = None,
    kind: Annotated[str, typer.Option("--kind", help="risk, soft_measure, note, ...")] = "note",
    as_json: JsonOption = False,
) -> None:
    """Pull the store's evidence in again (no --label), or add a piece of evidence by hand."""
    from forewarn.cases.service import add_evidence, pull_evidence

    if label is None:
        _run(
            lambda conn: pull_evidence(conn, case_id, actor=_actor(), soft_measures_of=_soft_measures_of()),
            as_json,
            "{result} pieces pulled in",
        )
        return
    _run(
        lambda conn: add_evidence(
            conn,
            case_id,
            kind=kind,
            label=label,
            value=value,
            as_of=_date(as_of, "--as-of"),
            source=source or "analyst",
            actor=_actor(),
        ),
        as_json,
        "evidence added",
    )


@case_app.command("milestone")
def milestone_command(
    case_id: Annotated[int, typer.Argument()],
    title: Annotated[str, typer.Argument()],
    due: Annotated[str | None, typer.Option("--due", help="YYYY-MM-DD")] = None,
    as_json: JsonOption = False,
) -> None:
    """Add a milestone."""
    from forewarn.cases.service import add_milestone

    _run(
        lambda conn: add_milestone(conn, case_id, title=title, due=_date(due, "--due"), actor=_actor()),
        as_json,
        "milestone {result} added",
    )


@case_app.command("exit")
def exit_command(
    case_id: Annotated[int, typer.Argument()],
    indicator: Annotated[str, typer.Argument(help="Indicator code.")],
    at_least: Annotated[float | None, typer.Option("--at-least")] = None,
    at_most: Annotated[float | None, typer.Option("--at-most")] = None,
    months: Annotated[int, typer.Option("--months", help="Over the mean of the latest N values.")] = 3,
    as_json: JsonOption = False,
) -> None:
    """Add an exit criterion: the indicator's recent mean at least (or at most) a threshold."""
    from forewarn.cases.service import add_exit_criterion

    if (at_least is None) == (at_most is None):
        raise fail("give exactly one of --at-least and --at-most", 2)
    comparison, threshold = ("at_least", at_least) if at_least is not None else ("at_most", at_most)
    assert threshold is not None
    _run(
        lambda conn: add_exit_criterion(
            conn,
            case_id,
            indicator_code=indicator,
            comparison=comparison,
            threshold=threshold,
            months=months,
            actor=_actor(),
        ),
        as_json,
        "exit criterion {result} added",
    )


@case_app.command("intervene")
def intervene_command(
    case_id: Annotated[int, typer.Argument()],
    start: Annotated[str, typer.Option("--start", help="YYYY-MM-DD")],
    indicator: Annotated[list[str], typer.Option("--indicator", help="A targeted indicator (repeatable).")],
    support: Annotated[str | None, typer.Option("--support", help="Default: the case's.")] = None,
    rebase: Annotated[
        str | None,
        typer.Option("--rebase", help="Rebase the targeted SPC charts at the start, for this reason."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Record the start of an intervention (an intervention_start event)."""
    from forewarn.cases.interventions import start_intervention

    day = _date(start, "--start")
    assert day is not None
    _run(
        lambda conn: start_intervention(
            conn,
            case_id,
            start=day,
            indicators=indicator,
            support=support,
            rebase_reason=rebase,
            actor=_actor(),
        ),
        as_json,
        "intervention {result} started",
    )


@case_app.command("withdraw")
def withdraw_command(
    case_id: Annotated[int, typer.Argument()],
    end: Annotated[str, typer.Option("--end", help="YYYY-MM-DD")],
    as_json: JsonOption = False,
) -> None:
    """Record the end of the running intervention (an intervention_end event; the withdrawal date)."""
    from forewarn.cases.interventions import end_intervention

    day = _date(end, "--end")
    assert day is not None
    _run(
        lambda conn: end_intervention(conn, case_id, end=day, actor=_actor()),
        as_json,
        "intervention {result} ended",
    )


@case_app.command("close")
def close_command(
    case_id: Annotated[int, typer.Argument()],
    note: Annotated[str, typer.Option("--note", help="Why it is closed.")],
    as_json: JsonOption = False,
) -> None:
    """Close a case."""
    from forewarn.cases.service import close_case

    _run(lambda conn: close_case(conn, case_id, note=note, actor=_actor()), as_json, f"case {case_id} closed")


report_app = typer.Typer(help="Reports as HTML and PDF.", no_args_is_help=True)


@report_app.command("org")
def report_org_command(
    organisation: Annotated[str, typer.Argument(help="Organisation code.")],
    pdf: Annotated[str | None, typer.Option("--pdf", help="Write the PDF here.")] = None,
    html: Annotated[str | None, typer.Option("--html", help="Write the HTML here.")] = None,
) -> None:
    """A board report for one organisation: signals, charts, soft measures, neighbours, case and interventions
    (effects and follow-up), sources and licences."""
    from pathlib import Path

    from forewarn.cases.service import CaseError, organisation_id_of
    from forewarn.reports.board import board_report
    from forewarn.reports.board import pdf as to_pdf
    from forewarn.settings import get_settings

    if pdf is None and html is None:
        raise fail("give --pdf FILE and/or --html FILE", 2)
    engine = migrated_engine()
    try:
        with engine.connect() as conn:
            report = board_report(
                conn,
                organisation_id_of(conn, organisation),
                min_group_size=get_settings().min_group_size,  # soft measures' small groups suppressed
            )
    except CaseError as exc:
        raise fail(str(exc)) from None
    finally:
        engine.dispose()
    if html is not None:
        Path(html).write_text(report.html, encoding="utf-8")
    if pdf is not None:
        Path(pdf).write_bytes(to_pdf(report))
    err.print(
        f"{report.title}: {report.charts} charts -> {', '.join(p for p in (pdf, html) if p)}", highlight=False
    )


@report_app.command("portfolio")
def report_portfolio_command(
    pdf: Annotated[str | None, typer.Option("--pdf", help="Write the PDF here.")] = None,
    html: Annotated[str | None, typer.Option("--html", help="Write the HTML here.")] = None,
) -> None:
    """A portfolio report for the regulator: every case, its support, interventions and exit criteria."""
    from pathlib import Path

    from forewarn.reports.board import pdf as to_pdf
    from forewarn.reports.portfolio import portfolio_report

    if pdf is None and html is None:
        raise fail("give --pdf FILE and/or --html FILE", 2)
    engine = migrated_engine()
    try:
        with engine.connect() as conn:
            report = portfolio_report(conn)
    finally:
        engine.dispose()
    if html is not None:
        Path(html).write_text(report.html, encoding="utf-8")
    if pdf is not None:
        Path(pdf).write_bytes(to_pdf(report))
    err.print(f"{report.title} -> {', '.join(p for p in (pdf, html) if p)}", highlight=False)


@case_app.command("follow-up")
def follow_up_command(
    relapses: Annotated[
        bool, typer.Option("--relapses", help="Only those whose improvement is decaying.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Every withdrawn intervention of a case, followed against the level it achieved: relapses first."""
    from forewarn.cases.outcomes import follow_up_watch

    engine = migrated_engine()
    try:
        with engine.connect() as conn:
            items = follow_up_watch(conn, relapses_only=relapses)
    finally:
        engine.dispose()
    if as_json:
        emit_json([dataclasses.asdict(i) for i in items])
        return
    for i in items:
        alarm = f", signalled {i.alarm_month} by {i.signal}" if i.alarm_month else ""
        out.print(
            f"case {i.case_id}\t{i.organisation_code}\twithdrawn {i.withdrawal}\t{i.status} "
            f"({i.months_followed} months{alarm}){': ' + i.reason if i.reason else ''}",
            highlight=False,
        )
