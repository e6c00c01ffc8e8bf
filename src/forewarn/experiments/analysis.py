"""Analysing a registered experiment: the outcome indicator's observations for its organisations read from the
store (periods before the planned start the baseline, from it on the outcome), the pre-registered method by
default (any other stored as not pre-registered), with a padlock rating on every result
(:mod:`forewarn.experiments.padlocks`) and a plain reading through the indicator's polarity."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, Engine, insert, select

from forewarn.domain import improvement_side
from forewarn.experiments.padlocks import mdes_from_standard_error, rate
from forewarn.experiments.registry import (
    ANALYSES,
    RANDOMISED,
    ExperimentError,
    ExperimentInfo,
    experiment_row,
    get_experiment,
    now_utc,
    record_event,
    who_acts,
)
from forewarn.store.database import transaction
from forewarn.store.models import Indicator, Observation, Organisation
from forewarn.store.models_experiments import (
    ExperimentResult,
    ExperimentUnit,
)

__all__ = ["analyse_experiment", "reading"]


def _frames(conn: Connection, row: Any) -> tuple[Any, Any]:
    """Per-observation frame (organisation, arm, period, value, post) for the experiment's units."""
    import pandas as pd  # type: ignore[import-untyped]

    units = pd.DataFrame(
        conn.execute(
            select(
                Organisation.code,
                ExperimentUnit.organisation_id,
                ExperimentUnit.arm,
                ExperimentUnit.adopted_on,
            )
            .join(Organisation, Organisation.id == ExperimentUnit.organisation_id)
            .where(ExperimentUnit.experiment_id == row.id)
            .order_by(Organisation.code)
        ).all(),
        columns=["code", "organisation_id", "arm", "adopted_on"],
    )
    observations = pd.DataFrame(
        conn.execute(
            select(Observation.organisation_id, Observation.period_start, Observation.value)
            .where(
                Observation.indicator_id == row.outcome_indicator_id,
                Observation.organisation_id.in_(units["organisation_id"].tolist()),
                Observation.value.is_not(None),
            )
            # A fixed order, so sums (and the stored result) are the same to the last digit on every database.
            .order_by(Observation.organisation_id, Observation.period_start)
        ).all(),
        columns=["organisation_id", "period_start", "value"],
    )
    frame = observations.merge(units, on="organisation_id")
    frame["post"] = (pd.to_datetime(frame["period_start"]) >= pd.Timestamp(row.planned_start)).astype(int)
    return units, frame


