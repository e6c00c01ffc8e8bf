"""Options of a surveillance scan, validated once."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class ScanOptions:
    """What the scan computes, and with which settings.

    Attributes
    ----------
    spc_min_points
        Series shorter than this get no SPC chart (NHSRplotthedots warns below 13 and needs 2 at least).
    spc_shift_length, spc_trend_length
        Making Data Count rule lengths (7 and 7; some guidance uses 6 for the trend).
    funnel_limit
        Limit (percent) of the funnel control limits: 99.8 (the usual 3-sigma-like choice) or 95.
    funnel_window_days
        Funnels compare each organisation's totals over the latest this-many days of its indicator (365: a year
        of monthly data, or the latest period of an annual indicator).
    funnel_trim
        Fraction of z-scores winsorised at each end before estimating over-dispersion, for proportions and
        ratios alike (Spiegelhalter 2005b, as the CQC; ``FunnelOptions(overdispersion="cqc")``).
    fdr_alpha
        False-discovery rate at which funnel outliers are kept, across every organisation x indicator pair.
    cusum_rate_ratio
        Odds ratio (proportions) or rate ratio (rates, ratios O/E) against its own baseline that each CUSUM is
        tuned to detect (2, as the Imperial/Dr Foster mortality alerts).
    cusum_shift_sd
        Shift in in-control standard deviations the CUSUM of an estimate with a standard error (means, counts)
        is tuned to detect (1: the textbook k = 0.5).
    cusum_false_alarm_share
        Share of in-control series allowed to alarm at least once over their indicator's whole window: each
        indicator's threshold is set for it (:func:`forewarn.stats.arl.false_alarms.cusum_window_threshold`), so
        across thousands of series about this share alarm by chance, whatever the series' length.
    cusum_baseline_periods
        Observed periods at the start of each series that define its own baseline level.
    cusum_min_baseline_points
        Series with fewer baseline points are not watched by the CUSUM (their level is not known well enough).
    alarm_current_days
        An alarm is current when it fell within this many days of its indicator's latest period (92: the
        latest quarter of monthly data, or the latest period of an annual indicator); the portfolio counts
        current alarms only.
    rank_replicates
        Simulated replicates for rank intervals.
    rank_simulation_max_units
        League tables larger than this use the conditional expected rank instead of simulation (same model,
        milliseconds instead of minutes at 50,000 units).
    seed
        Seed of every simulation in the scan, so a scan is reproducible.
    """

    spc_min_points: int = 12
    spc_shift_length: int = 7
    spc_trend_length: int = 7
    funnel_limit: float = 99.8
    funnel_trim: float = 0.1
    funnel_window_days: int = 365
    fdr_alpha: float = 0.05
    cusum_rate_ratio: float = 2.0
    cusum_shift_sd: float = 1.0
    cusum_false_alarm_share: float = 0.05
    cusum_baseline_periods: int = 12
    cusum_min_baseline_points: int = 6
    alarm_current_days: int = 92
    rank_replicates: int = 1000
    rank_simulation_max_units: int = 5000
    seed: int = 20260101

    def __post_init__(self) -> None:
        if self.spc_min_points < 2:
            raise ValueError("spc_min_points must be at least 2")
        if self.funnel_limit not in (95.0, 99.8):
            raise ValueError("funnel_limit must be 95 or 99.8")
        if self.funnel_window_days < 1:
            raise ValueError("funnel_window_days must be at least 1")
        if not 0 < self.funnel_trim < 0.5:
            raise ValueError("funnel_trim must be between 0 and 0.5")
        if not 0 < self.fdr_alpha < 1:
            raise ValueError("fdr_alpha must be between 0 and 1")
        if self.cusum_rate_ratio <= 0 or self.cusum_rate_ratio == 1:
            raise ValueError("cusum_rate_ratio must be positive and not 1")
        if not self.cusum_shift_sd > 0:
            raise ValueError("cusum_shift_sd must be positive")
        if not 0 < self.cusum_false_alarm_share < 1:
            raise ValueError("cusum_false_alarm_share must be between 0 and 1")
        if self.cusum_baseline_periods < 2:
            raise ValueError("cusum_baseline_periods must be at least 2")
        if not self.cusum_min_baseline_points >= 2:
            raise ValueError("cusum_min_baseline_points must be at least 2")
        if self.alarm_current_days < 1:
            raise ValueError("alarm_current_days must be at least 1")
        if self.rank_replicates < 100:
            raise ValueError("rank_replicates must be at least 100")

    def to_dict(self) -> dict[str, object]:
        return asdict(self)
