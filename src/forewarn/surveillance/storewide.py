"""The scan's store-wide steps, after the per-indicator work: the funnels' false-discovery rate and the summary.

Funnel outliers are kept by Benjamini-Hochberg across every organisation x indicator pair tested (Benjamini &
Hochberg 1995, through :func:`forewarn.stats.multiplicity.fdr_adjust`), so one indicator's new data moves every
pair's q. The step reads only what a status row holds (p, z, ratio, limits), so a rescan recomputes it from the
stored rows of indicators that did not change and the new rows of those that did, and gets what a full scan
gets. The summary adds up per-indicator parts (series, signals, SPC and CUSUM figures) the same way: an unchanged
indicator's part is carried from the scan that computed it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypedDict

import numpy as np
import polars as pl

from forewarn.domain import deviation_direction
from forewarn.stats.multiplicity import expected_false_flags, fdr_adjust
from forewarn.surveillance.options import ScanOptions
from forewarn.surveillance.questions import METHOD_QUESTIONS

# The columns of a funnel signal's details, in the order they are stored.
FUNNEL_DETAILS = ("z", "p", "q", "lower", "upper", "target", "phi", "tau2")
# Every method's detail columns in the order their JSON keys are stored (SPC, funnel, CUSUM), whatever signals a
# partition happened to hold.
DETAIL_ORDER = ("mean", "lpl", "upl", *FUNNEL_DETAILS, "h", "k")


class IndicatorPart(TypedDict):
    """One indicator's share of a scan's summary: enough to add it up again without recomputing it."""

    code: str
    series: int
    spc_signals: int
    cusum_signals: int
    spc: dict[str, float] | None
    cusum: dict[str, object] | None


def indicator_parts(
    codes: Sequence[object],
    series: np.ndarray,
    spc_signals: np.ndarray,
    cusum_signals: np.ndarray,
    spc: dict[str, dict[str, float]],
    cusum: dict[str, dict[str, object]],
) -> dict[str, IndicatorPart]:
    """The part of every indicator (by position in ``codes``) with at least one series, by code."""
    return {
        str(code): IndicatorPart(
            code=str(code),
            series=int(series[i]),
            spc_signals=int(spc_signals[i]),
            cusum_signals=int(cusum_signals[i]),
            spc=spc.get(str(code)),
            cusum=cusum.get(str(code)),
        )
        for i, code in enumerate(codes)
        if series[i] > 0
    }


def parts_from_summary(summary: dict[str, object]) -> dict[str, IndicatorPart] | None:
    """The per-indicator parts a stored scan summary carries (None for a summary written before they were)."""
    counts = summary.get("indicator_counts")
    spc = summary.get("spc_indicators") or {}
    cusum = summary.get("cusum_indicators") or {}
    if not (isinstance(counts, dict) and isinstance(spc, dict) and isinstance(cusum, dict)):
        return None
    return {
        str(code): IndicatorPart(
            code=str(code),
            series=int(c["series"]),
            spc_signals=int(c["spc_signals"]),
            cusum_signals=int(c["cusum_signals"]),
            spc=spc.get(code),
            cusum=cusum.get(code),
        )
        for code, c in counts.items()
    }


@dataclass(frozen=True)
class FunnelFdr:
    """q of every pair tested and its outlier flag (null where untested, 0 kept in, +1 high, -1 low)."""

    q: pl.Series
    outlier: pl.Series
    summary: dict[str, object]


def funnel_fdr(status: pl.DataFrame, options: ScanOptions) -> FunnelFdr:
    """Benjamini-Hochberg q of every tested pair (a finite ``funnel_p``) across all rows of ``status``, and the
    outliers: outside the funnel's limits and kept at ``options.fdr_alpha``.

    The result does not depend on the order of the rows: the BH adjustment depends on the sorted p-values alone
    (tied p-values share their q).
    """
    p = status["funnel_p"].fill_null(np.nan).to_numpy()
    n = p.size
    q = np.full(n, np.nan)
    outlier = np.full(n, None, dtype=object)
    tested = np.flatnonzero(np.isfinite(p))
    summary: dict[str, object] = {"funnel_tests": int(tested.size)}
    if tested.size:
        ratio, lower, upper, z = (
            status[c].fill_null(np.nan).to_numpy()[tested]
            for c in ("funnel_ratio", "funnel_lower", "funnel_upper", "funnel_z")
        )
        fdr = fdr_adjust(p[tested], alpha=options.fdr_alpha)
        q[tested] = fdr.adjusted
        outside = (ratio < lower) | (ratio > upper)
        kept = fdr.rejected & outside
        outlier[tested] = 0
        outlier[tested[kept]] = np.sign(z[kept]).astype(int)
        summary.update(
            {
                "funnel_outside_limits": int(outside.sum()),
                "funnel_expected_by_chance": float(
                    expected_false_flags(tested.size, 1 - options.funnel_limit / 100)
                ),
                "funnel_flags_after_fdr": int(kept.sum()),
            }
        )
    return FunnelFdr(
        q=pl.Series("funnel_q", q).fill_nan(None),
        outlier=pl.Series("funnel_outlier", outlier.tolist(), dtype=pl.Int64),
        summary=summary,
    )


def funnel_signal_frame(
    flagged: pl.DataFrame, polarity: np.ndarray, *, key: Sequence[str], period: str
) -> pl.DataFrame:
    """One funnel signal per flagged status row (``funnel_outlier`` +1 or -1): its ``key`` columns, ``period``
    (the funnel's period), the ratio as the value and the funnel's figures as details."""
    high = flagged["funnel_outlier"].to_numpy() > 0
    return pl.DataFrame(
        {
            **{k: flagged[k] for k in key},
            "method": pl.repeat("funnel", flagged.height, eager=True, dtype=pl.String),
            "rule": pl.Series(np.where(high, "outlier_high", "outlier_low"), dtype=pl.String),
            "direction": pl.Series(deviation_direction(polarity, high), dtype=pl.String),
            period: flagged[period],
            "value": flagged["funnel_ratio"].cast(pl.Float64),
            **{c: flagged[f"funnel_{c}"].cast(pl.Float64) for c in FUNNEL_DETAILS},
        }
    )


def ordered_signals(signals: pl.DataFrame) -> pl.DataFrame:
    """``signals`` with its key columns first, then the detail columns in :data:`DETAIL_ORDER`."""
    keys = [c for c in signals.columns if c not in DETAIL_ORDER]
    return signals.select(*keys, *(c for c in DETAIL_ORDER if c in signals.columns))


def scan_summary(
    parts: Sequence[IndicatorPart], funnel: dict[str, object], funnel_signals: int
) -> dict[str, object]:
    """A scan's summary from its indicators' parts (in indicator order) and the store-wide funnel figures."""
    spc = {p["code"]: p["spc"] for p in parts if p["spc"] is not None}
    cusum = {p["code"]: p["cusum"] for p in parts if p["cusum"] is not None}
    cusum_alarms = sum(p["cusum_signals"] for p in parts)
    return {
        "series": sum(p["series"] for p in parts),
        "questions": METHOD_QUESTIONS,
        "spc_indicators": spc,
        "spc_current_concern": int(sum(f["current_concern"] for f in spc.values())),
        "spc_current_concern_expected": float(sum(f["current_concern_expected"] for f in spc.values())),
        **funnel,
        "cusum_indicators": cusum,
        "cusum_alarms": cusum_alarms,
        "cusum_current": sum(int(str(f["current"])) for f in cusum.values()),
        "cusum_current_expected": sum(float(str(f["current_expected"])) for f in cusum.values()),
        "signals": sum(p["spc_signals"] for p in parts) + funnel_signals + cusum_alarms,
        "indicator_counts": {
            p["code"]: {
                "series": p["series"],
                "spc_signals": p["spc_signals"],
                "cusum_signals": p["cusum_signals"],
            }
            for p in parts
        },
    }


__all__ = [
    "DETAIL_ORDER",
    "FUNNEL_DETAILS",
    "FunnelFdr",
    "IndicatorPart",
    "funnel_fdr",
    "funnel_signal_frame",
    "indicator_parts",
    "ordered_signals",
    "parts_from_summary",
    "scan_summary",
]
