"""Soft measures as the risk model may read them: each closed survey wave's published organisation results.

Only what the survey service publishes is used: organisation x dimension means of groups of at least the minimum
size (smaller groups are suppressed there and never reach the model). A wave's results are known from the month
after its last answers came in.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
from sqlalchemy import Engine, func, select

from forewarn.risk.history import SOFT_SCHEMA
from forewarn.store.models import Organisation
from forewarn.store.models_surveys import SurveyResponse
from forewarn.surveys.results import wave_results
from forewarn.surveys.waves import list_waves

# Random-group resamples for the survey results the model reads (it uses the means, not the agreement test).
RESAMPLES = 100


def _month_after(day: dt.date) -> dt.date:
    return (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def survey_cells(engine: Engine, *, min_group_size: int) -> pl.DataFrame:
    """Published organisation x dimension means of every closed wave, with the date they became known (groups
    under ``min_group_size``, the setting, or under the wave's own higher minimum, are suppressed)."""
    frames = []
    with engine.connect() as conn:
        codes: dict[str, int] = dict(conn.execute(select(Organisation.code, Organisation.id)).all())
        last_month: dict[int, dt.date] = dict(
            conn.execute(
                select(SurveyResponse.wave_id, func.max(SurveyResponse.submitted_month)).group_by(
                    SurveyResponse.wave_id
                )
            ).all()
        )
    for wave in list_waves(engine, floor=min_group_size):  # waves: a handful a year
        if wave.status != "closed" or wave.id not in last_month:
            continue
        results = wave_results(engine, wave.id, floor=min_group_size, n_resamples=RESAMPLES)
        known_on = _month_after(last_month[wave.id])
        cells = [c for c in results.analysis.cells if not c.suppressed and c.mean is not None]
        frames.append(
            pl.DataFrame(
                {
                    "organisation_id": [codes.get(c.group) for c in cells],
                    "dimension": [c.dimension for c in cells],
                    "mean": [c.mean for c in cells],
                    "n": [int(c.n) for c in cells],
                    "known_on": [known_on] * len(cells),
                },
                schema=SOFT_SCHEMA,
            ).drop_nulls("organisation_id")
        )
    if not frames:
        return pl.DataFrame(schema=SOFT_SCHEMA)
    return pl.concat(frames)


__all__ = ["survey_cells"]
