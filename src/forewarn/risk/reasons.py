"""What each of the risk model's features means, and the watchlist's reasons in plain words built from it.

Every feature has a :class:`Meaning`: a label, the domain's :class:`~forewarn.domain.Polarity` (which way is
better; whether a value is on the side of concern is then :func:`forewarn.domain.concern_side`'s answer, the
one rule every other module uses), a unit (which fixes how its value is shown) and, when the neutral value is
known, the value that is neither good nor bad (0 for a z-score or a count of signals). A feature named in
:data:`MEANINGS` or matching one of :data:`FAMILIES` gets a sentence without code of its own; a template may
word it better.

A contribution is a reason only when it pushes the risk up *and* its value, as shown, is on the side of concern:

- beyond the model's centre for the feature (the training mean for the logistic model, whose contribution is
  ``coefficient x (value - mean) / scale``; the training median for boosting), on the concern side, and
- beyond the feature's neutral value, when it has one, as shown (a funnel z of -0.04 shows as 0.0: never a
  reason, whatever the model makes of it).

So a good value that raises the risk through a negative coefficient (e.g. an organisation whose worst funnel z
is near 0 on an outcome that follows poor performance already known) is never given as a reason for concern,
and neither is a feature whose meaning is not known. A neutral feature (context, the time since the last
inspection) that raises the risk is stated as it is, without calling it a concern. The exact contributions are
still stored and shown as numbers (:mod:`forewarn.views.risk`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from forewarn.domain import Polarity, concern_side
from forewarn.risk.outcomes import GRADE_ORDER

Unit = Literal["z", "score", "count", "share", "probability", "months", "grade", "flag", "number"]

HIGH_IS_CONCERN = Polarity.LOWER_IS_BETTER
LOW_IS_CONCERN = Polarity.HIGHER_IS_BETTER
NEUTRAL = Polarity.NEUTRAL

DECIMALS: dict[str, int] = {"z": 1, "score": 1, "count": 0, "months": 0, "grade": 0, "flag": 0}
"""Decimal places a value is shown with, by unit (shares and probabilities as whole percentages; numbers by
:func:`shown`)."""


@dataclass(frozen=True)
class Meaning:
    """What a feature's value means: ``label`` in plain words (also the contributions table's), ``polarity``
    (the domain's: which way is better), ``unit``, ``neutral_value`` (neither good nor bad, when known) and an
    optional ``template`` for its reason (``{value}`` is the value as shown)."""

    label: str
    polarity: Polarity
    unit: Unit = "number"
    neutral_value: float | None = None
    template: str | None = None

    @property
    def concern(self) -> int:
        """+1 when a high value is the concern, -1 when a low one is, 0 when neither (the domain's rule)."""
        return concern_side(self.polarity)


MEANINGS: dict[str, Meaning] = {
    "funnel_z_worst": Meaning(
        "its worst indicator against the others (funnel z)",
        HIGH_IS_CONCERN,
        "z",
        0.0,
        "an indicator stands out from the others on the side of concern (funnel z {value})",
    ),
    "funnel_z_mean": Meaning(
        "its indicators against the others on average (mean funnel z)",
        HIGH_IS_CONCERN,
        "z",
        0.0,
        "its indicators sit on the side of concern on average (mean funnel z {value})",
    ),
    "trend_worst": Meaning(
        "the worst recent trend of an indicator",
        HIGH_IS_CONCERN,
        "score",
        0.0,
        "an indicator has been getting worse over the last six periods",
    ),
    "trend_mean": Meaning(
        "the recent trend of its indicators on average",
        HIGH_IS_CONCERN,
        "score",
        0.0,
        "its indicators have been getting worse on average over the last six periods",
    ),
    "spc_concern": Meaning(
        "SPC special causes of concern at the latest point",
        HIGH_IS_CONCERN,
        "count",
        0.0,
        "{value} SPC special cause(s) of concern at the latest point",
    ),
    "cusum_current": Meaning(
        "current CUSUM alarms",
        HIGH_IS_CONCERN,
        "count",
        0.0,
        "{value} current CUSUM alarm(s): worse than its own baseline",
    ),
    "signal_count": Meaning(
        "current signals of concern", HIGH_IS_CONCERN, "count", 0.0, "{value} current signal(s) of concern"
    ),
    "naive_mean_z": Meaning(
        "its latest values against the others (mean z)",
        HIGH_IS_CONCERN,
        "z",
        0.0,
        "its latest values are on the side of concern (mean z {value})",
    ),
    "share_stale": Meaning(
        "data out of date", HIGH_IS_CONCERN, "share", 0.0, "{value} of its indicators' data are out of date"
    ),
    "soft_mean": Meaning(
        "staff survey: capacity to learn",
        LOW_IS_CONCERN,
        "z",
        0.0,
        "staff report a lower capacity to learn than elsewhere (z {value})",
    ),
    "soft_change": Meaning(
        "staff survey: change since the survey before",
        LOW_IS_CONCERN,
        "z",
        0.0,
        "staff survey scores have fallen since the last survey (change {value})",
    ),
    "soft_trend": Meaning(
        "staff survey: trend over the last year",
        LOW_IS_CONCERN,
        "z",
        0.0,
        "staff survey scores have fallen over the last year (trend {value} a year)",
    ),
    # Interactions (forewarn.risk.features): a product of two standings has no side of concern of its own.
    "soft_change_x_factor": Meaning(
        "staff survey change read with its indicators taken together",
        NEUTRAL,
        "score",
        None,
        "its staff survey change read with its indicators taken together (product {value})",
    ),
    "soft_mean_x_factor": Meaning(
        "staff survey level read with its indicators taken together",
        NEUTRAL,
        "score",
        None,
        "its staff survey level read with its indicators taken together (product {value})",
    ),
    "last_grade": Meaning(
        # Grades are ranked outstanding (0) to inadequate (3): "good" is neither a concern nor a distinction.
        "last inspection grade",
        HIGH_IS_CONCERN,
        "grade",
        float(GRADE_ORDER.index("good")),
        "last inspection: {value}",
    ),
    "months_since_inspection": Meaning(
        "months since the last inspection",
        NEUTRAL,
        "months",
        None,
        "{value} months since the last inspection",
    ),
    "inspection_due": Meaning(
        "chance of an inspection within the horizon",
        NEUTRAL,
        "probability",
        None,
        "likely to be inspected within the horizon ({value} chance)",
    ),
    "in_special_measures": Meaning("special measures", HIGH_IS_CONCERN, "flag", 0.0, "in special measures"),
    "interventions_2y": Meaning(
        "interventions in the last two years",
        HIGH_IS_CONCERN,
        "count",
        0.0,
        "{value} intervention(s) in the last two years",
    ),
    "leadership_changes_2y": Meaning(
        "leadership changes in the last two years",
        HIGH_IS_CONCERN,
        "count",
        0.0,
        "{value} leadership change(s) in the last two years",
    ),
    "intervention_since_inspection": Meaning(
        "intervention not yet followed by an inspection",
        HIGH_IS_CONCERN,
        "flag",
        0.0,
        "an intervention started since its last inspection (an inspection usually follows)",
    ),
    "in_intervention": Meaning(
        "intervention under way", NEUTRAL, "flag", None, "an intervention is under way"
    ),
    "months_since_intervention_end": Meaning(
        "months since an intervention ended (at most 24)",
        NEUTRAL,
        "months",
        None,
        "{value} months since its last intervention ended",
    ),
    "factor_level": Meaning(
        "its indicators taken together over the last six periods",
        HIGH_IS_CONCERN,
        "score",
        0.0,
        "its indicators taken together have sat on the side of concern over the last six periods "
        "(score {value})",
    ),
    "factor_short": Meaning(
        "its indicators taken together over the last two periods",
        HIGH_IS_CONCERN,
        "score",
        0.0,
        "its indicators taken together are on the side of concern over the last two periods (score {value})",
    ),
    "factor_change": Meaning(
        "its indicators taken together against its own earlier level",
        HIGH_IS_CONCERN,
        "score",
        0.0,
        "its indicators taken together have worsened against its own earlier level (score {value})",
    ),
    # Curved and joint forms (forewarn.risk.shapes): a square of a concern-side part is a concern when above 0;
    # a product of two features has no side of concern of its own.
    "factor_level_concern_sq": Meaning(
        "how far its indicators taken together sit on the side of concern (squared)",
        HIGH_IS_CONCERN,
        "score",
        0.0,
        "its indicators taken together sit well on the side of concern (squared score {value})",
    ),
    "funnel_z_mean_concern_sq": Meaning(
        "how far its indicators sit outside their funnels on average (squared)",
        HIGH_IS_CONCERN,
        "score",
        0.0,
        "its indicators sit well outside their funnels on average (squared z {value})",
    ),
    "naive_mean_z_concern_sq": Meaning(
        "how far its latest values sit from the others on average (squared)",
        HIGH_IS_CONCERN,
        "score",
        0.0,
        "its latest values sit well on the side of concern on average (squared z {value})",
    ),
    "factor_level_x_factor_change": Meaning(
        "its indicators taken together, read with their change",
        NEUTRAL,
        "score",
        None,
        "its indicators taken together read with their change (product {value})",
    ),
    "factor_level_x_trend_mean": Meaning(
        "its indicators taken together, read with their recent trend",
        NEUTRAL,
        "score",
        None,
        "its indicators taken together read with their recent trend (product {value})",
    ),
    "factor_level_x_last_grade": Meaning(
        "its indicators taken together, read with its last grade",
        NEUTRAL,
        "score",
        None,
        "its indicators taken together read with its last inspection grade (product {value})",
    ),
    "factor_level_x_months_since_inspection": Meaning(
        "its indicators taken together, read with the months since its last inspection",
        NEUTRAL,
        "score",
        None,
        "its indicators taken together read with the months since its last inspection (product {value})",
    ),
    "level_z_mean": Meaning(
        "its indicators' recent levels against the others on average", HIGH_IS_CONCERN, "z", 0.0
    ),
    "level_z_worst": Meaning(
        "its worst indicator's recent level against the others", HIGH_IS_CONCERN, "z", 0.0
    ),
    # Learning activity (forewarn.risk.activity): more is better; fewer than most is the concern.
    "soft_library_documents_2y": Meaning(
        "practice-library documents written in the last two years", LOW_IS_CONCERN, "count"
    ),
    "soft_experiments_registered_2y": Meaning(
        "experiments registered in the last two years", LOW_IS_CONCERN, "count"
    ),
    "soft_experiments_started_2y": Meaning(
        "experiments started in the last two years", LOW_IS_CONCERN, "count"
    ),
    "soft_experiments_analysed_2y": Meaning(
        "experiment analyses in the last two years", LOW_IS_CONCERN, "count"
    ),
    "soft_library_searches_2y": Meaning(
        "its staff's practice-library searches in the last two years", LOW_IS_CONCERN, "count"
    ),
    "soft_library_notes_read_2y": Meaning(
        "practice-library documents its staff read in the last two years", LOW_IS_CONCERN, "count"
    ),
    "soft_neighbours_visits_2y": Meaning(
        "visits to its neighbours' pages in the last two years", LOW_IS_CONCERN, "count"
    ),
    "soft_deviants_visits_2y": Meaning(
        "visits to 'who to learn from' pages in the last two years", LOW_IS_CONCERN, "count"
    ),
}
"""Every feature the model reads, by name."""

FAMILIES: tuple[tuple[str, Meaning], ...] = (
    # An organisation type's indicator (forewarn.risk.features._context): its label is the type.
    ("context_type_", Meaning("type: {rest}", NEUTRAL, "flag", None, "type: {rest}")),
    # Any other dated attribute (size, deprivation...): context, neither good nor bad in itself.
    ("context_", Meaning("{rest}", NEUTRAL, "number")),
)
"""Features named by a prefix (their names come from the data), and their meaning; ``{rest}`` in the label
and template is the rest of the name, underscores as spaces."""


def meaning(feature: str) -> Meaning | None:
    """The meaning of a model column; None for one not known (never given as a reason)."""
    if feature in MEANINGS:
        return MEANINGS[feature]
    for prefix, family in FAMILIES:
        if feature.startswith(prefix):
            rest = feature.removeprefix(prefix).replace("_", " ")
            template = family.template.replace("{rest}", rest) if family.template else None
            return Meaning(family.label.replace("{rest}", rest), family.polarity, family.unit, None, template)
    return None


def feature_label(feature: str) -> str:
    """A model column in plain words (a missing-value indicator as "no data: ...")."""
    if feature.startswith("missing: "):
        return "no data: " + feature_label(feature.removeprefix("missing: "))
    known = meaning(feature)
    return known.label if known is not None else feature.replace("_", " ")


def rounded(values: np.ndarray, unit: Unit) -> np.ndarray:
    """Values as shown (what a reader compares with the neutral value): see :func:`shown`."""
    values = np.asarray(values, dtype=np.float64)
    if unit in ("share", "probability"):
        out = np.round(values * 100) / 100
    elif unit in DECIMALS:
        out = np.round(values, DECIMALS[unit])
    else:  # two significant figures below 100, whole above
        with np.errstate(divide="ignore", invalid="ignore"):
            digits = np.where(values == 0, 0, 1 - np.floor(np.log10(np.abs(values))))
        digits = np.nan_to_num(digits, nan=0.0, posinf=0.0, neginf=0.0)
        scale = 10.0**digits
        out = np.where(np.abs(values) >= 100, np.round(values), np.round(values * scale) / scale)
    return np.asarray(out + 0.0, dtype=np.float64)  # + 0.0: never "-0.0"


def shown(value: float, unit: Unit) -> str:
    """A value in plain figures: a z-score or score to one decimal, counts and months whole, shares and
    probabilities as whole percentages, a grade by its name, other numbers to two significant figures (whole
    from 100, thousands separated)."""
    value = float(rounded(np.array([value]), unit)[0])
    if unit == "grade":
        index = int(value)
        return GRADE_ORDER[index].replace("_", " ") if 0 <= index < len(GRADE_ORDER) else "unknown"
    if unit in ("share", "probability"):
        return f"{value * 100:.0f}%"
    if unit in DECIMALS:
        return f"{value:.{DECIMALS[unit]}f}"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:g}"


def sentence(feature: str, value: float) -> str:
    """The reason a feature's value gives, in plain words: its template, else built from its meaning ("label:
    value, higher than average" on the side of concern; "label: value" for a neutral feature)."""
    known = meaning(feature)
    if known is None:
        return f"{feature.replace('_', ' ')}: {value:g}"
    text = shown(value, known.unit)
    if known.template is not None:
        return known.template.format(value=text)
    if known.unit == "flag":
        return known.label
    if known.concern == 0:
        return f"{known.label}: {text}"
    if known.unit == "count":
        return f"{known.label}: {text}, {'more' if known.concern > 0 else 'fewer'} than average"
    return f"{known.label}: {text}, {'higher' if known.concern > 0 else 'lower'} than average"


def concerning(features: Sequence[str], raw: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Whether each value (rows x features) may be given as a reason: a known feature's value on the side of
    concern beyond the model's ``centre`` and, as shown, beyond its neutral value; a neutral feature's (stated
    as it is) when present (a flag set). Missing values never are."""
    raw = np.asarray(raw, dtype=np.float64)
    ok = np.zeros(raw.shape, dtype=bool)
    finite = np.isfinite(raw)
    for j, feature in enumerate(features):  # features: tens
        known = meaning(feature)
        if known is None:
            continue
        values = raw[:, j]
        if known.concern == 0:
            ok[:, j] = finite[:, j] & ((values == 1.0) if known.unit == "flag" else True)
            continue
        side = float(known.concern)
        here = finite[:, j] & (side * (values - centre[j]) > 0)
        if known.neutral_value is not None:
            as_shown = rounded(np.where(finite[:, j], values, known.neutral_value), known.unit)
            here &= side * (as_shown - known.neutral_value) > 0
        ok[:, j] = here
    return ok


def reasons(
    features: Sequence[str], raw: np.ndarray, contributions: np.ndarray, centre: np.ndarray, top: int = 3
) -> list[list[str]]:
    """Each organisation's reasons: the ``top`` largest contributions that push its risk up (positive, on the
    log-odds) and whose values may be given (:func:`concerning`), largest first, in plain words. An empty list
    when none may: then no reason stands out, whatever the probability."""
    contributions = np.asarray(contributions, dtype=np.float64)[:, : len(features)]
    eligible = concerning(features, raw, centre) & (contributions > 0)
    masked = np.where(eligible, contributions, -np.inf)
    order = np.argsort(-masked, axis=1, kind="stable")[:, :top]
    out = []
    for i in range(raw.shape[0]):  # a few strings an organisation
        out.append([sentence(features[j], float(raw[i, j])) for j in order[i] if eligible[i, j]])
    return out


__all__ = [
    "FAMILIES",
    "MEANINGS",
    "Meaning",
    "concerning",
    "feature_label",
    "meaning",
    "reasons",
    "rounded",
    "sentence",
    "shown",
]