def analyse_experiment(
    db: Engine | Connection, ref: int | str, *, method: str | None = None, by: str | None = None
) -> ExperimentInfo:
    """Run the pre-registered analysis (or ``method``), rate it and store the result."""
    import numpy as np
    import pandas as pd

    from forewarn.stats.experiments.its import segmented_regression
    from forewarn.stats.experiments.means import cluster_robust, difference_in_means

    who = who_acts(by)
    with transaction(db) as conn:
        row = experiment_row(conn, ref)
        if row.status == "draft":
            raise ExperimentError(
                "start the experiment before analysing it (the analysis plan must be locked first)"
            )
        planned = str(row.analysis_plan.get("method"))
        chosen = method or planned
        if chosen not in ANALYSES:
            raise ExperimentError(f"analysis must be one of {', '.join(ANALYSES)}")
        units, frame = _frames(conn, row)
        if frame.empty:
            raise ExperimentError("no observations of the outcome indicator for these organisations")
        arms = sorted({str(a) for a in units["arm"] if isinstance(a, str)})
        treated_arm = (
            "intervention" if "intervention" in arms or not arms else next(a for a in arms if a != "control")
        )
        frame["treated"] = (frame["arm"] == treated_arm).astype(int)
        pre = frame[frame["post"] == 0].groupby("code")["value"].mean()
        post = frame[frame["post"] == 1].groupby("code")["value"].mean()
        allocated = units["code"].tolist()
        attrition = 1 - len(post) / len(allocated)
        outcome_sd = float(post.std(ddof=1)) if len(post) > 2 else float("nan")
        arm_of = dict(zip(units["code"], units["arm"], strict=True))
        baseline = None
        if len(pre) and row.design in RANDOMISED:
            pre_t = pre[[arm_of[c] == treated_arm for c in pre.index]]
            pre_c = pre[[arm_of[c] != treated_arm for c in pre.index]]
            sd = float(pre.std(ddof=1))
            if len(pre_t) and len(pre_c) and sd > 0:
                baseline = float((pre_t.mean() - pre_c.mean()) / sd)
        if chosen == "difference_in_means":
            t = post[[arm_of[c] == treated_arm for c in post.index]]
            c = post[[arm_of[c] != treated_arm for c in post.index]]
            estimate = difference_in_means(t.to_numpy(), c.to_numpy())
            result: dict[str, Any] = estimate.to_dict()
            se = estimate.std_error
        elif chosen == "cluster_robust":
            data = frame[frame["post"] == 1].copy()
            covariates: list[str] = []
            if len(pre):
                data["baseline"] = data["code"].map(pre)
                data = data.dropna(subset=["baseline"])
                covariates = ["baseline"]
            try:
                estimate = cluster_robust(data, "value", "treated", "code", covariates)
            except ValueError as exc:
                raise ExperimentError(str(exc)) from None
            result = estimate.to_dict() | {"covariates": covariates}
            se = estimate.std_error
        elif chosen == "synthetic_control":
            result, se, outcome_sd = _synthetic(frame, units, row.planned_start)
        elif chosen == "staggered_did":
            result, se, outcome_sd = _staggered(frame, units)
        elif chosen == "hussey_hughes":
            result, se, outcome_sd = _stepped_wedge(frame, row)
            baseline = None  # every unit is its own control before it crosses over
        else:
            series = frame[frame["treated"] == 1] if row.design != "its" else frame
            mean = (
                series.groupby("period_start")
                .agg(value=("value", "mean"), post=("post", "max"))
                .reset_index()
            )
            mean["t"] = np.arange(1, len(mean) + 1)
            its = segmented_regression(
                mean, "value", "t", "post", family="gaussian", autocorrelation="newey-west"
            )
            result = its.to_dict()
            se = its.level_change.std_error
            result["estimate"] = its.level_change.estimate
            result["ci_low"], result["ci_high"] = its.level_change.ci_low, its.level_change.ci_high
            outcome_sd = float(mean.loc[mean["post"] == 0, "value"].std(ddof=1))
        usable = bool(np.isfinite(se) and se > 0 and np.isfinite(outcome_sd) and outcome_sd > 0)
        mdes = mdes_from_standard_error(se, outcome_sd) if usable else None
        rating = rate(row.design, mdes=mdes, attrition=max(0.0, attrition), baseline_difference=baseline)
        polarity = conn.execute(
            select(Indicator.polarity).where(Indicator.id == row.outcome_indicator_id)
        ).scalar_one()
        result |= {
            "outcome_sd": outcome_sd,
            "treated_arm": treated_arm,
            "units_with_outcome": len(post),
            "reading": reading(result, str(getattr(polarity, "value", polarity))),
        }
        conn.execute(
            insert(ExperimentResult).values(
                experiment_id=row.id,
                method=chosen,
                pre_registered=chosen == planned,
                result=json.loads(json.dumps(result, default=float)),
                padlocks=rating.padlocks,
                rating=rating.to_dict(),
                analysed_by=who,
                analysed_at=now_utc(),
            )
        )
        record_event(
            conn,
            row.id,
            who,
            "analysed",
            new={"method": chosen, "padlocks": rating.padlocks},
            reason=None if chosen == planned else "not the pre-registered analysis",
        )
        _ = pd  # the frames above are pandas
        return get_experiment(conn, row.id)


def reading(result: Mapping[str, Any], polarity: str, alpha: float = 0.05) -> str:
    """What the result says in the indicator's own terms (its polarity, :mod:`forewarn.domain`): "improvement" or
    "worsening" when the interval (or, for a synthetic control, the placebo test) rules out no effect, else "no
    clear change"; "change" for an indicator with no better direction."""
    estimate, low, high = result.get("estimate"), result.get("ci_low"), result.get("ci_high")
    if not isinstance(estimate, int | float):
        return "no estimate"
    if isinstance(low, int | float) and isinstance(high, int | float):
        clear = low > 0 or high < 0
    else:
        p = result.get("p_value")
        clear = isinstance(p, int | float) and p < alpha
    if not clear or estimate == 0:
        return "no clear change"
    side = improvement_side(polarity)
    if side == 0:
        return "change"
    return "improvement" if side * estimate > 0 else "worsening"


def _panel(frame: Any) -> Any:
    """Units x periods of the outcome, keeping only the units observed in every period."""
    wide = frame.pivot_table(
        index="period_start", columns="code", values="value", aggfunc="mean"
    ).sort_index()
    return wide.dropna(axis=1)


