"""What counts as failure, per dataset: an event of a kind and grade, or an indicator below its standard.

``inspection:inadequate`` is an inspection graded inadequate; ``special_measures_start`` any event of that kind;
``inspection:inadequate,requires_improvement`` either grade. A *new* failure (``new_only``) is one whose
organisation was not failing at the origin: its latest inspection grade then was not a failing grade (and it was
not in special measures). ``below:CODE:STANDARD:N`` is derived from an indicator: N consecutive periods below the
standard (e.g. ``below:ae_4h_type1:0.95:3``, A&E under 95% within four hours for a quarter), dated at the end of
the N-th period.

Grades are ordinal per framework; the default is the CQC/Ofsted one (outstanding < good < requires improvement <
inadequate).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from forewarn.risk.history import StoreHistory

GRADE_ORDER = ("outstanding", "good", "requires_improvement", "inadequate")


@dataclass(frozen=True)
class Outcome:
    """A failure definition, parsed from ``KIND[:GRADE,...]`` or ``below:CODE:STANDARD:N``."""

    kind: str
    grades: tuple[str, ...] = ()
    indicator: str | None = None
    standard: float | None = None
    periods: int = 1

    @classmethod
    def parse(cls, text: str) -> Outcome:
        parts = text.strip().split(":")
        if parts[0] == "below":
            if len(parts) != 4:
                raise ValueError(f"outcome {text!r}: write below:INDICATOR:STANDARD:PERIODS")
            try:
                standard, periods = float(parts[2]), int(parts[3])
            except ValueError:
                raise ValueError(
                    f"outcome {text!r}: the standard is a number and the periods a whole number"
                ) from None
            if periods < 1:
                raise ValueError(f"outcome {text!r}: periods must be at least 1")
            return cls(kind="below", indicator=parts[1], standard=standard, periods=periods)
        if not parts[0] or len(parts) > 2:
            raise ValueError(f"outcome {text!r}: write KIND or KIND:GRADE[,GRADE...]")
        grades = tuple(g.strip() for g in parts[1].split(",") if g.strip()) if len(parts) == 2 else ()
        unknown = [g for g in grades if g not in GRADE_ORDER]
        if unknown:
            raise ValueError(
                f"outcome {text!r}: unknown grade(s) {unknown}; grades are {', '.join(GRADE_ORDER)}"
            )
        return cls(kind=parts[0], grades=grades)

    def spec(self) -> str:
        """The text :meth:`parse` reads back to this outcome."""
        if self.kind == "below":
            return f"below:{self.indicator}:{self.standard:g}:{self.periods}"
        return self.kind + (":" + ",".join(self.grades) if self.grades else "")

    def check(self, history: StoreHistory) -> None:
        """Refuse an outcome the data cannot show: an event kind absent from the events, an unknown indicator."""
        if self.kind == "below":
            codes = set(history.indicators["code"].to_list()) if history.indicators.height else set()
            if self.indicator not in codes:
                known = ", ".join(sorted(codes)[:10]) or "none"
                raise ValueError(f"no indicator {self.indicator!r} in the store (indicators: {known})")
            return
        kinds = set(history.events["kind"].unique().to_list()) if history.events.height else set()
        if self.kind not in kinds:
            known = ", ".join(sorted(kinds)) or "none"
            raise ValueError(f"no events of kind {self.kind!r} in the store (kinds: {known})")

    def label(self) -> str:
        if self.kind == "below":
            return f"{self.indicator} below {self.standard:g} for {self.periods} consecutive period(s)"
        return f"{self.kind}" + (f" graded {' or '.join(self.grades)}" if self.grades else "")


def failures(history: StoreHistory, outcome: Outcome) -> pl.DataFrame:
    """Every failure in ``history``: organisation_id and date (when it became known)."""
    if outcome.kind == "below":
        return _below_standard(history, outcome)
    events = history.events.filter(pl.col("kind") == outcome.kind)
    if outcome.grades:
        events = events.filter(pl.col("grade").is_in(list(outcome.grades)))
    return (
        events.select("organisation_id", pl.col("known_on").alias("date"))
        .unique()
        .sort("organisation_id", "date")
    )


def _runs_below(history: StoreHistory, outcome: Outcome) -> pl.DataFrame:
    """Each observation of the outcome's indicator with the length of its run of periods below the standard."""
    indicator = history.indicators.filter(pl.col("code") == outcome.indicator)
    if indicator.is_empty():
        raise ValueError(f"outcome indicator {outcome.indicator!r} is not in the store")
    return (
        history.indicator_observations(indicator["indicator_id"].to_list())
        .sort("organisation_id", "period_start")
        .with_columns((pl.col("value") < outcome.standard).fill_null(False).alias("below"))
        # Length of the current run of periods below the standard.
        .with_columns(
            (pl.col("below") != pl.col("below").shift(1).over("organisation_id"))
            .fill_null(True)
            .cum_sum()
            .over("organisation_id")
            .alias("run")
        )
        .with_columns(pl.col("below").cum_sum().over("organisation_id", "run").alias("run_length"))
    )


def _below_standard(history: StoreHistory, outcome: Outcome) -> pl.DataFrame:
    frame = _runs_below(history, outcome)
    hits = frame.filter(pl.col("below") & (pl.col("run_length") == outcome.periods))
    return (
        hits.select("organisation_id", pl.col("known_on").alias("date"))
        .unique()
        .sort("organisation_id", "date")
    )


def failing_at(history: StoreHistory, outcome: Outcome, origin: dt.date) -> pl.DataFrame:
    """Organisations failing at ``origin``: last known grade failing, in special measures, or (for a derived
    outcome) whose latest known run below the standard has reached its length. One column, organisation_id."""
    known = history.as_of(origin, observations=outcome.kind == "below")  # only a derived outcome reads them
    if outcome.kind == "below":
        # Failing while the latest known run below the standard has reached its length.
        latest = _runs_below(known, outcome).group_by("organisation_id").agg(pl.all().last())
        failing_now = latest.filter(pl.col("below") & (pl.col("run_length") >= outcome.periods))
        return failing_now.select("organisation_id")
    inspections = known.events.filter(pl.col("kind") == "inspection").sort("date")
    last = inspections.group_by("organisation_id").agg(pl.col("grade").last())
    failing_grades = list(outcome.grades) if outcome.grades else ["inadequate"]
    failing = last.filter(pl.col("grade").is_in(failing_grades)).select("organisation_id")
    measures = known.events.filter(pl.col("kind").is_in(["special_measures_start", "special_measures_end"]))
    in_measures = (
        measures.sort("date")
        .group_by("organisation_id")
        .agg(pl.col("kind").last())
        .filter(pl.col("kind") == "special_measures_start")
        .select("organisation_id")
    )
    return pl.concat([failing, in_measures]).unique()


__all__ = ["GRADE_ORDER", "Outcome", "failing_at", "failures"]
