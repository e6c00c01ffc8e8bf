"""``forewarn neighbours``, ``forewarn deviants`` and ``forewarn library``: learning from peers (docs/peers.md).

Importing this module loads Typer only; each command imports the store, NumPy and scikit-learn when it runs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

import typer

from forewarn.cli.output import emit_json, err, fail
from forewarn.cli.store import migrated_engine

library_app = typer.Typer(
    help="The practice library: notes, case studies and documents.", no_args_is_help=True
)


def _date(text: str | None) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date (YYYY-MM-DD)", param_hint="--as-of") from None


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) >= 1000 or abs(value) < 0.001 else f"{value:.{digits}f}"
    return str(value)


def neighbours_command(
    organisation: Annotated[str, typer.Argument(help="The organisation's code.")],
    indicator: Annotated[
        str | None,
        typer.Option(
            "--indicator", help="Also learn weights from this indicator (outcome-specific neighbours)."
        ),
    ] = None,
    k: Annotated[int, typer.Option("--k", min=1, help="Neighbours to find.")] = 12,
    replicates: Annotated[
        int, typer.Option("--replicates", min=0, help="Bootstrap resamples for stability (0: none).")
    ] = 200,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Context as of this date (default today).")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the bootstrap and the cross-validation.")] = 0,
    profile: Annotated[
        bool | None,
        typer.Option(
            "--profile/--no-profile",
            help="Also neighbours by indicator profile (earliest periods); default: when the context has no number.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the neighbours as JSON on stdout.")] = False,
) -> None:
    """An organisation's statistical neighbours from its context, CIPFA-style and outcome-specific, with stability."""
    from forewarn.peers.context import UnknownOrganisation
    from forewarn.peers.levels import UnknownIndicator
    from forewarn.peers.neighbours import find_neighbours
    from forewarn.store.database import read_connection

    engine = migrated_engine()
    try:
        with read_connection(engine) as conn:
            report = find_neighbours(
                conn,
                organisation,
                indicator=indicator,
                k=k,
                replicates=replicates,
                as_of=_date(as_of),
                seed=seed,
                profile=profile,
            )
    except (UnknownOrganisation, UnknownIndicator) as exc:
        raise fail(str(exc.args[0]), 2) from None
    finally:
        engine.dispose()
    if as_json:
        emit_json(report.to_dict())
    _print_neighbours(report)


def _print_neighbours(report: Any) -> None:
    lines = [
        f"neighbours of {report.code} ({report.name}) as of {report.as_of}: k = {report.k}, "
        f"{report.population} organisations in its dataset, stability over {report.replicates} bootstrap resamples",
        "  context: " + ", ".join(f"{name} {_fmt(value)}" for name, value in report.context.items()),
    ]
    if report.left_out:
        lines.append("  left out (too few organisations have them): " + ", ".join(report.left_out))
    for listing in report.lists:
        title = {
            "fixed": "CIPFA-style (fixed weights)",
            "outcome": f"outcome-specific ({report.indicator})",
            "profile": "indicator profile (earliest periods, equal weights; not for judging these indicators; "
            "stays: share of resamples of the indicators)",
        }[listing.method]
        weights = ", ".join(f"{n} {w:.2f}" for n, w in listing.weights.items())
        extra = (
            f"; cross-validated R^2 {_fmt(listing.r2_cv, 2)}"
            if listing.method == "outcome" and listing.r2_cv
            else ""
        )
        if listing.method == "profile":
            extra = (
                f"; set kept under resampled indicators (mean Jaccard) {_fmt(listing.set_stability, 2)}, "
                f"against the next periods' profile (Jaccard) {_fmt(listing.period_jaccard, 2)}"
            )
        lines.append(f"  {title}: weights {weights or '-'}{extra}")
        for n in listing.neighbours:
            level = f"  level {_fmt(n.level)}" if n.level is not None else ""
            lines.append(
                f"    {n.code:<12} {n.name[:40]:<40} distance {n.distance:.3f}  stays {n.stability:.0%}{level}"
            )
    if report.overlap is not None:
        lines.append(f"  in both lists: {report.overlap} of {report.k}")
    if report.profile_overlap is not None:
        lines.append(
            f"  in both the CIPFA-style and the profile list: {report.profile_overlap} of {report.k}"
        )
    lines.extend(f"  note: {note}" for note in report.notes)
    err.print("\n".join(lines), highlight=False, markup=False)


def deviants_command(
    indicator: Annotated[str, typer.Option("--indicator", help="The indicator's code.")],
    organisation: Annotated[
        str | None,
        typer.Option("--org", help="Only this organisation's neighbours (default: every organisation's)."),
    ] = None,
    k: Annotated[int, typer.Option("--k", min=1, help="Neighbours in each group.")] = 12,
    limit: Annotated[float, typer.Option("--limit", help="Funnel limit in percent: 99.8 or 95.")] = 99.8,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Context as of this date (default today).")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the groups and deviants as JSON on stdout.")
    ] = False,
) -> None:
    """Positive deviants among neighbours: better than noise allows, or improving in a sustained way."""
    from forewarn.peers.context import UnknownOrganisation
    from forewarn.peers.deviants import find_deviants
    from forewarn.peers.levels import UnknownIndicator
    from forewarn.store.database import read_connection

    if limit not in (95.0, 99.8):
        raise typer.BadParameter("the funnel limit is 95 or 99.8", param_hint="--limit")
    engine = migrated_engine()
    try:
        with read_connection(engine) as conn:
            report = find_deviants(
                conn, indicator, organisation=organisation, k=k, limit=limit, as_of=_date(as_of)
            )
    except (UnknownOrganisation, UnknownIndicator) as exc:
        raise fail(str(exc.args[0]), 2) from None
    finally:
        engine.dispose()
    if as_json:
        emit_json(report.to_dict())
    _print_deviants(report, organisation is not None)


