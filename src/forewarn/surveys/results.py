"""Survey results: one service behind the command line now and the API and pages later, so all show the same.

:func:`analyse_groups` scores and aggregates any respondents x items matrix through :mod:`forewarn.stats` and
applies the disclosure rules of :mod:`forewarn.surveys.privacy` on the way: suppressed cells are blanked before
any statistic is computed, so no published figure depends on them. :func:`wave_results` runs it on a closed
wave (and compares with an earlier one); :func:`pooled_summary` pools a selection of organisations.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from scipy import stats as scipy_stats
from sqlalchemy import Engine

from forewarn.stats.psychometrics import (
    AggregationOptions,
    AggregationReport,
    RandomGroupOptions,
    ReliabilityOptions,
    ScaleSpec,
    aggregation_report,
    group_sums,
    reverse_key,
    scale_reliability,
)
from forewarn.surveys.errors import DisclosureRefusedError, SurveyError
from forewarn.surveys.instrument import Instrument
from forewarn.surveys.privacy import DisclosureControl
from forewarn.surveys.responses import load_wave_responses
from forewarn.surveys.result_types import (
    CellResult,
    ChangeResult,
    DimensionResult,
    GroupAnalysis,
    ItemResult,
    PooledDimension,
    PooledSummary,
    WaveProgress,
    WaveResults,
)
from forewarn.surveys.waves import WaveInfo, WaveRef, count_responses, resolve_wave_id, wave_info

DEFAULT_RESAMPLES = 1000  # pseudo-groups per size: cheap since they are drawn per size, and steadier verdicts
RESAMPLING_SEED = 2002
CI_LEVEL = 0.95
NOT_JUDGED = "not judged"
NO_RESAMPLING = "random-group resampling was switched off, so agreement was not tested against chance"


@dataclass(frozen=True)
class ScaleLayout:
    """Which item belongs to which dimension, how it is keyed, and the scoring rule: what the statistics need."""

    item_codes: tuple[str, ...]
    item_dimension: tuple[int, ...]
    dimension_codes: tuple[str, ...]
    dimension_names: tuple[str, ...]
    reverse_keyed: tuple[bool, ...]
    response_min: int
    response_max: int
    min_answers: int

    @classmethod
    def from_instrument(cls, instrument: Instrument) -> ScaleLayout:
        return cls(
            item_codes=instrument.item_codes,
            item_dimension=instrument.item_dimension,
            dimension_codes=instrument.dimension_codes,
            dimension_names=tuple(d.name for d in instrument.dimensions),
            reverse_keyed=instrument.reverse_keyed,
            response_min=instrument.scale.min,
            response_max=instrument.scale.max,
            min_answers=instrument.min_answers_per_dimension,
        )

    def spec(self) -> ScaleSpec:
        sizes = np.bincount(self.item_dimension, minlength=len(self.dimension_codes))
        return ScaleSpec(
            item_scale=self.item_dimension,
            reverse_keyed=self.reverse_keyed,
            response_min=float(self.response_min),
            response_max=float(self.response_max),
            min_answers=tuple(min(self.min_answers, int(s)) for s in sizes),
            scale_names=self.dimension_codes,
        )


def _number(value: float | np.floating | None) -> float | None:
    """A JSON-safe float: None for NaN or a missing value."""
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) or math.isinf(value) else value


def _scored(answers: NDArray[np.float64], layout: ScaleLayout) -> NDArray[np.bool_]:
    """Respondents x dimensions: whether the respondent answered enough items to have a score.

    The minimum-answers rule of the scale scores, counted with one matrix product: the suppression decision needs
    only these counts, not the scores.
    """
    membership = np.zeros((len(layout.item_codes), len(layout.dimension_codes)))
    membership[np.arange(len(layout.item_codes)), np.asarray(layout.item_dimension)] = 1.0
    answered: NDArray[np.float64] = (~np.isnan(answers)).astype(np.float64) @ membership
    return answered >= np.asarray(layout.spec().min_answers)[None, :]


def _counts(scored: NDArray[np.bool_], group_index: NDArray[np.int64], n_groups: int) -> NDArray[np.int64]:
    """Groups x dimensions: respondents with a score."""
    return np.rint(group_sums(scored.astype(np.float64), group_index, n_groups)).astype(np.int64)


def _blank_suppressed(
    answers: NDArray[np.float64],
    group_index: NDArray[np.int64],
    publishable: NDArray[np.bool_],
    item_dimension: Sequence[int],
) -> NDArray[np.float64]:
    """Answers with every item of every suppressed (group, dimension) cell set to NaN."""
    hidden = ~publishable[group_index][:, np.asarray(item_dimension)]
    if not hidden.any():
        return answers
    return np.where(hidden, np.nan, answers)


def published_report(
    answers: NDArray[np.float64],
    group_index: NDArray[np.int64],
    n_groups: int,
    layout: ScaleLayout,
    control: DisclosureControl,
    n_resamples: int,
    seed: int,
) -> tuple[AggregationReport, NDArray[np.bool_], NDArray[np.int64], NDArray[np.float64]]:
    """The aggregation report of the answers left once every suppressed cell is blanked, with which cells are
    publishable, the groups' scored counts and the blanked answers (:func:`analyse_groups`)."""
    scored = _scored(answers, layout)
    counts = _counts(scored, group_index, n_groups)
    publishable = counts >= control.min_group_size
    visible = _blank_suppressed(answers, group_index, publishable, layout.item_dimension)
    report = aggregation_report(
        visible,
        layout.spec(),
        group_index,
        n_groups,
        AggregationOptions(
            min_respondents=control.min_group_size,
            ci_level=CI_LEVEL,
            resampling=RandomGroupOptions(n_resamples=n_resamples, seed=seed),
        ),
    )
    return report, publishable, counts, visible


