"""The simulator's parameters: one frozen dataclass, validated once, every field documented in docs/simulator.md.

The generative model itself is described in ``docs/simulator.md``; the names here follow that document. Scales:
latent capacity and performance are in standard-deviation units of the baseline population (about N(0, 1));
indicator effects are on the logit scale (proportions) or the log scale (rates, O/E ratios, counts).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any, Literal

import numpy as np

from forewarn.domain import Polarity, improvement_side
from forewarn.stats.arrays import FloatArray

IndicatorKindName = Literal["proportion", "rate", "ratio_oe", "count"]

ORGANISATION_TYPES = ("hospital", "school", "council")
GRADES = ("inadequate", "requires_improvement", "good", "outstanding")
"""Inspection grades from worst to best; the grade index (0..3) is what the truth files record."""
ARMS = ("development", "enforcement", "none")
"""Intervention arms: supportive development, enforcement with leadership replacement, or watch only."""
REGION_NAMES = (
    "North",
    "Midlands",
    "South",
    "East",
    "West",
    "Capital",
    "Coast",
    "Valleys",
    "Islands",
)


@dataclass(frozen=True)
class IndicatorDesign:
    """One simulated hard indicator: what it measures and how it depends on the latent state.

    ``baseline`` is the level at average performance: a probability (proportion), events per unit of the
    denominator (rate), the risk of the event per case used to compute the expected count (ratio_oe), or events per
    100 staff per month (count). ``volume`` is the monthly denominator per member of staff (cases, staff days);
    it is unused for counts. ``sensitivity`` is the change of the linear predictor per unit of latent performance,
    signed by the polarity (better performance raises a higher-is-better indicator). ``random_effect_sd`` is the
    standard deviation of the organisation random effect on the logit or log scale (the between-organisation
    overdispersion). ``seasonal_amplitude`` and ``seasonal_peak_month`` give ``amp * cos(2 pi (month - peak) / 12)``
    on the linear-predictor scale. ``deprivation_effect`` is the change in the linear predictor from the least to
    the most deprived context (case-mix not adjusted for); for ratio_oe it acts on the expected count instead, so the
    ratio is fully case-mix adjusted.
    """

    code: str
    name: str
    kind: IndicatorKindName
    polarity: Polarity
    unit: str
    baseline: float
    volume: float
    sensitivity: float
    random_effect_sd: float
    trend_per_year: float = 0.0
    seasonal_amplitude: float = 0.0
    seasonal_peak_month: int = 1
    deprivation_effect: float = 0.0
    multiplier: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in ("proportion", "rate", "ratio_oe", "count"):
            raise ValueError(f"indicator {self.code!r}: kind must be proportion, rate, ratio_oe or count")
        try:
            # A design written with a plain name (a test, a script) holds the member, as the table does.
            object.__setattr__(self, "polarity", Polarity(self.polarity))
        except ValueError:
            raise ValueError(f"indicator {self.code!r}: unknown polarity {self.polarity!r}") from None
        if self.kind == "proportion" and not 0.0 < self.baseline < 1.0:
            raise ValueError(
                f"indicator {self.code!r}: a proportion's baseline must be strictly between 0 and 1"
            )
        if self.baseline <= 0.0:
            raise ValueError(f"indicator {self.code!r}: baseline must be positive")
        if self.kind != "count" and self.volume <= 0.0:
            raise ValueError(
                f"indicator {self.code!r}: volume (denominator per member of staff) must be positive"
            )
        if self.random_effect_sd < 0.0:
            raise ValueError(f"indicator {self.code!r}: random_effect_sd must not be negative")
        if not 1 <= self.seasonal_peak_month <= 12:
            raise ValueError(f"indicator {self.code!r}: seasonal_peak_month must be 1..12")
        if self.multiplier <= 0.0:
            raise ValueError(f"indicator {self.code!r}: multiplier must be positive")

    @property
    def direction(self) -> int:
        """+1 when higher is better, -1 when lower is better, 0 when neutral."""
        return improvement_side(self.polarity)


def _p(
    code: str, name: str, baseline: float, volume: float, sensitivity: float, sd: float, **kw: Any
) -> IndicatorDesign:
    polarity = kw.pop("polarity", Polarity.HIGHER_IS_BETTER)
    return IndicatorDesign(
        code, name, "proportion", polarity, "proportion", baseline, volume, sensitivity, sd, **kw
    )


DEFAULT_INDICATORS: tuple[IndicatorDesign, ...] = (
    _p("sim_timely_care", "Cases seen within the standard time", 0.85, 0.25, 0.35, 0.30,
       trend_per_year=-0.05, seasonal_amplitude=0.15, seasonal_peak_month=7),
    _p("sim_followup_on_time", "Follow-up completed on time", 0.75, 0.10, 0.30, 0.25),
    _p("sim_complaints_resolved", "Complaints resolved within 25 working days", 0.70, 0.01, 0.30, 0.30),
    _p("sim_staff_retained", "Staff in post retained over the month", 0.985, 1.0, 0.25, 0.20),
    _p("sim_training_compliance", "Staff up to date with mandatory training", 0.88, 1.0, 0.30, 0.35,
       trend_per_year=0.05),
    _p("sim_safeguarding_checks", "Safeguarding checks completed", 0.93, 0.05, 0.25, 0.30),
    _p("sim_user_rating_positive", "Service users rating the service good or very good", 0.80, 0.05, 0.35, 0.25),
    _p("sim_repeat_contact", "Cases needing a repeat contact within 30 days", 0.12, 0.20, 0.25, 0.25,
       polarity=Polarity.LOWER_IS_BETTER, seasonal_amplitude=0.10, seasonal_peak_month=1, deprivation_effect=0.3),
    IndicatorDesign("sim_incident_rate", "Safety incidents per 1,000 cases", "rate", Polarity.LOWER_IS_BETTER,
                    "per 1,000 cases", 0.008, 0.25, 0.30, 0.30, deprivation_effect=0.2, multiplier=1000.0),
    IndicatorDesign("sim_complaint_rate", "Complaints per 1,000 cases", "rate", Polarity.LOWER_IS_BETTER,
                    "per 1,000 cases", 0.003, 0.25, 0.30, 0.35, multiplier=1000.0),
    IndicatorDesign("sim_sickness_rate", "Staff sickness absence days per 1,000 staff days", "rate",
                    Polarity.LOWER_IS_BETTER, "per 1,000 staff days", 0.045, 21.0, 0.20, 0.20,
                    seasonal_amplitude=0.15, seasonal_peak_month=1, multiplier=1000.0),
    IndicatorDesign("sim_falls_with_harm_rate", "Falls and accidents with harm per 1,000 cases", "rate",
                    Polarity.LOWER_IS_BETTER, "per 1,000 cases", 0.002, 0.25, 0.25, 0.30, multiplier=1000.0),
    IndicatorDesign("sim_agency_shift_rate", "Agency staff shifts per 1,000 shifts", "rate", Polarity.LOWER_IS_BETTER,
                    "per 1,000 shifts", 0.06, 20.0, 0.30, 0.40, trend_per_year=0.03, multiplier=1000.0),
    IndicatorDesign("sim_mortality_oe", "Deaths: observed / expected (case-mix adjusted)", "ratio_oe",
                    Polarity.LOWER_IS_BETTER, "ratio", 0.02, 0.25, 0.20, 0.12, seasonal_amplitude=0.08,
                    seasonal_peak_month=1, deprivation_effect=0.5),
    IndicatorDesign("sim_readmission_oe", "Emergency readmissions within 30 days: observed / expected", "ratio_oe",
                    Polarity.LOWER_IS_BETTER, "ratio", 0.08, 0.25, 0.20, 0.15, deprivation_effect=0.4),
    IndicatorDesign("sim_escalation_oe", "Unplanned escalations of care: observed / expected", "ratio_oe",
                    Polarity.LOWER_IS_BETTER, "ratio", 0.05, 0.20, 0.25, 0.15, deprivation_effect=0.3),
    IndicatorDesign("sim_avoidable_harm_oe", "Avoidable harm: observed / expected", "ratio_oe",
                    Polarity.LOWER_IS_BETTER, "ratio", 0.03, 0.25, 0.25, 0.20, deprivation_effect=0.3),
    IndicatorDesign("sim_serious_incidents", "Serious incidents reported", "count", Polarity.LOWER_IS_BETTER,
                    "incidents", 0.15, 0.0, 0.35, 0.40),
    IndicatorDesign("sim_whistleblowing", "Whistleblowing concerns raised with the regulator", "count",
                    Polarity.LOWER_IS_BETTER, "concerns", 0.03, 0.0, 0.40, 0.50),
    IndicatorDesign("sim_activity", "Cases handled (activity)", "count", Polarity.NEUTRAL, "cases", 25.0, 0.0, 0.0, 0.10,
                    seasonal_amplitude=0.05, seasonal_peak_month=1),
)  # fmt: skip


def lag_weights(lag: int, spread: int) -> FloatArray:
    """Weights ``w[l]``, l = 0..lag+spread, of the distributed lag from capacity to performance.

    Triangular, centred on ``lag`` months with half-width ``spread``: ``w[l] ∝ spread + 1 - |l - lag|`` for
    ``|l - lag| <= spread`` and 0 otherwise, summing to 1.

    >>> lag_weights(2, 1).round(3).tolist()
    [0.0, 0.25, 0.5, 0.25]
    """
    offsets = np.arange(lag + spread + 1, dtype=np.float64) - lag
    weights: FloatArray = np.clip(spread + 1 - np.abs(offsets), 0.0, None)
    return weights / float(weights.sum())


@dataclass(frozen=True)
class SimulationParameters:
    """Every parameter of the generative model, with its default (docs/simulator.md explains each one)."""

    # population and time
    seed: int = 0
    n_organisations: int = 200
    n_years: int = 6
    start_year: int = 2019
    burn_in_months: int = 24
    type_shares: tuple[float, float, float] = (0.25, 0.55, 0.20)
    n_regions: int = 5
    # context
    staff_median: tuple[float, float, float] = (3000.0, 45.0, 1500.0)
    staff_sdlog: tuple[float, float, float] = (0.6, 0.5, 0.6)
    staff_drift_sd: float = 0.005
    deprivation_region_sd: float = 0.5
    deprivation_sd: float = 1.0
    deprivation_drift_sd: float = 0.02
    # latent learning capacity
    capacity_region_sd: float = 0.15
    capacity_level_sd: float = 0.7
    capacity_deprivation_effect: float = -0.8
    capacity_reversion: float = 1.0 / 36.0
    capacity_innovation_sd: float = 0.15
    facet_core_loading: float = 0.85
    facet_loading: float = 0.7
    facet_persistence: float = 0.97
    # leadership churn and shocks
    leadership_change_rate: float = 0.15
    leadership_pressure_effect: float = 1.0
    leadership_change_capacity_drop: float = 0.3
    shock_rate: float = 0.2
    shock_mean_size: float = 1.0
    shock_half_life_months: float = 3.0
    shock_recovery_capacity_effect: float = 0.5
    shock_capacity_erosion: float = 0.03
    shock_performance_effect: float = 0.3
    shock_amplification: float = 0.5
    # from capacity to performance to indicators
    performance_lag_months: int = 6
    performance_lag_spread: int = 3
    type_offset_sd: float = 0.3
    overdispersion_scale: float = 1.0
    volume_seasonality: float = 0.1
    missing_rate: float = 0.0
    indicators: tuple[IndicatorDesign, ...] = DEFAULT_INDICATORS
    # inspections and special measures
    inspection_interval_months: tuple[int, int, int, int] = (9, 24, 42, 60)
    inspection_interval_jitter: float = 0.25
    inspection_capacity_weight: float = 0.5
    inspection_performance_weight: float = 0.5
    inspection_noise_sd: float = 0.5
    grade_cuts: tuple[float, float, float] = (-1.75, -0.8, 1.25)
    special_measures_cut: float = -2.4
    special_measures_reinspection_months: int = 6
    special_measures_enforcement_probability: float = 0.6
    # surveillance and interventions
    surveillance_interval_months: int = 3
    surveillance_window_months: int = 3
    surveillance_fraction: float = 0.02
    surveillance_arm_probabilities: tuple[float, float, float] = (0.35, 0.35, 0.30)
    responsive_inspection_months: int = 3
    intervention_cooloff_months: int = 12
    intervention_effect_scale: float = 1.0
    development_months: int = 18
    development_growth: float = 0.04
    development_persistent_share: float = 0.25
    enforcement_months: int = 12
    enforcement_performance_boost: float = 0.3
    enforcement_fade_half_life_months: float = 6.0
    enforcement_capacity_cost: float = 0.01
    enforcement_leadership_replacement_probability: float = 0.7
    # staff survey
    survey_month: int = 10
    # Months of quarterly pulse waves beside the annual one (the NHS National Quarterly Pulse Survey runs in the
    # three quarters the annual NHS Staff Survey does not: January, April, July). Empty: the annual wave only.
    survey_pulse_months: tuple[int, ...] = ()
    survey_invite_fraction: float = 0.1
    survey_min_invited: int = 10
    survey_max_invited: int = 40
    survey_response_rate_mean: float = 0.45
    survey_response_rate_concentration: float = 8.0
    survey_icc: float = 0.12
    survey_respondent_general_share: float = 0.4
    survey_item_correlation: float = 0.57
    survey_thresholds: tuple[float, float, float, float] = (-1.8, -1.0, -0.3, 1.1)
    survey_item_missing_rate: float = 0.02
    # labels
    dataset_code: str = "simulated"
    code_prefix: str = "SIM"

    def __post_init__(self) -> None:
        problems = list(_problems(self))
        if problems:
            raise ValueError("invalid simulation parameters: " + "; ".join(problems))

    @property
    def n_months(self) -> int:
        return 12 * self.n_years

    def to_dict(self) -> dict[str, Any]:
        """Plain values (indicator designs as dicts) for ``truth/parameters.json``."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "indicators":
                value = [{g.name: getattr(d, g.name) for g in fields(d)} for d in value]
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        return out