def _print_deviants(report: Any, one: bool) -> None:
    by = "outcome-specific" if report.neighbours_by == "outcome" else "CIPFA-style"
    lines = [
        f"positive deviants on {report.indicator} ({report.indicator_name}), {report.polarity}: {by} neighbours "
        f"(k = {report.k}), funnel limit {report.limit}%, window of {report.window_days} days to "
        f"{report.window_end}; listed by name, not ranked",
    ]
    shown = report.groups if one else [g for g in report.groups if g.deviants]
    for group in shown:
        lines.append(
            f"  {group.code} ({group.name}): level {_fmt(group.level)} ({_fmt(group.lower)} to {_fmt(group.upper)}); "
            f"group level {_fmt(group.target)}, {len(group.deviants)} deviant(s) among {group.neighbours}"
        )
        for d in group.deviants:
            basis = []
            if d.by_level:
                basis.append(
                    f"level beyond the group's limits ({_fmt(d.limit_lower)} to {_fmt(d.limit_upper)})"
                )
            if d.by_improvement:
                basis.append(
                    f"improving on its neighbours since {d.shift_since} ({d.shift_points} points, gap "
                    f"{_fmt(d.run_gap)} against a usual {_fmt(d.usual_gap)})"
                )
            lines.append(
                f"    {d.code:<12} {d.name[:36]:<36} level {_fmt(d.level)} (95% {_fmt(d.lower)} to "
                f"{_fmt(d.upper)}): " + "; ".join(basis)
            )
    level_flags = sum(d.by_level for g in report.groups for d in g.deviants)
    lines.append(
        f"  {len(report.groups)} group(s); {report.n_deviants} deviant listing(s), {level_flags} by level "
        f"(about {report.expected_by_chance:.1f} expected by chance if every neighbour were in control)"
    )
    lines.extend(f"  note: {note}" for note in report.notes)
    err.print("\n".join(lines), highlight=False, markup=False)


@library_app.command("import")
def library_import_command(
    folder: Annotated[Path, typer.Argument(help="A folder of Markdown or text notes with front matter.")],
    imported_by: Annotated[
        str | None, typer.Option("--by", help="Who imports (default FOREWARN_IMPORTED_BY or the user).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")] = False,
) -> None:
    """Import every note in a folder: all or nothing; each problem names its file and field."""
    from forewarn.library.folder import LibraryImportRejected, import_folder
    from forewarn.settings import get_settings

    settings = get_settings()
    engine = migrated_engine(settings)
    actor = imported_by or settings.imported_by or _user()
    try:
        result = import_folder(engine, folder, actor=actor)
    except LibraryImportRejected as exc:
        if as_json:
            emit_json({"ok": False, "problems": [str(p) for p in exc.problems]})
        for problem in exc.problems:
            err.print(str(problem), highlight=False, markup=False)
        raise fail(f"{len(exc.problems)} problem(s) found; nothing was written") from None
    finally:
        engine.dispose()
    if as_json:
        emit_json({"ok": True, "result": result.to_dict()})
    err.print(result.summary(), highlight=False, markup=False)


def _user() -> str:
    import getpass

    return getpass.getuser()


@library_app.command("search")
def library_search_command(
    query: Annotated[str, typer.Argument(help='Words, "a phrase", OR, -word (as a web search).')],
    limit: Annotated[int, typer.Option("--limit", min=1, help="Results to show.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON on stdout.")] = False,
) -> None:
    """Full-text search of the library, most relevant first."""
    from forewarn.library.search import search
    from forewarn.store.database import read_connection

    engine = migrated_engine()
    try:
        with read_connection(engine) as conn:
            hits = search(conn, query, limit=limit)
    finally:
        engine.dispose()
    if as_json:
        emit_json({"query": query, "results": [h.to_dict() for h in hits]})
    lines = [f"{len(hits)} result(s) for {query!r}"]
    for hit in hits:
        lines.append(f"  [{hit.id}] {hit.title} ({hit.kind}, {hit.date or 'undated'}): {hit.snippet}")
    err.print("\n".join(lines), highlight=False, markup=False)


@library_app.command("activity")
def library_activity_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print the counts as JSON on stdout.")] = False,
) -> None:
    """Learning activity per organisation and month (searches, notes read, neighbours and deviants pages,
    experiments), suppressed below the minimum group size of accounts."""
    from forewarn.library.activity import KINDS, activity_counts
    from forewarn.settings import get_settings
    from forewarn.store.database import read_connection
    from forewarn.views.lookup import organisation_codes

    settings = get_settings()
    engine = migrated_engine(settings)
    try:
        with read_connection(engine) as conn:
            counts = activity_counts(conn, min_group_size=settings.min_group_size)
            codes = organisation_codes(conn, counts["organisation_id"].unique().to_list())
    finally:
        engine.dispose()
    rows = [{**r, "code": codes.get(r["organisation_id"])} for r in counts.to_dicts()]
    if as_json:
        emit_json(
            {
                "min_group_size": settings.min_group_size,
                "rows": [{**r, "month": r["month"].isoformat()} for r in rows],
            }
        )
    lines = [f"{len(rows)} organisation-month(s); fewer than {settings.min_group_size} accounts: suppressed"]
    for r in rows:
        shown = "suppressed" if r["suppressed"] else ", ".join(f"{k} {r[k]}" for k in KINDS)
        lines.append(f"  {r['code']} {r['month']:%Y-%m}: {shown}")
    err.print("\n".join(lines), highlight=False, markup=False)


__all__ = ["deviants_command", "library_activity_command", "library_app", "neighbours_command"]
