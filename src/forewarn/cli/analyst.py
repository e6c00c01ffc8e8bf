"""``forewarn funnel``, ``spc``, ``cusum``, ``ewma`` and ``ranks``: the analyst's tools, one file in, a table out.

:mod:`forewarn.cli` registers them with ``app.command("funnel")(funnel_command)`` and so on. The table goes to
``--output`` (CSV, or Parquet by suffix), else to stdout as CSV; ``--json`` puts the summary and the rows on
stdout instead. Messages, summaries and warnings go to stderr. Problems with the data exit 1, options that do
not fit the file exit 2, and every problem is listed at once, each naming the row, column and value
(:mod:`forewarn.cli.tool_output`). The tools themselves are imported inside each command, so that
`forewarn --help` stays fast; the choices below are defined here for the same reason.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer
from rich.text import Text

from forewarn.cli.tool_output import (
    FileArg,
    Json,
    Output,
    SeriesOutput,
    Sheet,
    compute,
    deliver,
    err,
    print_series_table,
    show,
)


class DataType(StrEnum):
    SR = "SR"
    PR = "PR"
    RC = "RC"


class Overdispersion(StrEnum):
    none = "none"
    cqc = "cqc"
    shmi = "shmi"


class Limit(StrEnum):
    p95 = "95"
    p998 = "99.8"


class SrScale(StrEnum):
    log = "log"
    sqrt = "sqrt"


class Unadjusted(StrEnum):
    exact = "exact"
    approximate = "approximate"


class Compat(StrEnum):
    funnelplotr = "funnelplotr"


class Improvement(StrEnum):
    increase = "increase"
    decrease = "decrease"
    neutral = "neutral"


class Rules(StrEnum):
    mdc = "mdc"
    anhoej = "anhoej"


class Form(StrEnum):
    poisson = "poisson"
    bernoulli = "bernoulli"


class ThresholdMethod(StrEnum):
    markov = "markov"
    simulation = "simulation"


class Baseline(StrEnum):
    own = "own"
    given = "given"


class Reset(StrEnum):
    zero = "zero"
    head_start = "head-start"


class RankData(StrEnum):
    PR = "PR"
    SR = "SR"


# ----------------------------------------------------------------------------------------------------------


def funnel_command(
    file: FileArg,
    unit_col: Annotated[
        str, typer.Option("--unit-col", help="Column naming the unit (rows are summed by unit).")
    ],
    numerator_col: Annotated[str, typer.Option("--numerator-col", help="Observed count O.")],
    denominator_col: Annotated[
        str, typer.Option("--denominator-col", help="E (SR), N (PR) or the second count (RC).")
    ],
    data_type: Annotated[
        DataType,
        typer.Option(
            "--data-type",
            case_sensitive=False,
            help="SR: standardised ratio O/E; PR: proportion O/N; RC: ratio of two counts O/D.",
        ),
    ],
    od: Annotated[
        Overdispersion,
        typer.Option("--od", help="Over-dispersion: cqc (winsorised z), shmi (truncated z) or none."),
    ] = Overdispersion.cqc,
    trim: Annotated[
        float, typer.Option("--trim", help="Fraction winsorised or truncated at each end.")
    ] = 0.1,
    limit: Annotated[
        Limit, typer.Option("--limit", help="Limits that flag outliers: 95 or 99.8 (%).")
    ] = Limit.p998,
    target: Annotated[
        float | None,
        typer.Option("--target", help="Centre line (default: 1 for SR, the pooled value for PR and RC)."),
    ] = None,
    scale: Annotated[
        SrScale | None,
        typer.Option(
            "--scale", help="SR only: log (SHMI) or sqrt (CQC) scale (default: sqrt with cqc, else log)."
        ),
    ] = None,
    unadjusted: Annotated[
        Unadjusted | None,
        typer.Option(
            "--unadjusted",
            help="Limits without over-dispersion: exact (default) or approximate (normal on the funnel's scale).",
        ),
    ] = None,
    compat: Annotated[
        Compat | None,
        typer.Option(
            "--compat",
            help="funnelplotr: reproduce FunnelPlotR 0.6.0 exactly, quirks included (PR and RC always winsorised).",
        ),
    ] = None,
    output: Output = None,
    as_json: Json = False,
    sheet: Sheet = None,
) -> None:
    """Funnel plot: each unit's ratio against limits that narrow as its denominator grows."""
    from forewarn.tools.funnel import FunnelRequest, funnel_file

    request = FunnelRequest(
        unit_col=unit_col,
        numerator_col=numerator_col,
        denominator_col=denominator_col,
        data_type=data_type.value,
        overdispersion=od.value,
        trim=trim,
        limit=float(limit.value),
        target=target,
        sr_scale=None if scale is None else scale.value,
        unadjusted=None if unadjusted is None else unadjusted.value,
        compat=None if compat is None else "funnelplotr",
        sheet=sheet,
    )
    result = compute(lambda: funnel_file(file, request), as_json)
    s = result.summary
    od_text = "not estimated" if s["phi"] is None else f"phi {show(s['phi'])}, tau2 {show(s['tau2'])}"
    applied = "limits adjusted" if s["adjusted"] else "limits not adjusted"
    err.print(
        Text(
            f"funnel {s['data_type']}: {s['n_units']} units from {s['n_rows']} rows; target {show(s['target'])}; "
            f"over-dispersion {s['overdispersion']}: {od_text} ({applied})"
        )
    )
    err.print(
        Text(
            f"outside the {show(s['limit'])}% limits: {s['n_outliers']} ({s['n_high']} high, {s['n_low']} low); "
            f"{s['expected_by_chance']:.2f} expected by chance; {s['n_fdr_flags']} flagged at a "
            f"{s['fdr_alpha']:.0%} false-discovery rate"
        )
    )
    deliver("funnel", result, output=output, as_json=as_json)


