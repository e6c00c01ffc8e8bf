"""Psychometrics for survey-based soft measures: scale reliability and group agreement, one module per family.

Every name is re-exported here, so one import serves a caller that needs several families:

- :mod:`~forewarn.stats.psychometrics.responses`: answers as a respondents x items matrix, group ids, per-group
  sums;
- :mod:`~forewarn.stats.psychometrics.scales`: scale scoring with reverse keys and a minimum-answers rule;
- :mod:`~forewarn.stats.psychometrics.reliability`: Cronbach's alpha (raw and standardised), Guttman's lambda 6,
  average inter-item r, Feldt interval, alpha if an item is dropped, corrected item-total correlations;
- :mod:`~forewarn.stats.psychometrics.factor`: the one-factor model and McDonald's omega total;
- :mod:`~forewarn.stats.psychometrics.shrout_fleiss`: Shrout & Fleiss's six ICCs;
- :mod:`~forewarn.stats.psychometrics.group_icc`: ICC(1) and ICC(2) of group means;
- :mod:`~forewarn.stats.psychometrics.agreement`: rwg, rwg(j) against uniform and skewed nulls, Lindell's
  r*wg(j), awg;
- :mod:`~forewarn.stats.psychometrics.random_groups`: random-group resampling;
- :mod:`~forewarn.stats.psychometrics.aggregation`: the per-group aggregation report.

Reference implementations matched in the tests: R ``psych`` 2.2.9 (``alpha``, ``ICC``) and ``multilevel`` 2.7
(``ICC1``, ``ICC2``, ``rwg``, ``rwg.j``, ``rwg.j.lindell``, ``awg``).
"""

from forewarn.stats.psychometrics.aggregation import (
    AGREEMENT_UNDEFINED,
    ICC1_NOT_ABOVE_RANDOM,
    RWG_J_BELOW_THRESHOLD,
    RWG_J_NOT_ABOVE_RANDOM,
    TOO_FEW_RESPONDENTS,
    AggregationOptions,
    AggregationReport,
    aggregation_report,
)
from forewarn.stats.psychometrics.agreement import (
    LEBRETON_SENTER_5_POINT,
    AgreementOptions,
    GroupAgreement,
    NullDistribution,
    awg_index,
    rwg_j_from_variance,
    uniform_null_variance,
    within_group_agreement,
)
from forewarn.stats.psychometrics.factor import OneFactorFit, fit_one_factor, omega_total
from forewarn.stats.psychometrics.group_icc import GroupICC, GroupMoments, group_icc, group_moments
from forewarn.stats.psychometrics.random_groups import (
    RandomGroupAgreement,
    RandomGroupOptions,
    random_group_agreement,
)
from forewarn.stats.psychometrics.reliability import (
    GroupCovariance,
    ReliabilityOptions,
    ScaleReliability,
    group_covariance,
    scale_reliability,
)
from forewarn.stats.psychometrics.responses import as_group_ids, as_response_matrix, group_sums
from forewarn.stats.psychometrics.scales import (
    KeyedResponses,
    ScaleScores,
    ScaleSpec,
    key_responses,
    reverse_key,
    score_scales,
)
from forewarn.stats.psychometrics.shrout_fleiss import SHROUT_FLEISS_TYPES, ShroutFleissICC, shrout_fleiss_icc

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
    "as_group_ids",
    "as_response_matrix",
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