def analyse_groups(
    answers: NDArray[np.float64],
    group_index: NDArray[np.int64],
    group_labels: Sequence[str],
    layout: ScaleLayout,
    control: DisclosureControl,
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = RESAMPLING_SEED,
) -> GroupAnalysis:
    """Score, check and aggregate respondents' answers per group and dimension, suppressing small cells.

    A cell (group x dimension) is published when at least ``control.min_group_size`` respondents have a score on
    the dimension. The answers of unpublished cells are blanked before anything is computed, so every figure
    returned, pooled ones included, is the same whatever those respondents answered.
    """
    n_dims = len(layout.dimension_codes)
    report, publishable, counts, visible = published_report(
        answers, group_index, len(group_labels), layout, control, n_resamples, seed
    )
    cells = _cells(report, group_labels, layout, publishable, counts, control)
    keyed = reverse_key(visible, layout.reverse_keyed, float(layout.response_min), float(layout.response_max))
    dimensions = tuple(_dimension(report, keyed, layout, d, publishable[:, d]) for d in range(n_dims))
    return GroupAnalysis(
        min_group_size=control.min_group_size,
        n_resamples=n_resamples,
        null_names=report.null_names,
        cells=cells,
        dimensions=dimensions,
    )


def _listed(values: NDArray[np.float64]) -> list[Any]:
    """An array as nested Python lists, None where it is not a finite number (JSON-safe, built in one pass)."""
    listed = values.astype(object)
    listed[~np.isfinite(values)] = None
    result: list[Any] = listed.tolist()
    return result


def _cells(
    report: AggregationReport,
    group_labels: Sequence[str],
    layout: ScaleLayout,
    publishable: NDArray[np.bool_],
    counts: NDArray[np.int64],
    control: DisclosureControl,
) -> tuple[CellResult, ...]:
    # Everything converted to Python lists in a few array passes: one object per cell is the only per-cell work.
    n, mean, sd = report.n.tolist(), _listed(report.mean), _listed(report.sd)
    lower, upper, awg = _listed(report.ci_lower), _listed(report.ci_upper), _listed(report.awg_j)
    rwg = _listed(report.rwg_j)
    verdict, reason = report.verdict.tolist(), report.reason.tolist()
    if report.n_resamples == 0:
        # Without random groups the two agreement checks are not made: "aggregate" would claim more than is known.
        verdict = [[NOT_JUDGED if v == "aggregate" else v for v in row] for row in verdict]
        reason = [[r or NO_RESAMPLING for r in row] for row in reason]
    shown, hidden_n = publishable.tolist(), counts.tolist()
    nulls = report.null_names
    cells: list[CellResult] = []
    for g, label in enumerate(group_labels):
        for d, dimension in enumerate(layout.dimension_codes):
            if not shown[g][d]:
                cells.append(CellResult(label, dimension, True, control.shown_n(hidden_n[g][d])))
                continue
            cells.append(
                CellResult(
                    group=label,
                    dimension=dimension,
                    suppressed=False,
                    n=n[d][g],
                    mean=mean[d][g],
                    sd=sd[d][g],
                    ci_lower=lower[d][g],
                    ci_upper=upper[d][g],
                    rwg_j={name: rwg[d][k][g] for k, name in enumerate(nulls)},
                    awg=awg[d][g],
                    verdict=verdict[d][g],
                    reason=reason[d][g],
                )
            )
    return tuple(cells)


