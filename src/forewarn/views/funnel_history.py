"""An organisation's funnel history on one indicator, from the store's observations: its z-score and position in
the indicator's funnel at every period (:func:`forewarn.surveillance.funnel_history.funnel_history`, with the
latest scan's funnel limit and window), and the organisation's interventions to draw over it.

Only the organisation's own row leaves here (its z is relative to the funnel of everyone, as its funnel position
on the organisation page is); access is checked before anything is read.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence

import numpy as np
import polars as pl
from sqlalchemy import Connection, select

from forewarn.access.policy import Visibility
from forewarn.charts.funnel_history import FunnelHistorySeries, position_text
from forewarn.domain import concern_side
from forewarn.store.columnar import read_frame
from forewarn.store.models import Indicator, Organisation
from forewarn.surveillance.funnel_history import FunnelHistory, funnel_histories
from forewarn.surveillance.options import ScanOptions
from forewarn.surveillance.panel import INDICATOR_SCHEMA, OBSERVATION_SCHEMA, build_panel
from forewarn.views.funnel import scan_funnel_settings
from forewarn.views.organisation import intervention_spans, organisation_events
from forewarn.views.rows import AnyRow


def indicator_funnel_history(conn: Connection, indicator_id: int) -> FunnelHistory:
    """Every organisation's funnel history on one indicator (all at once), with the latest scan's settings."""
    return indicator_funnel_histories(conn, [indicator_id])[int(indicator_id)]


def indicator_funnel_histories(conn: Connection, indicator_ids: Sequence[int]) -> dict[int, FunnelHistory]:
    """Every organisation's funnel history on each of ``indicator_ids``, read in one query and computed in one
    pass (:func:`forewarn.surveillance.funnel_history.funnel_histories`), with the latest scan's settings; an
    indicator with no observations has an empty history."""
    limit, window_days = scan_funnel_settings(conn)
    wanted = ", ".join(str(int(i)) for i in sorted(set(indicator_ids))) or "NULL"
    observations = read_frame(
        conn,
        f"SELECT {', '.join(OBSERVATION_SCHEMA)} FROM observations WHERE indicator_id IN ({wanted})",
        OBSERVATION_SCHEMA,
    )
    indicators = read_frame(
        conn,
        f"SELECT id, code, kind, polarity, target FROM indicators WHERE id IN ({wanted})",
        INDICATOR_SCHEMA,
    )
    options = ScanOptions(funnel_limit=limit, funnel_window_days=window_days)
    return funnel_histories(build_panel(observations, indicators, consume=True), options)


def _indicator(conn: Connection, indicator_code: str) -> AnyRow | None:
    return conn.execute(
        select(Indicator.id, Indicator.code, Indicator.name, Indicator.polarity).where(
            Indicator.code == indicator_code
        )
    ).first()


def organisation_funnel_history(
    conn: Connection,
    visibility: Visibility,
    organisation_id: int,
    indicator_code: str,
    history_of: Callable[[Connection, int], FunnelHistory] = indicator_funnel_history,
) -> FunnelHistorySeries | None:
    """The organisation's funnel history on ``indicator_code`` with its interventions; None when the account may
    not open the organisation, or it has no series of the indicator. ``history_of`` reads the indicator's
    :func:`indicator_funnel_history` (the web app keeps it per data version)."""
    if not visibility.may_open(organisation_id):
        return None
    exists = conn.execute(select(Organisation.id).where(Organisation.id == organisation_id)).scalar()
    indicator = _indicator(conn, indicator_code)
    if exists is None or indicator is None:
        return None
    history = history_of(conn, int(indicator.id))
    row = history.of(organisation_id)
    if row is None or not history.in_funnel[row].any():
        return None
    # From its first period in a funnel: before that the organisation has no history to draw.
    first = int(np.argmax(history.in_funnel[row]))
    period = tuple(dt.date.fromisoformat(str(p)) for p in history.period[first:])
    z = tuple(None if math.isnan(v) else float(v) for v in history.z[row, first:])
    side = concern_side(str(indicator.polarity))
    return FunnelHistorySeries(
        indicator_code=str(indicator.code),
        indicator_name=str(indicator.name),
        period=period,
        z=z,
        position=tuple(int(p) for p in history.position[row, first:]),
        limit=history.limit,
        limit_z=history.limit_z,
        concern_side=side or None,
        interventions=intervention_spans(organisation_events(conn, organisation_id)),
    )


def funnel_history_table(series: FunnelHistorySeries) -> pl.DataFrame:
    """The history as a table, one row per period in a funnel: period, z, position (the page's table and CSV)."""
    rows = [
        (p, z, position_text(pos, series.concern_side))
        for p, z, pos in zip(series.period, series.z, series.position, strict=True)
        if z is not None
    ]
    return pl.DataFrame(
        rows, schema={"period": pl.Date, "funnel_z": pl.Float64, "position": pl.String}, orient="row"
    )


__all__ = [
    "funnel_history_table",
    "indicator_funnel_histories",
    "indicator_funnel_history",
    "organisation_funnel_history",
]