# ----------------------------------------------------------------------------------------------------------
# spc
# ----------------------------------------------------------------------------------------------------------


def spc_command(
    file: FileArg,
    period_col: Annotated[
        str, typer.Option("--period-col", help="Period: YYYY-MM-DD, DD/MM/YYYY, YYYY-MM, year or number.")
    ],
    value_col: Annotated[str, typer.Option("--value-col", help="The measure charted.")],
    series_col: Annotated[
        str | None, typer.Option("--series-col", help="Column naming the series (default: one series).")
    ] = None,
    improvement: Annotated[
        Improvement,
        typer.Option("--improvement", help="Which direction is better: increase, decrease or neutral."),
    ] = Improvement.increase,
    target: Annotated[float | None, typer.Option("--target", help="Target, for the assurance icon.")] = None,
    fix_after: Annotated[
        int | None,
        typer.Option("--fix-after", help="Fix the limits (mdc, >= 12) or median (anhoej) after N points."),
    ] = None,
    rebase: Annotated[
        list[str] | None,
        typer.Option(
            "--rebase", help="Start a new segment at DATE (or SERIES=DATE for one series); repeatable."
        ),
    ] = None,
    rules: Annotated[
        Rules, typer.Option("--rules", help="mdc: XmR chart, Making Data Count rules; anhoej: run chart.")
    ] = Rules.mdc,
    shift_length: Annotated[
        int, typer.Option("--shift", help="Points in a row on one side that make a shift.")
    ] = 7,
    trend_length: Annotated[
        int, typer.Option("--trend", help="Points in a row rising or falling that make a trend.")
    ] = 7,
    screen: Annotated[
        bool, typer.Option("--screen/--no-screen", help="Screen out large moving ranges before the limits.")
    ] = True,
    output: Output = None,
    series_output: SeriesOutput = None,
    as_json: Json = False,
    sheet: Sheet = None,
) -> None:
    """SPC charts of every series at once: XmR with Making Data Count rules, or run charts (Anhoej rules)."""
    from forewarn.tools.spc import SpcRequest, spc_file

    request = SpcRequest(
        period_col=period_col,
        value_col=value_col,
        series_col=series_col,
        improvement=improvement.value,
        target=target,
        fix_after=fix_after,
        rebase=tuple(rebase or ()),
        rules=rules.value,
        shift_length=shift_length,
        trend_length=trend_length,
        screen_outliers=screen,
        sheet=sheet,
    )
    result = compute(lambda: spc_file(file, request), as_json)
    s = result.summary
    if request.rules == "mdc":
        variation = ", ".join(f"{k} {v}" for k, v in s["variation"].items())
        err.print(
            Text(
                f"spc (XmR, Making Data Count): {s['n_series']} series, {s['n_rows']} rows; variation: {variation}"
            )
        )
        if target is not None:
            assurance = ", ".join(f"{k} {v}" for k, v in s["assurance"].items())
            err.print(Text(f"assurance against target {show(target)}: {assurance}"))
    else:
        err.print(
            Text(
                f"spc (run chart, Anhoej rules): {s['n_series']} series, {s['n_segments']} segments, "
                f"{s['n_signals']} with a runs signal"
            )
        )
    shown = (
        ["series", "segment", "n", "mean", "lpl", "upl", "variation_type", "assurance_type"]
        if request.rules == "mdc"
        else ["series", "segment", "centre", "n_useful", "longest_run", "n_crossings", "runs_signal"]
    )
    print_series_table(result, "Series", shown)
    deliver("spc", result, output=output, as_json=as_json, series_output=series_output)