def _dimension(
    report: AggregationReport,
    keyed: NDArray[np.float64],
    layout: ScaleLayout,
    d: int,
    shown: NDArray[np.bool_],
) -> DimensionResult:
    columns = [i for i, dim in enumerate(layout.item_dimension) if dim == d]
    # Only respondents in published cells have answers left on this dimension's items; scale_reliability
    # counts only respondents with an answer.
    items = keyed[:, columns]
    respondents = int(report.n[d][shown].sum())
    if respondents < 2:
        return DimensionResult(
            layout.dimension_codes[d],
            layout.dimension_names[d],
            int(shown.sum()),
            int((~shown).sum()),
            respondents,
            None,
            None,
            None,
            None,
            None,
            None,
            tuple(
                ItemResult(layout.item_codes[c], 0, None, None, None, None, layout.reverse_keyed[c])
                for c in columns
            ),
        )
    reliability = scale_reliability(items, options=ReliabilityOptions(ci_level=CI_LEVEL))
    return DimensionResult(
        dimension=layout.dimension_codes[d],
        name=layout.dimension_names[d],
        groups_shown=int(shown.sum()),
        groups_suppressed=int((~shown).sum()),
        respondents=respondents,
        alpha=_number(reliability.raw_alpha[0]),
        alpha_ci_lower=_number(reliability.feldt_lower[0]),
        alpha_ci_upper=_number(reliability.feldt_upper[0]),
        omega=_number(reliability.omega_total[0]),
        icc1=_number(report.icc1[d]),
        icc2=_number(report.icc2[d]),
        items=tuple(
            ItemResult(
                item=layout.item_codes[c],
                n=int(reliability.item_n[0, k]),
                mean=_number(reliability.item_mean[0, k]),
                sd=_number(reliability.item_sd[0, k]),
                item_total_r=_number(reliability.r_drop[0, k]),
                alpha_if_deleted=_number(reliability.alpha_if_dropped[0, k]),
                reverse_keyed=layout.reverse_keyed[c],
            )
            for k, c in enumerate(columns)
        ),
    )


# -- waves --------------------------------------------------------------------------------------------------------


def _closed_wave(info: WaveInfo) -> None:
    if info.status != "closed":
        raise DisclosureRefusedError(
            f"wave {info.name!r} is {info.status}: results are published only once a wave is closed, because two "
            "releases a few answers apart would reveal those answers"
        )


def _analyse_wave(
    engine: Engine, wave: WaveRef, n_resamples: int, floor: int
) -> tuple[WaveInfo, Instrument, GroupAnalysis]:
    with engine.connect() as conn:
        wave_id = resolve_wave_id(conn, wave)
        info = wave_info(conn, wave_id, floor=floor)
        _closed_wave(info)
        data = load_wave_responses(conn, wave_id)
    # Every organisation of the wave appears, those without answers suppressed, so absence is not a signal.
    analysis = analyse_groups(
        data.answers,
        data.organisation_index,
        data.organisation_codes,
        ScaleLayout.from_instrument(data.instrument),
        DisclosureControl(info.min_group_size),
        n_resamples=n_resamples,
    )
    return info, data.instrument, analysis


def compare_cells(
    before: GroupAnalysis, after: GroupAnalysis, level: float = CI_LEVEL
) -> tuple[ChangeResult, ...]:
    """Per organisation and dimension in both analyses: the change in mean, its Welch interval and test.

    A change is computed only where both cells are published; otherwise the row is suppressed.
    """
    earlier = {(c.group, c.dimension): c for c in before.cells}
    changes: list[ChangeResult] = []
    for late in after.cells:
        early = earlier.get((late.group, late.dimension))
        if early is None:
            continue
        if early.suppressed or late.suppressed or early.sd is None or late.sd is None:
            changes.append(ChangeResult(late.group, late.dimension, True, early.n, late.n))
            continue
        assert (
            isinstance(early.n, int)
            and isinstance(late.n, int)
            and early.mean is not None
            and late.mean is not None
        )
        changes.append(
            _welch(
                late.group, late.dimension, early.n, early.mean, early.sd, late.n, late.mean, late.sd, level
            )
        )
    return tuple(changes)