def _synthetic(frame: Any, units: Any, start: dt.date) -> tuple[dict[str, Any], float, float]:
    """Synthetic control of the one treated unit from the comparison units; lagged outcomes as predictors."""
    import numpy as np
    import pandas as pd

    from forewarn.stats.experiments.synth import Predictor, synthetic_control

    wide = _panel(frame)
    treated = [c for c, a in zip(units["code"], units["arm"], strict=True) if a == "intervention"]
    if not treated or treated[0] not in wide.columns:
        raise ExperimentError("the treated unit has no complete series of the outcome")
    periods = list(range(len(wide.index)))
    pre = [i for i, p in enumerate(wide.index) if pd.Timestamp(p) < pd.Timestamp(start)]
    if len(pre) < 3 or len(pre) == len(periods):
        raise ExperimentError(
            "a synthetic control needs at least three periods before the start and one after"
        )
    long = (
        wide.reset_index(drop=True)
        .rename_axis("t")
        .reset_index()
        .melt(id_vars="t", var_name="unit", value_name="y")
    )
    picks = sorted({pre[0], pre[len(pre) // 2], pre[-1]})
    predictors = [Predictor("y", tuple(pre), label="pre-period mean"), *(Predictor("y", (i,)) for i in picks)]
    fit = synthetic_control(
        long,
        unit="unit",
        time="t",
        outcome="y",
        treated=treated[0],
        intervention=len(pre),
        predictors=predictors,
    )
    placebo_gaps = np.array([g[fit.post].mean() for g in fit.placebo_gaps.values()])
    se = float(placebo_gaps.std(ddof=1)) if len(placebo_gaps) > 1 else float("nan")
    out = fit.to_dict() | {
        "estimate": fit.average_post_gap,
        "ci_low": None,
        "ci_high": None,
        "std_error_from_placebos": se,
    }
    return out, se, float(np.std(wide.iloc[pre].to_numpy(), ddof=1))


def _staggered(frame: Any, units: Any) -> tuple[dict[str, Any], float, float]:
    """Callaway & Sant'Anna with each adopter's adoption period and the comparison units as never treated."""
    import pandas as pd

    from forewarn.stats.experiments.staggered import callaway_santanna

    wide = _panel(frame)
    index = {pd.Timestamp(p): i + 1 for i, p in enumerate(wide.index)}
    first: dict[str, int] = {}
    for code, arm, adopted in zip(units["code"], units["arm"], units["adopted_on"], strict=True):
        if code not in wide.columns:
            continue
        if arm == "intervention" and adopted is not None:
            later = [i for p, i in index.items() if p >= pd.Timestamp(adopted)]
            first[code] = min(later) if later else 0
        else:
            first[code] = 0
    long = (
        wide.reset_index(drop=True)
        .rename_axis("t")
        .reset_index()
        .melt(id_vars="t", var_name="unit", value_name="y")
    )
    long["t"] = long["t"] + 1
    long["g"] = long["unit"].map(first)
    fit = callaway_santanna(long, unit="unit", time="t", outcome="y", group="g")
    simple = fit.simple()
    out = fit.to_dict() | {"estimate": simple.att, "ci_low": simple.ci_low, "ci_high": simple.ci_high}
    pre_values = long[(long["g"] == 0) | (long["t"] < long["g"])]["y"]
    return out, simple.std_error, float(pre_values.std(ddof=1))


def crossover_dates(arms: Any, start: dt.date, end: dt.date) -> dict[str, dt.date]:
    """When each step of a stepped wedge crosses over: the planned period split into as many equal parts as there
    are steps, step 1 at the planned start (``{"step 1": start, "step 2": start + (end - start) / k, ...}``)."""
    steps = sorted({int(a.split()[-1]) for a in arms if isinstance(a, str) and a.startswith("step ")})
    if not steps:
        return {}
    count = max(steps)
    length = (end - start) / count
    return {f"step {s}": start + (s - 1) * length for s in range(1, count + 1)}


def _stepped_wedge(frame: Any, row: Any) -> tuple[dict[str, Any], float, float]:
    """Hussey & Hughes' mixed model: treatment from each unit's crossover, fixed period effects, a random
    intercept by organisation (:func:`forewarn.stats.experiments.stepped_wedge.hussey_hughes`). A parallel design's
    intervention arm crosses over at the planned start, or at each unit's adoption date."""
    import numpy as np
    import pandas as pd

    from forewarn.stats.experiments.stepped_wedge import hussey_hughes

    crossover = crossover_dates(frame["arm"].unique(), row.planned_start, row.planned_end)
    if crossover:
        starts = frame["arm"].map(crossover)
    else:
        starts = frame["adopted_on"].where(frame["adopted_on"].notna(), row.planned_start)
        starts = starts.where(frame["arm"] == "intervention")
    periods = pd.to_datetime(frame["period_start"])
    treated = (periods >= pd.to_datetime(starts)).to_numpy(dtype=float)
    try:
        fit = hussey_hughes(
            frame["value"].to_numpy(dtype=float),
            frame["code"].to_numpy(),
            periods.to_numpy(),
            treated,
        )
    except ValueError as exc:
        raise ExperimentError(str(exc)) from None
    control = frame["value"].to_numpy(dtype=float)[treated == 0]
    result = fit.to_dict() | {
        "crossover": {arm: day.isoformat() for arm, day in sorted(crossover.items())},
    }
    return result, fit.std_error, float(np.std(control, ddof=1)) if control.size > 1 else float("nan")