# ----------------------------------------------------------------------------------------------------------
# cusum
# ----------------------------------------------------------------------------------------------------------


def cusum_command(
    file: FileArg,
    period_col: Annotated[
        str, typer.Option("--period-col", help="Period: YYYY-MM-DD, DD/MM/YYYY, YYYY-MM, year or number.")
    ],
    observed_col: Annotated[
        str, typer.Option("--observed-col", help="Observed events per period (e.g. deaths).")
    ],
    expected_col: Annotated[str, typer.Option("--expected-col", help="Case-mix expected events per period.")],
    series_col: Annotated[
        str | None, typer.Option("--series-col", help="Column naming the series (default: one series).")
    ] = None,
    denominator_col: Annotated[
        str | None, typer.Option("--denominator-col", help="Cases per period (needed for --form bernoulli).")
    ] = None,
    rate_ratio: Annotated[
        float,
        typer.Option(
            "--rate-ratio", help="Odds or rate ratio to detect: 2 = a doubling; 0.5 watches for halving."
        ),
    ] = 2.0,
    target_arl: Annotated[
        float,
        typer.Option(
            "--target-arl", help="In-control average run length (periods) the threshold is set for."
        ),
    ] = 60.0,
    form: Annotated[
        Form, typer.Option("--form", help="poisson (O ln R - (R-1) E) or bernoulli (with cases per period).")
    ] = Form.poisson,
    threshold: Annotated[
        float | None,
        typer.Option("--threshold", help="Use this threshold h instead of one from --target-arl."),
    ] = None,
    threshold_method: Annotated[
        ThresholdMethod,
        typer.Option(
            "--threshold-method", help="markov (exact, at the median expected count) or simulation."
        ),
    ] = ThresholdMethod.markov,
    head_start: Annotated[float, typer.Option("--head-start", help="Starting value of the CUSUM.")] = 0.0,
    reset: Annotated[
        Reset, typer.Option("--reset", help="After an alarm restart from zero or the head start.")
    ] = Reset.zero,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the simulation method.")] = 20000441,
    baseline: Annotated[
        Baseline,
        typer.Option(
            "--baseline",
            help="own (default): has each series got worse than its own first periods, over-dispersion "
            "allowed for, as the scan does; given: the classical risk-adjusted CUSUM against the expected "
            "counts as given.",
        ),
    ] = Baseline.own,
    baseline_periods: Annotated[
        int, typer.Option("--baseline-periods", help="Periods that make each series' own baseline.")
    ] = 12,
    overdispersion: Annotated[
        bool,
        typer.Option(
            "--overdispersion/--no-overdispersion",
            help="Allow for period-to-period variation beyond chance (--baseline own).",
        ),
    ] = True,
    false_alarms: Annotated[
        float,
        typer.Option(
            "--false-alarms",
            help="Share of unchanged series allowed to alarm over the file's window (--baseline own).",
        ),
    ] = 0.05,
    output: Output = None,
    series_output: SeriesOutput = None,
    as_json: Json = False,
    sheet: Sheet = None,
) -> None:
    """CUSUM of observed against expected counts: by default each series against its own baseline, with a
    threshold for a share of false alarms over the window; --baseline given for the classical chart."""
    from forewarn.tools.cusum import CusumRequest, cusum_file

    request = CusumRequest(
        period_col=period_col,
        observed_col=observed_col,
        expected_col=expected_col,
        series_col=series_col,
        denominator_col=denominator_col,
        rate_ratio=rate_ratio,
        target_arl=target_arl,
        form=form.value,
        threshold=threshold,
        threshold_method=threshold_method.value,
        baseline=baseline.value,
        baseline_periods=baseline_periods,
        overdispersion=overdispersion,
        false_alarm_share=false_alarms,
        head_start=head_start,
        reset="zero" if reset is Reset.zero else "head_start",
        seed=seed,
        sheet=sheet,
    )
    result = compute(lambda: cusum_file(file, request), as_json)
    s = result.summary
    if s.get("baseline") == "own":
        err.print(
            Text(
                f"cusum against each series' own first {s['baseline_periods']} periods ({s['form']}, tuned to "
                f"R = {show(s['rate_ratio'])}; within-series tau2 {s['tau2_within']:.3g}): k = {s['k']:.3f}, "
                f"h = {s['threshold']:.3f} for {s['false_alarm_share']:.0%} of unchanged series alarming over "
                f"{s['periods']} periods; {s['n_series_alarmed']} of {s['n_series_watched']} series alarmed "
                f"({s['n_series_alarmed_expected_by_chance']:.1f} expected by chance)"
            )
        )
        print_series_table(result, "Series", ["series", "periods", "n_alarms", "first_alarm", "last_alarm"])
        deliver("cusum", result, output=output, as_json=as_json, series_output=series_output)
        return
    how = (
        "given"
        if s["target_arl"] is None
        else f"{s['threshold_method']}, in-control ARL {show(s['arl_at_threshold'])} for target {show(s['target_arl'])}"
    )
    err.print(
        Text(
            f"cusum ({s['form']}, R = {show(s['rate_ratio'])}): threshold h = {s['threshold']:.6f} ({how}); "
            f"{s['n_alarms']} alarm(s) in {s['n_series_alarmed']} of {s['n_series']} series"
        )
    )
    print_series_table(
        result, "Series", ["series", "periods", "observed", "expected", "n_alarms", "first_alarm"]
    )
    deliver("cusum", result, output=output, as_json=as_json, series_output=series_output)