def _welch(
    group: str, dimension: str, n1: int, m1: float, s1: float, n2: int, m2: float, s2: float, level: float
) -> ChangeResult:
    # Welch (1947): unequal variances, Satterthwaite degrees of freedom.
    v1, v2 = s1 * s1 / n1, s2 * s2 / n2
    se = math.sqrt(v1 + v2)
    difference = m2 - m1
    if se == 0.0:
        return ChangeResult(
            group,
            dimension,
            False,
            n1,
            n2,
            m1,
            m2,
            difference,
            difference,
            difference,
            None,
            None,
            None,
            difference != 0.0,
        )
    df = (v1 + v2) ** 2 / (v1 * v1 / (n1 - 1) + v2 * v2 / (n2 - 1))
    t = difference / se
    p = float(2.0 * scipy_stats.t.sf(abs(t), df))
    half = float(scipy_stats.t.ppf(0.5 + level / 2.0, df)) * se
    return ChangeResult(
        group,
        dimension,
        False,
        n1,
        n2,
        m1,
        m2,
        difference,
        difference - half,
        difference + half,
        t,
        df,
        p,
        p < 1.0 - level,
    )


def wave_results(
    engine: Engine,
    wave: WaveRef,
    *,
    floor: int,
    compare_with: WaveRef | None = None,
    n_resamples: int = DEFAULT_RESAMPLES,
) -> WaveResults:
    """Results of a closed wave: per organisation x dimension, per dimension, and per item, with suppression.

    Groups under the wave's minimum group size, never below ``floor`` (the minimum group size setting), are
    suppressed.
    With ``compare_with`` (an earlier closed wave), also each organisation's change on every dimension the two
    instruments share. Refuses (:class:`DisclosureRefusedError`) a wave that is not closed.
    """
    info, instrument, analysis = _analyse_wave(engine, wave, n_resamples, floor)
    notes = [
        f"Groups with fewer than {analysis.min_group_size} respondents are suppressed; their answers are left out "
        "of every figure, pooled ones included.",
    ]
    if compare_with is None:
        return WaveResults(
            info.to_dict(), instrument.label, instrument.checksum, analysis, notes=tuple(notes)
        )
    earlier_info, earlier_instrument, earlier = _analyse_wave(engine, compare_with, n_resamples, floor)
    if earlier_info.id == info.id:
        raise SurveyError("compare a wave with a different wave")
    shared = set(instrument.dimension_codes) & set(earlier_instrument.dimension_codes)
    if not shared:
        raise SurveyError(f"{earlier_instrument.label} and {instrument.label} share no dimension to compare")
    if earlier_instrument.checksum != instrument.checksum:
        notes.append(
            f"The waves used different instruments ({earlier_instrument.label}, {instrument.label}); "
            "compared on the dimensions they share."
        )
    changes = tuple(c for c in compare_cells(earlier, analysis) if c.dimension in shared)
    return WaveResults(
        info.to_dict(),
        instrument.label,
        instrument.checksum,
        analysis,
        earlier_info.name,
        changes,
        tuple(notes),
    )


# -- pooled selections --------------------------------------------------------------------------------------------