def _problems(p: SimulationParameters) -> list[str]:
    out: list[str] = []

    def need(ok: bool, message: str) -> None:
        if not ok:
            out.append(message)

    need(0 <= p.seed < 2**63, "seed must be a non-negative integer below 2**63")
    need(p.n_organisations >= 1, "n_organisations must be at least 1")
    need(1 <= p.n_years <= 50, "n_years must be 1..50")
    need(1900 <= p.start_year <= 2200, "start_year must be 1900..2200")
    need(p.burn_in_months >= 0, "burn_in_months must not be negative")
    need(
        len(p.type_shares) == 3 and all(s >= 0 for s in p.type_shares) and sum(p.type_shares) > 0,
        "type_shares must be three non-negative shares (hospital, school, council) with a positive sum",
    )
    need(1 <= p.n_regions <= len(REGION_NAMES), f"n_regions must be 1..{len(REGION_NAMES)}")
    need(
        len(p.staff_median) == 3 and all(m >= 1 for m in p.staff_median),
        "staff_median must be three values >= 1",
    )
    need(
        len(p.staff_sdlog) == 3 and all(s >= 0 for s in p.staff_sdlog),
        "staff_sdlog must be three values >= 0",
    )
    for name in (
        "staff_drift_sd",
        "deprivation_region_sd",
        "deprivation_sd",
        "deprivation_drift_sd",
        "capacity_region_sd",
        "capacity_level_sd",
        "capacity_innovation_sd",
        "leadership_change_rate",
        "leadership_pressure_effect",
        "leadership_change_capacity_drop",
        "shock_rate",
        "shock_mean_size",
        "shock_recovery_capacity_effect",
        "shock_capacity_erosion",
        "shock_performance_effect",
        "shock_amplification",
        "type_offset_sd",
        "overdispersion_scale",
        "inspection_capacity_weight",
        "inspection_performance_weight",
        "inspection_noise_sd",
        "intervention_effect_scale",
        "development_growth",
        "enforcement_performance_boost",
        "enforcement_capacity_cost",
    ):
        value = getattr(p, name)
        need(math.isfinite(value) and value >= 0, f"{name} must be a finite number >= 0 (got {value!r})")
    need(0 < p.capacity_reversion < 1, "capacity_reversion must be between 0 and 1 (a monthly rate)")
    need(p.shock_half_life_months > 0, "shock_half_life_months must be positive")
    need(p.enforcement_fade_half_life_months > 0, "enforcement_fade_half_life_months must be positive")
    for name in ("facet_core_loading", "facet_loading", "facet_persistence"):
        need(0 <= getattr(p, name) < 1, f"{name} must be in [0, 1)")
    need(p.performance_lag_months >= 0, "performance_lag_months must not be negative")
    need(
        0 <= p.performance_lag_spread <= p.performance_lag_months,
        "performance_lag_spread must be between 0 and performance_lag_months",
    )
    need(0 <= p.volume_seasonality < 1, "volume_seasonality must be in [0, 1)")
    need(0 <= p.missing_rate < 1, "missing_rate must be in [0, 1)")
    need(len(p.indicators) >= 1, "indicators must hold at least one IndicatorDesign")
    codes = [d.code for d in p.indicators]
    need(len(set(codes)) == len(codes), "indicator codes must be unique")
    need(
        len(p.inspection_interval_months) == 4 and all(m >= 1 for m in p.inspection_interval_months),
        "inspection_interval_months must be four whole months >= 1 (inadequate, requires improvement, good, "
        "outstanding)",
    )
    need(0 <= p.inspection_interval_jitter < 1, "inspection_interval_jitter must be in [0, 1)")
    need(
        len(p.grade_cuts) == 3 and list(p.grade_cuts) == sorted(p.grade_cuts),
        "grade_cuts must be three increasing cut points",
    )
    need(
        p.special_measures_cut <= p.grade_cuts[0],
        "special_measures_cut must not exceed the inadequate cut point",
    )
    need(p.special_measures_reinspection_months >= 1, "special_measures_reinspection_months must be >= 1")
    for name in (
        "special_measures_enforcement_probability",
        "development_persistent_share",
        "enforcement_leadership_replacement_probability",
        "survey_invite_fraction",
        "survey_response_rate_mean",
        "survey_item_missing_rate",
    ):
        need(0 <= getattr(p, name) <= 1, f"{name} must be a probability in [0, 1]")
    need(p.surveillance_interval_months >= 1, "surveillance_interval_months must be >= 1")
    need(p.surveillance_window_months >= 1, "surveillance_window_months must be >= 1")
    need(0 <= p.surveillance_fraction <= 0.5, "surveillance_fraction must be in [0, 0.5]")
    probs = p.surveillance_arm_probabilities
    need(
        len(probs) == 3 and all(x >= 0 for x in probs) and abs(sum(probs) - 1) < 1e-9,
        "surveillance_arm_probabilities must be three probabilities (development, enforcement, none) summing to 1",
    )
    need(p.responsive_inspection_months >= 1, "responsive_inspection_months must be >= 1")
    need(p.intervention_cooloff_months >= 0, "intervention_cooloff_months must not be negative")
    need(p.development_months >= 1 and p.enforcement_months >= 1, "intervention durations must be >= 1 month")
    need(1 <= p.survey_month <= 12, "survey_month must be 1..12")
    need(
        all(1 <= m <= 12 for m in p.survey_pulse_months)
        and len(set(p.survey_pulse_months)) == len(p.survey_pulse_months)
        and p.survey_month not in p.survey_pulse_months,
        "survey_pulse_months must be distinct months 1..12 other than survey_month",
    )
    need(
        1 <= p.survey_min_invited <= p.survey_max_invited,
        "need 1 <= survey_min_invited <= survey_max_invited",
    )
    need(p.survey_response_rate_concentration > 0, "survey_response_rate_concentration must be positive")
    need(0 < p.survey_response_rate_mean < 1, "survey_response_rate_mean must be strictly between 0 and 1")
    need(0 <= p.survey_icc < 1, "survey_icc must be in [0, 1)")
    need(0 <= p.survey_respondent_general_share < 1, "survey_respondent_general_share must be in [0, 1)")
    need(0 < p.survey_item_correlation < 1, "survey_item_correlation must be strictly between 0 and 1")
    need(
        len(p.survey_thresholds) == 4 and list(p.survey_thresholds) == sorted(p.survey_thresholds),
        "survey_thresholds must be four increasing cut points (a 5-point scale)",
    )
    need(
        bool(p.dataset_code) and p.dataset_code.replace("_", "").isalnum() and p.dataset_code.islower(),
        "dataset_code must be lower-case letters, digits and underscores",
    )
    need(bool(p.code_prefix) and p.code_prefix.isalnum(), "code_prefix must be letters and digits")
    return out