# ----------------------------------------------------------------------------------------------------------
# ewma
# ----------------------------------------------------------------------------------------------------------


def ewma_command(
    file: FileArg,
    period_col: Annotated[
        str, typer.Option("--period-col", help="Period: YYYY-MM-DD, DD/MM/YYYY, YYYY-MM, year or number.")
    ],
    value_col: Annotated[str, typer.Option("--value-col", help="The value charted.")],
    series_col: Annotated[
        str | None, typer.Option("--series-col", help="Column naming the series (default: one series).")
    ] = None,
    lam: Annotated[
        float, typer.Option("--lambda", help="Smoothing weight of the newest value, in (0, 1].")
    ] = 0.2,
    limit_width: Annotated[
        float | None,
        typer.Option("--limit-width", help="L, in sds of the EWMA (default: from --target-arl)."),
    ] = None,
    target_arl: Annotated[
        float, typer.Option("--target-arl", help="In-control ARL (periods) the limits are set for.")
    ] = 370.0,
    centre: Annotated[
        float | None, typer.Option("--centre", help="In-control mean (default: each series' baseline mean).")
    ] = None,
    sd: Annotated[
        float | None,
        typer.Option("--sd", help="Sd of one value (default: each series' baseline moving range / 1.128)."),
    ] = None,
    baseline_periods: Annotated[
        int, typer.Option("--baseline-periods", help="Values that set each series' centre and sd.")
    ] = 12,
    reset: Annotated[
        bool, typer.Option("--reset", help="Restart the EWMA at the centre after an alarm.")
    ] = False,
    output: Output = None,
    series_output: SeriesOutput = None,
    as_json: Json = False,
    sheet: Sheet = None,
) -> None:
    """EWMA charts of every series, each against its own baseline, with exact time-varying limits."""
    from forewarn.tools.ewma import EwmaRequest, ewma_file

    request = EwmaRequest(
        period_col=period_col,
        value_col=value_col,
        series_col=series_col,
        lam=lam,
        limit_width=limit_width,
        target_arl=target_arl,
        centre=centre,
        sd=sd,
        baseline_periods=baseline_periods,
        reset=reset,
        sheet=sheet,
    )
    result = compute(lambda: ewma_file(file, request), as_json)
    s = result.summary
    how = "given" if s["target_arl"] is None else f"for an in-control ARL of {show(s['target_arl'])}"
    err.print(
        Text(
            f"ewma (lambda = {show(s['lam'])}, L = {s['L']:.4f} {how}): {s['n_alarms']} alarm(s) in "
            f"{s['n_series_alarmed']} of {s['n_series_watched']} series"
        )
    )
    print_series_table(result, "Series", ["series", "periods", "n_alarms", "first_alarm", "last_alarm"])
    deliver("ewma", result, output=output, as_json=as_json, series_output=series_output)


