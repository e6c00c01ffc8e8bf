"""Psychometrics for survey-based soft measures: one import for scale reliability and group agreement.

The work is split in two modules and re-exported here:

- :mod:`forewarn.stats.reliability`: scale scoring with reverse keys and a minimum-answers rule; Cronbach's
  alpha (raw and standardised), Guttman's lambda 6, average inter-item r, Feldt interval, alpha if an item is
  dropped, corrected item-total correlations, McDonald's omega total; Shrout & Fleiss's six ICCs.
- :mod:`forewarn.stats.agreement`: ICC(1), ICC(2), rwg, rwg(j) against uniform and skewed nulls, Lindell's
  r*wg(j), awg, random-group resampling and the per-group aggregation report.

Reference implementations matched in the tests: R ``psych`` 2.2.9 (``alpha``, ``ICC``) and ``multilevel`` 2.7
(``ICC1``, ``ICC2``, ``rwg``, ``rwg.j``, ``rwg.j.lindell``, ``awg``).
"""

from forewarn.stats.agreement import (
    AGREEMENT_UNDEFINED,
    ICC1_NOT_ABOVE_RANDOM,
    LEBRETON_SENTER_5_POINT,
    RWG_J_BELOW_THRESHOLD,
    RWG_J_NOT_ABOVE_RANDOM,
    TOO_FEW_RESPONDENTS,
    AggregationOptions,
    AggregationReport,
    AgreementOptions,
    GroupAgreement,
    GroupICC,
    GroupMoments,
    NullDistribution,
    RandomGroupAgreement,
    RandomGroupOptions,
    aggregation_report,
    awg_index,
    group_icc,
    group_moments,
    random_group_agreement,
    rwg_j_from_variance,
    uniform_null_variance,
    within_group_agreement,
)
from forewarn.stats.reliability import (
    SHROUT_FLEISS_TYPES,
    GroupCovariance,
    KeyedResponses,
    OneFactorFit,
    ReliabilityOptions,
    ScaleReliability,
    ScaleScores,
    ScaleSpec,
    ShroutFleissICC,
    fit_one_factor,
    group_covariance,
    group_sums,
    key_responses,
    omega_total,
    reverse_key,
    scale_reliability,
    score_scales,
    shrout_fleiss_icc,
)

__all__ = [
    "AGREEMENT_UNDEFINED",
    "ICC1_NOT_ABOVE_RANDOM",
    "LEBRETON_SENTER_5_POINT",
    "RWG_J_BELOW_THRESHOLD",
    "RWG_J_NOT_ABOVE_RANDOM",
    "SHROUT_FLEISS_TYPES",
    "TOO_FEW_RESPONDENTS",
    "AggregationOptions",
    "AggregationReport",
    "AgreementOptions",
    "GroupAgreement",
    "GroupCovariance",
    "GroupICC",
    "GroupMoments",
    "KeyedResponses",
    "NullDistribution",
    "OneFactorFit",
    "RandomGroupAgreement",
    "RandomGroupOptions",
    "ReliabilityOptions",
    "ScaleReliability",
    "ScaleScores",
    "ScaleSpec",
    "ShroutFleissICC",
    "aggregation_report",
    "awg_index",
    "fit_one_factor",
    "group_covariance",
    "group_icc",
    "group_moments",
    "group_sums",
    "key_responses",
    "omega_total",
    "random_group_agreement",
    "reverse_key",
    "rwg_j_from_variance",
    "scale_reliability",
    "score_scales",
    "shrout_fleiss_icc",
    "uniform_null_variance",
    "within_group_agreement",
]
