"""A closed wave's published cell means alone: what readers of the means (the risk model) need of
:func:`forewarn.surveys.results.wave_results`, the same values, without the agreement checks, the reliability
and the per-cell result objects."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Engine

from forewarn.surveys.privacy import DisclosureControl
from forewarn.surveys.responses import WaveResponses, load_wave_responses, load_waves_responses
from forewarn.surveys.results import ScaleLayout, _closed_wave, published_report
from forewarn.surveys.waves import WaveInfo, WaveRef, resolve_wave_id, wave_info


@dataclass(frozen=True)
class PublishedMeans:
    """A closed wave's published organisation x dimension cells, as arrays (one entry a cell, organisations in
    the wave's order, dimensions within each): what :func:`forewarn.surveys.results.wave_results` publishes of
    each cell's ``n``, mean and standard deviation, and nothing else."""

    group: tuple[str, ...]
    dimension: tuple[str, ...]
    n: NDArray[np.int64]
    mean: NDArray[np.float64]
    sd: NDArray[np.float64]  # NaN where the published sd is missing


def published_means(engine: Engine, wave: WaveRef, *, floor: int) -> PublishedMeans:
    """The cells of a closed wave that :func:`forewarn.surveys.results.wave_results` publishes with a mean (not
    suppressed, mean defined), with their ``n``, mean and standard deviation, the same values to the bit,
    computed without what those figures do not need: the random-group agreement checks, the reliability of each
    dimension and the per-cell result objects (for readers of the means alone, such as the risk model: most of
    the cost of ``wave_results``). Refuses a wave that is not closed, as it does."""
    with engine.connect() as conn:
        wave_id = resolve_wave_id(conn, wave)
        info = wave_info(conn, wave_id, floor=floor)
        _closed_wave(info)
        data = load_wave_responses(conn, wave_id)
    return _published(data, info)


def published_means_of_waves(
    engine: Engine, waves: Sequence[WaveRef], *, floor: int
) -> Iterator[tuple[int, PublishedMeans]]:
    """:func:`published_means` of each of ``waves`` (wave id, its means), in order, their responses read in one
    pass (:func:`forewarn.surveys.responses.load_waves_responses`). Refuses, before reading any, if one is not
    closed."""
    with engine.connect() as conn:
        infos = [wave_info(conn, resolve_wave_id(conn, wave), floor=floor) for wave in waves]
        for info in infos:
            _closed_wave(info)
        wave_ids = [info.id for info in infos]
        for (wave_id, data), info in zip(load_waves_responses(conn, wave_ids), infos, strict=True):
            yield wave_id, _published(data, info)


def _published(data: WaveResponses, info: WaveInfo) -> PublishedMeans:
    layout = ScaleLayout.from_instrument(data.instrument)
    labels = data.organisation_codes
    report, publishable, _, _ = published_report(
        data.answers,
        data.organisation_index,
        len(labels),
        layout,
        DisclosureControl(info.min_group_size),
        0,
        0,
    )
    # Cells group-major, dimension-minor (the order of GroupAnalysis.cells); report arrays are dimension x group.
    shown = publishable & np.isfinite(report.mean.T)
    groups, dims = np.nonzero(shown)
    return PublishedMeans(
        group=tuple(labels[g] for g in groups),
        dimension=tuple(layout.dimension_codes[d] for d in dims),
        n=np.asarray(report.n.T[groups, dims], dtype=np.int64),
        mean=np.asarray(report.mean.T[groups, dims], dtype=np.float64),
        sd=np.asarray(report.sd.T[groups, dims], dtype=np.float64),
    )


__all__ = ["PublishedMeans", "published_means", "published_means_of_waves"]
