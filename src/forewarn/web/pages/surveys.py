"""Surveys: waves and their progress, issued tokens, results with suppression, and the respondent's form.

Every figure comes from :mod:`forewarn.surveys` with its disclosure rules already applied; this module only
narrows what an account sees (a member: their own organisation by name, granted peers by pseudonym).
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine

from forewarn.access.policy import Visibility
from forewarn.surveys.instrument import Instrument, builtin_instruments
from forewarn.surveys.results import wave_progress, wave_results
from forewarn.surveys.waves import WaveInfo, get_wave, list_waves, wave_instrument
from forewarn.views.lookup import organisation_codes
from forewarn.web.errors import NotFoundError
from forewarn.web.schemas import (
    ResultCellOut,
    ResultDimensionOut,
    SurveyDimensionOut,
    SurveyFormOut,
    SurveyItemOut,
    WaveDetailOut,
    WaveOut,
    WaveProgressRow,
    WaveResultsOut,
    WavesOut,
)

POOLED_FOR_STAFF = (
    "Figures pooled across the whole wave (respondents, organisations, reliability and agreement) are shown to "
    "regulator staff only: they include organisations your account may not see."
)


class Labels:
    """How an account sees the organisations of a survey: by code/name, by pseudonym, or not at all."""

    def __init__(self, conn: Connection, visibility: Visibility) -> None:
        self.visibility = visibility
        if visibility.all_organisations:
            self._named: dict[str, int] | None = None
            self._peers: dict[str, str] = {}
        else:
            own = [visibility.own] if visibility.own is not None else []
            self._named = {code: i for i, code in organisation_codes(conn, own).items()}
            self._peers = {
                code: visibility.peers[i]
                for i, code in organisation_codes(conn, list(visibility.peers)).items()
            }

    def sees(self, code: str) -> bool:
        return self._named is None or code in self._named or code in self._peers

    def label(self, code: str) -> str:
        return self._peers.get(code, code)

    def own(self, code: str) -> bool:
        return self._named is not None and code in self._named

    def anonymised(self, code: str) -> bool:
        return code in self._peers

    def named(self, codes: tuple[str, ...]) -> list[str]:
        return [c for c in codes if self._named is None or c in self._named]


def wave_out(wave: WaveInfo, labels: Labels) -> WaveOut:
    return WaveOut(
        id=wave.id,
        name=wave.name,
        status=wave.status,
        instrument=wave.instrument,
        min_group_size=wave.min_group_size,
        created_by=wave.created_by,
        created_at=wave.created_at,
        opened_at=wave.opened_at,
        closed_at=wave.closed_at,
        organisations=labels.named(wave.organisations),
        organisations_total=sum(1 for c in wave.organisations if labels.sees(c)),
        url=f"/surveys/{wave.id}",
    )


def _visible_waves(engine: Engine, labels: Labels, min_group_size: int) -> list[WaveInfo]:
    return [
        w for w in list_waves(engine, floor=min_group_size) if any(labels.sees(c) for c in w.organisations)
    ]


def build_waves(engine: Engine, labels: Labels, min_group_size: int) -> WavesOut:
    waves = sorted(_visible_waves(engine, labels, min_group_size), key=lambda w: w.id, reverse=True)
    return WavesOut(
        waves=[wave_out(w, labels) for w in waves],
        instruments=[i.label for i in builtin_instruments()],
    )


def visible_wave(engine: Engine, labels: Labels, wave_id: int, min_group_size: int) -> WaveInfo:
    try:
        wave = get_wave(engine, wave_id, floor=min_group_size)
    except Exception as exc:  # WaveNotFound, or a malformed id
        raise NotFoundError("There is no survey wave at this address.") from exc
    if not any(labels.sees(c) for c in wave.organisations):
        raise NotFoundError("There is no survey wave at this address.")
    return wave


def build_wave_detail(engine: Engine, labels: Labels, wave_id: int, min_group_size: int) -> WaveDetailOut:
    wave = visible_wave(engine, labels, wave_id, min_group_size)
    progress = wave_progress(engine, wave.id, floor=min_group_size)
    rows = [
        WaveProgressRow(label=labels.label(code), responses=n)
        for code, n in progress.responses.items()
        if labels.sees(code)
    ]
    return WaveDetailOut(
        wave=wave_out(wave, labels),
        progress=sorted(rows, key=lambda r: r.label),
        results_available=wave.status == "closed",
    )


def build_results(engine: Engine, labels: Labels, wave_id: int, min_group_size: int) -> WaveResultsOut:
    wave = visible_wave(engine, labels, wave_id, min_group_size)
    if wave.status != "closed":
        return WaveResultsOut(
            wave=wave_out(wave, labels),
            available=False,
            message="Results are published once the wave has closed: figures that change as answers arrive "
            "would reveal those answers.",
            min_group_size=wave.min_group_size,
            dimensions=[],
            notes=[],
        )
    results = wave_results(engine, wave.id, floor=min_group_size)
    # Figures pooled over the whole wave include organisations a member may not see: subtracting their own and
    # their peers' published n from the wave's respondents would tell the rest. Staff only.
    pooled = labels.visibility.all_organisations
    dimensions = []
    for d in results.analysis.dimensions:
        cells = [
            ResultCellOut(
                label=labels.label(c.group),
                own=labels.own(c.group),
                anonymised=labels.anonymised(c.group),
                suppressed=c.suppressed,
                n=c.n,
                mean=c.mean,
                sd=c.sd,
                ci_lower=c.ci_lower,
                ci_upper=c.ci_upper,
                awg=c.awg,
                verdict=c.verdict,
            )
            for c in results.analysis.cells
            if c.dimension == d.dimension and labels.sees(c.group)
        ]
        dimensions.append(
            ResultDimensionOut(
                code=d.dimension,
                name=d.name,
                respondents=d.respondents if pooled else None,
                groups_shown=d.groups_shown if pooled else None,
                groups_suppressed=d.groups_suppressed if pooled else None,
                alpha=d.alpha if pooled else None,
                alpha_ci_lower=d.alpha_ci_lower if pooled else None,
                alpha_ci_upper=d.alpha_ci_upper if pooled else None,
                icc1=d.icc1 if pooled else None,
                icc2=d.icc2 if pooled else None,
                cells=sorted(cells, key=lambda c: (not c.own, c.label)),
            )
        )
    return WaveResultsOut(
        wave=wave_out(wave, labels),
        available=True,
        message=None,
        min_group_size=results.analysis.min_group_size,
        dimensions=dimensions,
        notes=list(results.notes) + ([] if pooled else [POOLED_FOR_STAFF]),
    )


def survey_form(conn: Connection, wave_id: int, wave_name: str) -> tuple[SurveyFormOut, Instrument]:
    instrument = wave_instrument(conn, wave_id)
    return (
        SurveyFormOut(
            wave=wave_name,
            instrument=instrument.name,
            scale=list(instrument.scale.labels),
            scale_min=instrument.scale.min,
            dimensions=[
                SurveyDimensionOut(
                    code=d.code,
                    name=d.name,
                    description=d.description,
                    items=[SurveyItemOut(code=i.code, text=i.text) for i in d.items],
                )
                for d in instrument.dimensions
            ],
        ),
        instrument,
    )
