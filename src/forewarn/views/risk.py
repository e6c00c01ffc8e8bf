"""The risk watchlist as the web app shows it: stored scores (``forewarn risk score``), not recomputed.

An analyst sees every organisation the latest scoring covered, ordered by calibrated risk, each with its 90%
interval and the range of places it could hold given everyone's intervals (organisations whose intervals overlap
are tied: there is no league table). A member sees only their own organisation's risk, without places: the
others' scores are not theirs to see.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import numpy as np
from pydantic import Field
from sqlalchemy import Connection, func, select

from forewarn.access.policy import Visibility
from forewarn.charts.risk import calibration_spec, lead_time_spec
from forewarn.risk.outcomes import Outcome
from forewarn.risk.reasons import feature_label
from forewarn.risk.store import latest_backtest, read_scores
from forewarn.store.models_risk import RiskModel, RiskScore
from forewarn.views.follow_up_flag import FollowUpFlagOut
from forewarn.views.model import Model

ORDER = (
    "Ordered by the model's calibrated probability of the outcome within its horizon. Organisations whose 90% "
    "intervals overlap, or whose probabilities are equal as shown, are tied: each row gives the range of places "
    "it could hold, not a rank."
)


class WatchlistRowOut(Model):
    organisation_id: int
    label: str
    code: str
    url: str
    probability: float = Field(description="Calibrated probability of the outcome within the horizon")
    lower: float = Field(description="Lower end of the 90% interval")
    upper: float = Field(description="Upper end of the 90% interval")
    place_best: int | None = Field(description="Best place it could hold (None for a member's own view)")
    place_worst: int | None = Field(description="Worst place it could hold (None for a member's own view)")
    tied: bool = Field(description="Its interval overlaps another organisation's")
    reasons: list[str]
    follow_up: FollowUpFlagOut | None = Field(
        default=None, description="Improvement decaying after a case's intervention was withdrawn (issue 14)"
    )


class WatchlistOut(Model):
    as_of: dt.date | None
    outcome: str | None
    horizon_months: int | None
    model_version: str | None
    whole_list: bool = Field(description="True for analysts: every organisation scored")
    order: str
    organisations: list[WatchlistRowOut]


def places(lower: np.ndarray, upper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The best and worst place of each organisation when only non-overlapping intervals order them: best = 1 +
    the number whose interval lies wholly above its own, worst = the number whose interval is not wholly below
    its own (itself included)."""
    lower, upper = np.asarray(lower, dtype=np.float64), np.asarray(upper, dtype=np.float64)
    sorted_lower, sorted_upper = np.sort(lower), np.sort(upper)
    above = lower.size - np.searchsorted(sorted_lower, upper, side="right")
    not_below = upper.size - np.searchsorted(sorted_upper, lower, side="left")
    return above + 1, not_below


SHOWN_DECIMALS = 3  # probabilities are shown as percentages to one decimal place


