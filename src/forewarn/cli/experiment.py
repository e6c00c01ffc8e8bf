"""``forewarn experiment ...``: register, design, allocate, start, analyse and list experiments (docs/experiments.md).

:mod:`forewarn.cli` wires these in with ``app.add_typer(experiment_app, name="experiment")``. Messages go to stderr;
``--json`` puts the experiment (or the list) on stdout. The services are imported inside each command so that
``forewarn --help`` stays fast.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated

import typer

from forewarn.cli.output import emit_json, err, fail
from forewarn.cli.store import migrated_engine

if TYPE_CHECKING:
    from forewarn.experiments.registry import ExperimentInfo

experiment_app = typer.Typer(
    help="Experiments: register, design, allocate, start, analyse and list (with --json).",
    no_args_is_help=True,
)

Json = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]
By = Annotated[str | None, typer.Option("--by", help="Who is doing this (recorded in the audit trail).")]
Ref = Annotated[str, typer.Argument(help="The experiment's code or id.")]


def _by(by: str | None) -> str | None:
    from forewarn.settings import get_settings

    return by or get_settings().imported_by


def _show(info: ExperimentInfo, as_json: bool, message: str) -> None:
    if as_json:
        emit_json(info.to_dict())
    err.print(message, highlight=False)


def _split(values: list[str] | None) -> list[str]:
    return [v.strip() for text in values or [] for v in text.split(",") if v.strip()]


@experiment_app.command("create")
def create_command(
    code: Annotated[str, typer.Argument(help="A short code for the experiment, e.g. 'huddles-2026'.")],
    title: Annotated[str, typer.Option("--title", help="A title.")],
    hypothesis: Annotated[str, typer.Option("--hypothesis", help="What the experiment tests.")],
    outcome: Annotated[str, typer.Option("--outcome", help="The outcome indicator's code.")],
    design: Annotated[
        str,
        typer.Option(
            "--design", help="individual, cluster, stepped_wedge, its, synthetic_control, staggered_did"
        ),
    ],
    units: Annotated[
        list[str], typer.Option("--units", help="Organisation codes, comma-separated or repeated.")
    ],
    analysis: Annotated[
        str,
        typer.Option("--analysis", help="Pre-registered analysis: difference_in_means, cluster_robust, its"),
    ],
    minimum_effect: Annotated[
        float, typer.Option("--minimum-effect", help="Smallest effect worth finding, in SDs of the outcome.")
    ],
    start: Annotated[dt.datetime, typer.Option("--start", formats=["%Y-%m-%d"], help="Planned start date.")],
    end: Annotated[dt.datetime, typer.Option("--end", formats=["%Y-%m-%d"], help="Planned end date.")],
    owner: Annotated[str, typer.Option("--owner", help="Who owns the experiment.")],
    owner_organisation: Annotated[
        str | None, typer.Option("--owner-organisation", help="The owning organisation's code.")
    ] = None,
    practice: Annotated[str | None, typer.Option("--practice", help="The peer practice it adapts.")] = None,
    strata: Annotated[
        str | None, typer.Option("--strata", help="Stratify allocation by 'region' or 'type'.")
    ] = None,
    treated: Annotated[
        list[str] | None,
        typer.Option(
            "--treated", help="Non-randomised designs: the units adopting the practice (comma-separated)."
        ),
    ] = None,
    adoption: Annotated[
        list[str] | None,
        typer.Option(
            "--adoption", help="ORG=YYYY-MM-DD: when a treated unit adopts (default: the planned start)."
        ),
    ] = None,
    by: By = None,
    as_json: Json = False,
) -> None:
    """Register a draft experiment."""
    from forewarn.experiments.registry import ExperimentError, ExperimentSpec, create_experiment

    adopted: dict[str, dt.date] = {}
    for item in _split(adoption):
        unit, _, day = item.partition("=")
        try:
            adopted[unit.strip()] = dt.date.fromisoformat(day.strip())
        except ValueError:
            raise fail(f"--adoption {item!r}: expected ORG=YYYY-MM-DD") from None
    spec = ExperimentSpec(
        code=code,
        title=title,
        hypothesis=hypothesis,
        outcome_indicator=outcome,
        design=design,
        units=_split(units),
        analysis=analysis,
        minimum_effect=minimum_effect,
        planned_start=start.date(),
        planned_end=end.date(),
        owner=owner,
        owner_organisation=owner_organisation,
        adapted_practice=practice,
        strata_by=strata,
        treated=_split(treated),
        adoption=adopted,
    )
    try:
        info = create_experiment(migrated_engine(), spec, by=_by(by))
    except ExperimentError as exc:
        raise fail(str(exc)) from None
    _show(info, as_json, f"experiment {info.code!r} registered (draft) with {len(info.units)} unit(s)")


@experiment_app.command("design")
def design_command(
    ref: Ref,
    cluster_size: Annotated[
        float | None, typer.Option("--cluster-size", help="Members a cluster (or cluster-period).")
    ] = None,
    icc: Annotated[
        float | None,
        typer.Option(
            "--icc", help="Intracluster correlation (default: estimated from the store before the start)."
        ),
    ] = None,
    steps: Annotated[int | None, typer.Option("--steps", help="Steps of a stepped wedge.")] = None,
    tau2: Annotated[
        float | None, typer.Option("--tau2", help="Cluster variance of a stepped wedge (outcome SD 1).")
    ] = None,
    alpha: Annotated[float, typer.Option("--alpha", help="Two-sided significance level.")] = 0.05,
    by: By = None,
    as_json: Json = False,
) -> None:
    """Power of the design for the minimum effect of interest, stored on the experiment."""
    from forewarn.experiments.design import design_experiment
    from forewarn.experiments.registry import ExperimentError

    try:
        info = design_experiment(
            migrated_engine(),
            ref,
            alpha=alpha,
            cluster_size=cluster_size,
            icc=icc,
            steps=steps,
            tau2=tau2,
            by=_by(by),
        )
    except ExperimentError as exc:
        raise fail(str(exc)) from None
    calc = info.design_calculation or {}
    _show(
        info,
        as_json,
        f"{info.code}: power {float(calc.get('power', float('nan'))):.3f} for {info.minimum_effect} SD",
    )


@experiment_app.command("allocate")
def allocate_command(
    ref: Ref,
    seed: Annotated[int, typer.Option("--seed", help="The randomisation seed (kept in the audit trail).")],
    arms: Annotated[
        list[str] | None, typer.Option("--arms", help="Arm names (default control,intervention).")
    ] = None,
    by: By = None,
    as_json: Json = False,
) -> None:
    """Randomise the units (stratified if registered so) with a seed; only before the start."""
    from forewarn.experiments.design import allocate_experiment
    from forewarn.experiments.registry import ExperimentError

    try:
        info = allocate_experiment(migrated_engine(), ref, seed=seed, arms=_split(arms) or None, by=_by(by))
    except ExperimentError as exc:
        raise fail(str(exc)) from None
    counts: dict[str, int] = {}
    for arm in info.units.values():
        counts[str(arm)] = counts.get(str(arm), 0) + 1
    shown = ", ".join(f"{a}: {n}" for a, n in sorted(counts.items()))
    _show(info, as_json, f"{info.code}: allocated with seed {seed} ({shown})")


@experiment_app.command("start")
def start_command(ref: Ref, by: By = None, as_json: Json = False) -> None:
    """Start the experiment: its registration is locked from now on (changes become deviations)."""
    from forewarn.experiments.registry import ExperimentError, start_experiment

    try:
        info = start_experiment(migrated_engine(), ref, by=_by(by))
    except ExperimentError as exc:
        raise fail(str(exc)) from None
    _show(
        info,
        as_json,
        f"{info.code}: started; registration locked ({(info.registration_checksum or '')[:12]})",
    )


@experiment_app.command("analyse")
def analyse_command(
    ref: Ref,
    method: Annotated[
        str | None, typer.Option("--method", help="Another analysis than the pre-registered one (marked so).")
    ] = None,
    publish: Annotated[
        bool,
        typer.Option(
            "--publish", help="Publish the result to the practice library (an experiment document)."
        ),
    ] = False,
    audience: Annotated[
        str, typer.Option("--audience", help="Who reads the published result: everyone, or organisation.")
    ] = "everyone",
    by: By = None,
    as_json: Json = False,
) -> None:
    """Run the pre-registered analysis on the store's data and rate it (padlocks); with --publish, publish the
    result to the practice library in the same transaction."""
    from forewarn.experiments.analysis import analyse_experiment
    from forewarn.experiments.publish import publish_result
    from forewarn.experiments.registry import ExperimentError, get_experiment
    from forewarn.store.database import write_connection

    actor = _by(by)
    try:
        with write_connection(migrated_engine()) as conn:
            info = analyse_experiment(conn, ref, method=method, by=actor)
            if publish:
                document_id = publish_result(conn, ref, actor or "forewarn", audience=audience)
                err.print(
                    f"published as library document {document_id} (/library/{document_id})", highlight=False
                )
                info = get_experiment(conn, ref)
    except ExperimentError as exc:
        raise fail(str(exc)) from None
    latest = info.results[-1]
    r = latest["result"]
    _show(
        info,
        as_json,
        f"{info.code}: {latest['method']} estimate {float(r['estimate']):.3f} "
        f"(95% CI {float(r['ci_low']):.3f} to {float(r['ci_high']):.3f}); "
        f"{latest['padlocks']} padlock(s){'' if latest['pre_registered'] else '; NOT the pre-registered analysis'}",
    )


@experiment_app.command("show")
def show_command(ref: Ref, as_json: Json = False) -> None:
    """One experiment: its registration, units, audit trail and results."""
    from forewarn.experiments.registry import ExperimentError, get_experiment

    try:
        info = get_experiment(migrated_engine(), ref)
    except ExperimentError as exc:
        raise fail(str(exc)) from None
    _show(
        info,
        as_json,
        f"{info.code} ({info.status}): {info.title}; {len(info.events)} event(s), {len(info.results)} result(s)",
    )


@experiment_app.command("list")
def list_command(as_json: Json = False) -> None:
    """Every experiment in brief."""
    from forewarn.experiments.catalogue import list_experiments

    rows = list_experiments(migrated_engine())
    if as_json:
        emit_json(rows)
    for r in rows:
        padlocks = "-" if r["padlocks"] is None else str(r["padlocks"])
        err.print(
            f"{r['code']}\t{r['status']}\t{r['design']}\tpadlocks {padlocks}\t{r['title']}",
            highlight=False,
            markup=False,
        )
    if not rows:
        err.print("no experiments yet: forewarn experiment create --help", highlight=False)