def pooled_summary(
    engine: Engine,
    wave: WaveRef,
    organisations: Sequence[str] | None = None,
    *,
    floor: int,
    source: Literal["token", "import"] | None = None,
) -> PooledSummary:
    """Pool a selection of organisations (a region, a peer group) per dimension: n, mean, SD and 95% interval.

    Only published cells contribute (an organisation's suppressed dimensions add nothing), so any two selections
    differ only by published cells. ``source`` keeps only token-submitted or only uploaded answers; it is refused
    for the whole query when, in any selected published cell, the answers kept or the answers left out number
    fewer than the minimum (the cell's published total minus this figure would reveal them).
    """
    with engine.connect() as conn:
        wave_id = resolve_wave_id(conn, wave)
        info = wave_info(conn, wave_id, floor=floor)
        _closed_wave(info)
        data = load_wave_responses(conn, wave_id)
    chosen = list(info.organisations) if organisations is None else list(dict.fromkeys(organisations))
    outside = [c for c in chosen if c not in info.organisations]
    if outside:
        raise SurveyError(f"organisation(s) not in wave {info.name!r}: {', '.join(outside)}")
    control = DisclosureControl(info.min_group_size)
    layout = ScaleLayout.from_instrument(data.instrument)
    spec = layout.spec()
    n_dims = len(layout.dimension_codes)
    labels = data.organisation_codes
    scored = _scored(data.answers, layout)
    counts = _counts(scored, data.organisation_index, len(labels))
    publishable = counts >= control.min_group_size
    selected = np.array([code in chosen for code in labels], dtype=bool)
    keep_rows = selected[data.organisation_index]
    if source is not None:
        wanted = data.uploaded if source == "import" else ~data.uploaded
        kept_counts = _counts(scored & wanted[:, None], data.organisation_index, len(labels))
        for g in np.flatnonzero(selected):
            for d in range(n_dims):
                if publishable[g, d]:
                    control.check_filter(
                        int(kept_counts[g, d]),
                        int(counts[g, d]),
                        f"organisation {labels[g]} on {layout.dimension_codes[d]}",
                    )
        keep_rows = keep_rows & wanted
    visible = _blank_suppressed(data.answers, data.organisation_index, publishable, layout.item_dimension)
    visible = visible[keep_rows]
    report = aggregation_report(
        visible,
        spec,
        np.zeros(visible.shape[0], dtype=np.int64),
        1,
        AggregationOptions(
            min_respondents=control.min_group_size, ci_level=CI_LEVEL, resampling=RandomGroupOptions(0)
        ),
    )
    dimensions = []
    for d, code in enumerate(layout.dimension_codes):
        n = int(report.n[d, 0])
        if not control.publishable(n):
            dimensions.append(PooledDimension(code, control.shown_n(n), True, None, None, None, None))
            continue
        dimensions.append(
            PooledDimension(
                code,
                n,
                False,
                _number(report.mean[d, 0]),
                _number(report.sd[d, 0]),
                _number(report.ci_lower[d, 0]),
                _number(report.ci_upper[d, 0]),
            )
        )
    return PooledSummary(info.name, tuple(sorted(chosen)), source, tuple(dimensions))


# -- flat tables and progress -------------------------------------------------------------------------------------


def cell_rows(analysis: GroupAnalysis) -> list[dict[str, object]]:
    """One flat row per group x dimension (for CSV export and tables); suppressed rows keep only ``n`` as "<m"."""
    rows: list[dict[str, object]] = []
    for c in analysis.cells:
        row: dict[str, object] = {
            "group": c.group,
            "dimension": c.dimension,
            "suppressed": c.suppressed,
            "n": str(c.n),
            "mean": c.mean,
            "sd": c.sd,
            "ci_lower": c.ci_lower,
            "ci_upper": c.ci_upper,
        }
        for name in analysis.null_names:
            row[f"rwg_j_{name}"] = None if c.rwg_j is None else c.rwg_j.get(name)
        row.update({"awg": c.awg, "verdict": c.verdict, "reason": c.reason})
        rows.append(row)
    return rows


def wave_progress(engine: Engine, wave: WaveRef, *, floor: int) -> WaveProgress:
    """How many answer sets each organisation has so far (no answers, and no total that would reveal small counts);
    ``floor`` is the minimum group size setting."""
    with engine.connect() as conn:
        wave_id = resolve_wave_id(conn, wave)
        info = wave_info(conn, wave_id, floor=floor)
        counts = count_responses(conn, wave_id)
    control = DisclosureControl(info.min_group_size)
    return WaveProgress(info.to_dict(), {code: control.shown_n(n) for code, n in counts.items()})


__all__ = [
    "CI_LEVEL",
    "DEFAULT_RESAMPLES",
    "NOT_JUDGED",
    "NO_RESAMPLING",
    "RESAMPLING_SEED",
    "ScaleLayout",
    "analyse_groups",
    "cell_rows",
    "compare_cells",
    "pooled_summary",
    "published_report",
    "wave_progress",
    "wave_results",
]