def tied_places(
    probability: np.ndarray, lower: np.ndarray, upper: np.ndarray, decimals: int = SHOWN_DECIMALS
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`places`, with organisations whose probabilities are equal as shown (rounded to ``decimals``)
    tied as well as those whose intervals overlap: each takes the widest interval of its group of equal shown
    probabilities (a model without refits gives intervals of no width)."""
    key = np.round(np.asarray(probability, dtype=np.float64) * 10**decimals).astype(np.int64)
    groups, member = np.unique(key, return_inverse=True)
    low = np.full(groups.size, np.inf)
    high = np.full(groups.size, -np.inf)
    np.minimum.at(low, member, np.asarray(lower, dtype=np.float64))
    np.maximum.at(high, member, np.asarray(upper, dtype=np.float64))
    return places(low[member], high[member])


def watchlist(conn: Connection, viewer: Visibility) -> WatchlistOut:
    """The latest stored scoring (the latest date; the lowest version if two models scored it)."""
    frame = read_scores(conn)
    if frame.height:
        latest = frame["as_of"].max()
        frame = frame.filter(frame["as_of"] == latest)
        version = min(frame["version"].to_list())
        frame = frame.filter(frame["version"] == version)
    empty = WatchlistOut(
        as_of=None,
        outcome=None,
        horizon_months=None,
        model_version=None,
        whole_list=viewer.all_organisations,
        order=ORDER,
        organisations=[],
    )
    if not frame.height:
        return empty
    best, worst = tied_places(
        frame["probability"].to_numpy(), frame["lower"].to_numpy(), frame["upper"].to_numpy()
    )
    rows = []
    for i, row in enumerate(frame.iter_rows(named=True)):
        if not viewer.may_open(row["organisation_id"]):
            continue
        whole = viewer.all_organisations
        rows.append(
            WatchlistRowOut(
                organisation_id=row["organisation_id"],
                label=row["name"],
                code=row["code"],
                url=f"/organisations/{row['organisation_id']}",
                probability=row["probability"],
                lower=row["lower"],
                upper=row["upper"],
                place_best=int(best[i]) if whole else None,
                place_worst=int(worst[i]) if whole else None,
                tied=bool(worst[i] > best[i]) if whole else False,
                reasons=list(row["reasons"]),
            )
        )
    first = frame.row(0, named=True)
    return WatchlistOut(
        as_of=first["as_of"],
        outcome=Outcome.parse(first["outcome"]).label(),
        horizon_months=first["horizon_months"],
        model_version=first["version"],
        whole_list=viewer.all_organisations,
        order=ORDER,
        organisations=rows,
    )


LOGISTIC_EXPLANATION = (
    "Each feature's exact contribution to the log-odds (coefficient x standardised value): with the model's "
    "intercept they sum to the log-odds of the risk."
)
BOOSTING_EXPLANATION = (
    "Each feature's TreeSHAP value: with the expected value they add up to the log-odds of the uncalibrated "
    "gradient-boosting model; the calibrated probability is a Platt-scaled function of those log-odds."
)


class ContributionOut(Model):
    feature: str = Field(description="The model's column")
    label: str = Field(description="The column in plain words")
    log_odds: float = Field(
        description="Its exact contribution to the log-odds: coefficient x standardised value"
    )


class WatchlistWhyOut(Model):
    """Why an organisation is on the watchlist: its latest stored score and the reasons behind it."""

    as_of: dt.date
    outcome: str
    horizon_months: int
    model_version: str
    probability: float = Field(description="Calibrated probability of the outcome within the horizon")
    lower: float = Field(description="Lower end of the 90% interval")
    upper: float = Field(description="Upper end of the 90% interval")
    reasons: list[str] = Field(description="The largest contributions on the side of risk, in plain words")
    intercept: float = Field(
        description="What the contributions add to: the logistic model's intercept, or the boosting model's "
        "TreeSHAP expected value (log-odds)"
    )
    contributions: list[ContributionOut] = Field(
        description="The largest contributions on the side of risk (log-odds), largest first"
    )
    model: str = Field(default="logistic", description="logistic or boosting")
    explanation: str = Field(default=LOGISTIC_EXPLANATION, description="What the contributions are")
    watchlist_url: str
    backtest_url: str | None = Field(description="The backtest's page, for analysts and administrators")

    def key(self) -> tuple[object, ...]:
        """Everything the rendered panel depends on, hashable (for kept page content)."""
        return (self.model_dump_json(),)


def why_on_watchlist(
    conn: Connection,
    viewer: Visibility,
    organisation_id: int,
    *,
    latest: Callable[[Connection, int], WatchlistWhyOut | None] | None = None,
) -> WatchlistWhyOut | None:
    """:func:`latest_why` as this viewer sees it: None when they may not open the organisation, and the
    backtest's link for analysts and administrators only. ``latest`` reads it (a kept read in the web app)."""
    if not viewer.may_open(organisation_id):
        return None
    why = (latest or latest_why)(conn, organisation_id)
    if why is not None and not viewer.all_organisations:
        why = why.model_copy(update={"backtest_url": None})
    return why


def latest_why(conn: Connection, organisation_id: int, top: int = 3) -> WatchlistWhyOut | None:
    """The organisation's latest stored score (its latest date; the lowest model version if two models scored
    it then), or None when it has none, as an analyst sees it. Usually the scoring ``/risk`` shows; an
    organisation of a dataset scored to an earlier date (the demo's A&E trusts, scored as of the end of their
    data) keeps its own latest.

    The contributions are those the scoring stored (``forewarn risk score``): the logistic model's exact
    contributions to the log-odds, which with the intercept sum to the logit of the probability, or a boosting
    model's TreeSHAP values, which with the expected value sum to its uncalibrated margin."""
    own = RiskScore.organisation_id == organisation_id
    latest = conn.execute(select(func.max(RiskScore.as_of)).where(own)).scalar()
    if latest is None:
        return None
    version = conn.execute(
        select(func.min(RiskModel.version))
        .join(RiskScore, RiskScore.model_id == RiskModel.id)
        .where(own, RiskScore.as_of == latest)
    ).scalar_one()
    row = conn.execute(
        select(
            RiskScore.probability,
            RiskScore.lower,
            RiskScore.upper,
            RiskScore.reasons,
            RiskScore.contributions,
            RiskModel.outcome,
            RiskModel.horizon_months,
            RiskModel.intercept,
            RiskModel.kind,
            RiskModel.calibration,
        )
        .join(RiskModel, RiskModel.id == RiskScore.model_id)
        .where(own, RiskScore.as_of == latest, RiskModel.version == version)
    ).one()
    ranked = sorted((row.contributions or {}).items(), key=lambda item: (-item[1], item[0]))
    boosting = row.kind == "boosting"
    # A boosting model's contributions are TreeSHAP values; they add up with the expected value (stored with
    # the model's calibration) to its uncalibrated margin.
    base = float((row.calibration or {}).get("shap_expected_value") or 0.0) if boosting else row.intercept
    return WatchlistWhyOut(
        as_of=latest,
        outcome=Outcome.parse(row.outcome).label(),
        horizon_months=row.horizon_months,
        model_version=version,
        probability=row.probability,
        lower=row.lower,
        upper=row.upper,
        reasons=list(row.reasons or []),
        intercept=base,
        model=row.kind,
        explanation=BOOSTING_EXPLANATION if boosting else LOGISTIC_EXPLANATION,
        contributions=[
            ContributionOut(feature=name, label=feature_label(name), log_odds=value)
            for name, value in ranked[:top]
            if value > 0
        ],
        watchlist_url="/risk",
        backtest_url="/risk/backtest",
    )


class BacktestFigureOut(Model):
    score: str
    auc: float | None
    auc_lower: float | None
    auc_upper: float | None
    recall_at_10: float | None
    recall_at_20: float | None
    precision_at_10: float | None
    lead_time: dict[str, float | None]


class BacktestOut(Model):
    version: str | None
    run_at: dt.datetime | None
    outcome: str | None
    model: str | None
    horizon_months: int | None
    n_cases: int | None
    n_events: int | None
    test_origins: list[str]
    brier: float | None
    brier_skill: float | None
    median_lead_months: float | None
    soft_measures: str | None = Field(
        description="The answer to 'do soft measures help here?' in one sentence"
    )
    figures: list[BacktestFigureOut]
    calibration: dict[str, list[float]] | None
    specs: dict[str, dict[str, Any]] = Field(description="Vega-Lite specs: calibration, lead_time")
    explanations: dict[str, Any] | None = Field(
        default=None,
        description="A boosting backtest's mean absolute TreeSHAP value of each feature at its last test origin",
    )


SCORE_NAMES = {
    "model": "risk model",
    "signal_count": "today's signal count",
    "naive_mean_z": "naive mean z",
    "last_grade": "last grade",
    "latent_truth": "latent truth (ceiling)",
}


def _figure(name: str, figures: dict[str, Any]) -> BacktestFigureOut:
    low, high = (figures.get("auc_ci") or [None, None])[:2]
    return BacktestFigureOut(
        score=SCORE_NAMES.get(name, name.replace("_", " ")),
        auc=figures.get("auc"),
        auc_lower=low,
        auc_upper=high,
        recall_at_10=figures.get("recall_at_10"),
        recall_at_20=figures.get("recall_at_20"),
        precision_at_10=figures.get("precision_at_10"),
        lead_time=dict(figures.get("lead_time") or {}),
    )


def backtest(conn: Connection) -> BacktestOut:
    """The latest stored backtest (``forewarn risk backtest``) with its calibration and lead-time charts."""
    stored = latest_backtest(conn)
    if stored is None:
        return BacktestOut(
            version=None,
            run_at=None,
            outcome=None,
            model=None,
            horizon_months=None,
            n_cases=None,
            n_events=None,
            test_origins=[],
            brier=None,
            brier_skill=None,
            median_lead_months=None,
            soft_measures=None,
            figures=[],
            calibration=None,
            specs={},
        )
    result = stored.result
    figures = [_figure("model", result)] + [
        _figure(name, values) for name, values in (result.get("baselines") or {}).items()
    ]
    calibration = result.get("calibration")
    specs: dict[str, dict[str, Any]] = {}
    if calibration:
        specs["calibration"] = calibration_spec(calibration["predicted"], calibration["observed"])
    curves = {f.score: f.lead_time for f in figures if f.lead_time}
    if curves:
        specs["lead_time"] = lead_time_spec(curves)
    return BacktestOut(
        version=stored.version,
        run_at=stored.run_at,
        outcome=result.get("outcome"),
        model=result.get("model"),
        horizon_months=result.get("horizon_months"),
        n_cases=result.get("n_cases"),
        n_events=result.get("n_events"),
        test_origins=[str(o) for o in result.get("test_origins") or []],
        brier=result.get("brier"),
        brier_skill=result.get("brier_skill"),
        median_lead_months=result.get("median_lead_months"),
        soft_measures=result.get("soft_measures_sentence"),
        figures=figures,
        calibration=calibration,
        specs=specs,
        explanations=result.get("explanations"),
    )


__all__ = [
    "ORDER",
    "BacktestOut",
    "ContributionOut",
    "WatchlistOut",
    "WatchlistRowOut",
    "WatchlistWhyOut",
    "backtest",
    "feature_label",
    "places",
    "tied_places",
    "watchlist",
    "why_on_watchlist",
]
