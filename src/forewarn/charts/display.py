"""How values and codes read wherever people see them: in page tables and in charts alike.

Each rule is written once here; the web app registers these functions as Jinja filters
(:func:`forewarn.web.rendering.build_environment`) and the chart specs use the same scales, so a proportion
reads ``82.6%`` in a table, on an axis and in a tooltip. The JSON API is not touched: it keeps the stored
numbers (raw ratios) and codes.

An indicator's *kind* says what its values are (:class:`forewarn.store.models.IndicatorKind`): a proportion
is stored as a fraction of 1 (``0.826``), or, when its unit is per cent (``%``), already multiplied by 100.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

PER_CENT_UNITS = frozenset({"%", "per cent", "percent", "percentage"})
"""Units that say a proportion is stored multiplied by 100."""


@dataclass(frozen=True, slots=True)
class Scale:
    """How one indicator's values are shown and what range they can take.

    ``per_cent`` values are shown as percentages, ``factor`` times the stored value (100 for a fraction of 1,
    1 for values already in per cent). ``lower`` and ``upper`` are the measure's natural bounds (None where it
    has none): no value, and so no limit worth drawing, lies outside them.
    """

    per_cent: bool = False
    factor: float = 1.0
    lower: float | None = None
    upper: float | None = None

    def bound_text(self, bound: float) -> str:
        """A bound in words: ``0``, ``0%``, ``100%``."""
        return f"{bound * self.factor:g}%" if self.per_cent else f"{bound:g}"

    @property
    def axis_format(self) -> str | None:
        """The Vega-Lite (d3) format of an axis of these values; None for Vega-Lite's default."""
        if not self.per_cent:
            return None
        return ".0%" if self.factor != 1 else None

    @property
    def tooltip_format(self) -> str:
        """The Vega-Lite (d3) format of one value in a tooltip."""
        if self.per_cent and self.factor != 1:
            return ".1%"
        if self.per_cent:
            return ",.1f"
        return ",.4~g"


PLAIN = Scale()
NON_NEGATIVE = Scale(lower=0.0)


def scale_of(kind: str | None, unit: str | None = None) -> Scale:
    """The scale of an indicator's own values (each period's value, the SPC mean and limits, the target).

    Counts, rates and ratios of observed to expected cannot be negative; a proportion lies between 0 and 1 (or
    0 and 100 when stored in per cent); a mean may be anything.

    >>> scale_of("proportion", "proportion")
    Scale(per_cent=True, factor=100.0, lower=0.0, upper=1.0)
    >>> scale_of("proportion", "%")
    Scale(per_cent=True, factor=1.0, lower=0.0, upper=100.0)
    >>> scale_of("count", "attendances").lower, scale_of("mean", "%").lower
    (0.0, None)
    """
    if kind == "proportion":
        if (unit or "").strip().casefold() in PER_CENT_UNITS:
            return Scale(per_cent=True, factor=1.0, lower=0.0, upper=100.0)
        return Scale(per_cent=True, factor=100.0, lower=0.0, upper=1.0)
    if kind in ("count", "rate", "ratio_oe"):
        return NON_NEGATIVE
    return PLAIN


def compared_scale_of(kind: str | None) -> Scale:
    """The scale of the values a funnel plot compares: a proportion's is the fraction of the window's totals
    (whatever its unit); a rate's or ratio's is a ratio of observed to expected."""
    if kind == "proportion":
        return scale_of("proportion")
    return NON_NEGATIVE if kind in ("rate", "ratio_oe") else PLAIN


def number_text(value: object, digits: int = 3) -> str:
    """A number as the pages show it: three significant figures below 1, thousands separated, "–" for none.

    >>> [number_text(v) for v in (None, 1234567, 0.826, 12.345, 0.00012, float("nan"), True)]
    ['–', '1,234,567', '0.826', '12.35', '0.00012', '–', 'yes']
    """
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "–"
        if value != 0 and abs(value) < 10**-(digits):
            return f"{value:.{digits}g}"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return (
            f"{value:,.{digits}g}"
            if abs(value) < 1
            else f"{value:,.{max(digits - 1, 0)}f}".rstrip("0").rstrip(".")
        )
    return str(value)


