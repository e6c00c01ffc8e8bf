"""Small conversions shared by the builders."""

from __future__ import annotations

from forewarn.accounts.reads import ScanInfo, latest_scan
from forewarn.web.schemas import ScanOut


def scan_out(scan: ScanInfo | None) -> ScanOut | None:
    if scan is None:
        return None
    return ScanOut(
        id=scan.id,
        started_at=scan.started_at,
        finished_at=scan.finished_at,
        series_scanned=scan.series_scanned,
    )


def funnel_concern(outlier: int | None, polarity: str) -> bool:
    """An outlier is a concern when it lies on the worse side for the indicator's polarity."""
    return (outlier == -1 and polarity == "higher_is_better") or (
        outlier == 1 and polarity == "lower_is_better"
    )


__all__ = ["funnel_concern", "latest_scan", "scan_out"]