# ----------------------------------------------------------------------------------------------------------
# ranks
# ----------------------------------------------------------------------------------------------------------


def ranks_command(
    file: FileArg,
    unit_col: Annotated[
        str,
        typer.Option(
            "--unit-col",
            help="Column naming the unit (counts are summed by unit; one row per unit with --estimate-col).",
        ),
    ],
    estimate_col: Annotated[
        str | None, typer.Option("--estimate-col", help="Estimate to rank (with --se-col).")
    ] = None,
    se_col: Annotated[str | None, typer.Option("--se-col", help="Standard error of the estimate.")] = None,
    numerator_col: Annotated[
        str | None,
        typer.Option("--numerator-col", help="Events, instead of --estimate-col (with --denominator-col)."),
    ] = None,
    denominator_col: Annotated[
        str | None, typer.Option("--denominator-col", help="N (PR) or E (SR).")
    ] = None,
    data_type: Annotated[
        RankData,
        typer.Option("--data-type", case_sensitive=False, help="With counts: PR ranks O/N, SR ranks O/E."),
    ] = RankData.PR,
    group_col: Annotated[
        str | None,
        typer.Option("--group-col", help="Rank within each group (e.g. indicator): many tables at once."),
    ] = None,
    higher_is_better: Annotated[
        bool,
        typer.Option(
            "--higher-is-better/--lower-is-better",
            help="Rank 1 is the highest value, or (default) the lowest.",
        ),
    ] = False,
    replicates: Annotated[int, typer.Option("--replicates", help="Simulated replicates (>= 100).")] = 1000,
    level: Annotated[float, typer.Option("--level", help="Coverage of the rank interval.")] = 0.95,
    seed: Annotated[int, typer.Option("--seed", help="Seed, so the intervals are reproducible.")] = 19960385,
    output: Output = None,
    as_json: Json = False,
    sheet: Sheet = None,
) -> None:
    """How sure is a league table: each unit's median rank and rank interval, by simulation."""
    from forewarn.tools.ranks import RanksRequest, ranks_file

    request = RanksRequest(
        unit_col=unit_col,
        estimate_col=estimate_col,
        se_col=se_col,
        numerator_col=numerator_col,
        denominator_col=denominator_col,
        data_type=data_type.value,
        group_col=group_col,
        higher_is_better=higher_is_better,
        replicates=replicates,
        level=level,
        seed=seed,
        sheet=sheet,
    )
    result = compute(lambda: ranks_file(file, request), as_json)
    s = result.summary
    err.print(
        Text(
            f"ranks: {s['n_units']} units in {s['n_groups']} table(s), rank 1 = {s['rank_1_is']}; "
            f"{s['n_differ_from_middle']} can be told apart from the middle at {s['level']:.0%} "
            f"({s['replicates']} replicates, seed {s['seed']})"
        )
    )
    deliver("ranks", result, output=output, as_json=as_json)