def value_text(value: object, scale: Scale) -> str:
    """One value on its scale: a percentage to one decimal place (two significant figures below 1%), else
    :func:`number_text`.

    >>> proportion = scale_of("proportion")
    >>> [value_text(v, proportion) for v in (0.826, 0.95, 1.0, 0.0012, 0.0, None)]
    ['82.6%', '95.0%', '100.0%', '0.12%', '0.0%', '–']
    >>> value_text(82.6, scale_of("proportion", "%")), value_text(4.5, scale_of("rate"))
    ('82.6%', '4.5')
    """
    if not scale.per_cent or isinstance(value, bool) or not isinstance(value, int | float):
        return number_text(value)
    if not math.isfinite(value):
        return "–"
    shown = float(value) * scale.factor
    if shown != 0 and abs(shown) < 1:
        return f"{shown:.2g}%"
    return f"{shown:,.1f}%"


def measure_text(value: object, kind: str | None, unit: str | None = None) -> str:
    """An indicator's own value: ``value|measure(kind, unit)`` in templates."""
    return value_text(value, scale_of(kind, unit))


def measure_with_unit(value: object, kind: str | None, unit: str | None = None) -> str:
    """An indicator's own value followed by its unit (``4.5 per 1,000``); a percentage carries its own sign.

    >>> measure_with_unit(0.826, "proportion", "proportion"), measure_with_unit(4.5, "rate", "per 1,000")
    ('82.6%', '4.5 per 1,000')
    """
    scale = scale_of(kind, unit)
    text = value_text(value, scale)
    return text if scale.per_cent or not unit else f"{text} {unit}"


def compared_text(value: object, kind: str | None) -> str:
    """A value a funnel plot compares (see :func:`compared_scale_of`)."""
    return value_text(value, compared_scale_of(kind))


def signal_text(value: object, method: str, kind: str | None, unit: str | None = None) -> str:
    """The value a surveillance signal records: the period's value (SPC), the compared value (funnel), or the
    CUSUM statistic, which is on no indicator's scale."""
    if method == "spc":
        return measure_text(value, kind, unit)
    if method == "funnel":
        return compared_text(value, kind)
    return number_text(value)


KINDS = {
    "proportion": "Proportion",
    "rate": "Rate",
    "ratio_oe": "Ratio of observed to expected",
    "mean": "Mean",
    "count": "Count",
}
"""Labels of indicator kinds (:class:`forewarn.store.models.IndicatorKind`)."""


def kind_label(kind: object) -> str:
    """An indicator kind as people read it.

    >>> kind_label("ratio_oe"), kind_label("proportion")
    ('Ratio of observed to expected', 'Proportion')
    """
    if kind is None or kind == "":
        return "–"
    return KINDS.get(str(kind), _words(str(kind)))


def _words(code: str) -> str:
    text = code.replace("_", " ").strip()
    return text[:1].upper() + text[1:]


EVENT_KINDS = {
    "inspection": "Inspection",
    "special_measures_start": "Special measures started",
    "special_measures_end": "Special measures ended",
    "intervention_start": "Intervention started",
    "intervention_end": "Intervention ended",
    "leadership_change": "Leadership change",
}
"""Labels of the event kinds Forewarn writes (the simulator) or imports; other kinds read as words."""

GRADES = {
    "outstanding": "Outstanding",
    "good": "Good",
    "requires_improvement": "Requires improvement",
    "inadequate": "Inadequate",
}
"""Labels of inspection grades (Ofsted and CQC wording); other grades are shown as recorded, as words."""


def event_label(kind: object) -> str:
    """An event kind as people read it.

    >>> event_label("special_measures_start"), event_label("board_review"), event_label(None)
    ('Special measures started', 'Board review', '–')
    """
    if kind is None or kind == "":
        return "–"
    code = str(kind)
    return EVENT_KINDS.get(code.strip().casefold(), _words(code) if "_" in code else code)


def grade_label(grade: object) -> str:
    """An inspection grade as people read it; text that is already words stays as it is.

    >>> grade_label("requires_improvement"), grade_label("Requires improvement"), grade_label(None)
    ('Requires improvement', 'Requires improvement', '–')
    """
    if grade is None or grade == "":
        return "–"
    code = str(grade)
    return GRADES.get(code.strip().casefold(), _words(code) if "_" in code else code)
