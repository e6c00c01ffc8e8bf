"""Soft measures: an organisation's staff-survey results in its latest closed waves, as its page shows them,
and a one-line status per organisation for the portfolio.

Every figure comes from :mod:`forewarn.surveys` with its disclosure rules already applied (suppressed cells stay
suppressed); closed waves never reopen, so these read only published results.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping

from sqlalchemy import Connection, Engine

from forewarn.cases.evidence import SoftMeasure, SoftMeasuresOf
from forewarn.surveys.result_types import CellResult, WaveResults
from forewarn.surveys.results import wave_results
from forewarn.surveys.waves import WaveInfo, closed_wave_ids, wave_info
from forewarn.views.lookup import organisation_codes
from forewarn.views.model import Model
from forewarn.views.portfolio import Portfolio, PortfolioOut
from forewarn.views.scan import data_version

LATEST_WAVES = 3

ResultsOf = Callable[[Engine, int, int], WaveResults]
"""A closed wave's results: ``(engine, wave_id, min_group_size)``. The web app passes one that keeps them (a closed
wave's answers are frozen); the default computes them each time."""


def computed_results(engine: Engine, wave_id: int, min_group_size: int) -> WaveResults:
    """A wave's results, computed now (:func:`forewarn.surveys.results.wave_results`)."""
    return wave_results(engine, wave_id, floor=min_group_size)


class SoftDimensionOut(Model):
    code: str
    name: str
    n: int | str
    mean: float | None
    ci_lower: float | None
    ci_upper: float | None
    suppressed: bool


class SoftMeasuresOut(Model):
    wave: str
    wave_id: int
    closed_at: dt.datetime | None
    respondents: int | str
    suppressed: bool
    verdict: str | None
    verdict_detail: str | None
    dimensions: list[SoftDimensionOut]


def closed_waves(conn: Connection, min_group_size: int) -> list[WaveInfo]:
    """Closed waves, newest first (``min_group_size``: the app's setting, the floor under every wave's own)."""
    waves = [wave_info(conn, wave_id, floor=min_group_size) for wave_id in closed_wave_ids(conn)]
    return sorted(waves, key=lambda w: w.closed_at or w.created_at, reverse=True)


def _cells(results: WaveResults, code: str) -> list[CellResult]:
    return [c for c in results.analysis.cells if c.group == code]


def _measures(wave: WaveInfo, results: WaveResults, code: str) -> SoftMeasuresOut:
    names = {d.dimension: d.name for d in results.analysis.dimensions}
    cells = _cells(results, code)
    shown = [c for c in cells if not c.suppressed]
    supported = sum(1 for c in shown if c.verdict == "aggregate")
    respondents: int | str = (
        max((c.n for c in shown if isinstance(c.n, int)), default=0)
        if shown
        else (cells[0].n if cells else 0)
    )
    return SoftMeasuresOut(
        wave=wave.name,
        wave_id=wave.id,
        closed_at=wave.closed_at,
        respondents=respondents,
        suppressed=not shown,
        verdict=f"Aggregation to the organisation is supported on {supported} of {len(shown)} dimensions"
        if shown
        else None,
        verdict_detail="Where it is not, staff disagree too much for one organisational score to mean much."
        if shown and supported < len(shown)
        else None,
        dimensions=[
            SoftDimensionOut(
                code=c.dimension,
                name=names.get(c.dimension, c.dimension),
                n=c.n,
                mean=c.mean,
                ci_lower=c.ci_lower,
                ci_upper=c.ci_upper,
                suppressed=c.suppressed,
            )
            for c in cells
        ],
    )


def soft_measures(
    conn: Connection,
    code: str,
    *,
    min_group_size: int,
    latest: int = LATEST_WAVES,
    results_of: ResultsOf = computed_results,
) -> list[SoftMeasuresOut]:
    """The organisation's results in its latest closed waves (suppressed cells stay suppressed; groups under the
    app's ``min_group_size`` setting always are)."""
    waves = [w for w in closed_waves(conn, min_group_size) if code in w.organisations][:latest]
    return [_measures(wave, results_of(conn.engine, wave.id, min_group_size), code) for wave in waves]


def _status(wave: WaveInfo, results: WaveResults, code: str) -> str:
    shown = [c for c in _cells(results, code) if not c.suppressed]
    if not shown:
        return f"{wave.name}: too few respondents to show"
    supported = sum(1 for c in shown if c.verdict == "aggregate")
    return f"{wave.name}: {supported} of {len(shown)} dimensions can be aggregated"


def soft_statuses(
    conn: Connection,
    codes: Mapping[int, str],
    *,
    min_group_size: int,
    results_of: ResultsOf = computed_results,
) -> dict[int, str]:
    """Per organisation (id -> code), a one-line status from its latest closed wave; each wave's results are
    read once."""
    closed = closed_waves(conn, min_group_size) if codes else []
    results: dict[int, WaveResults] = {}
    found: dict[int, str] = {}
    for org_id, code in codes.items():
        wave = next((w for w in closed if code in w.organisations), None)
        if wave is None:
            continue
        if wave.id not in results:
            results[wave.id] = results_of(conn.engine, wave.id, min_group_size)
        found[org_id] = _status(wave, results[wave.id], code)
    return found


def with_soft_status(
    portfolio: Portfolio, conn: Connection, *, min_group_size: int, results_of: ResultsOf = computed_results
) -> PortfolioOut:
    """The portfolio page with each row's soft-measure status, read on the caller's connection (a wave's results
    may open one of their own unless ``results_of`` keeps them); ``min_group_size`` is the app's setting. With no
    closed wave in the store this costs nothing (the data version the request has read counts them)."""
    if not portfolio.ids or not data_version(conn).closed_waves:
        return portfolio.page
    statuses = soft_statuses(
        conn, organisation_codes(conn, portfolio.ids), min_group_size=min_group_size, results_of=results_of
    )
    rows = [
        row.model_copy(update={"soft_status": statuses.get(i)})
        for row, i in zip(portfolio.page.organisations, portfolio.ids, strict=True)
    ]
    return portfolio.page.model_copy(update={"organisations": rows})


def case_soft_measures(*, min_group_size: int, results_of: ResultsOf = computed_results) -> SoftMeasuresOf:
    """What a case pulls in as soft measures (:mod:`forewarn.cases.evidence`): the dimensions of the
    organisation's latest closed wave exactly as its page shows them (suppressed groups stay suppressed)."""

    def measures(conn: Connection, code: str) -> list[SoftMeasure]:
        waves = soft_measures(conn, code, min_group_size=min_group_size, latest=1, results_of=results_of)
        return [
            SoftMeasure(
                wave=w.wave,
                closed_on=None if w.closed_at is None else w.closed_at.date(),
                dimension=d.name,
                respondents=d.n,
                mean=None if d.suppressed else d.mean,
                ci_lower=None if d.suppressed else d.ci_lower,
                ci_upper=None if d.suppressed else d.ci_upper,
                suppressed=d.suppressed,
            )
            for w in waves
            for d in w.dimensions
        ]

    return measures
