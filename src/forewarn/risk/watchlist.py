"""The watchlist: every organisation's risk as of a date, with an interval and the reasons in plain words.

The logistic model is trained on every origin whose outcome was known by the date (origins at least a horizon
earlier) and scores the organisations from what was known on the date. The interval comes from refitting on
bootstrap resamples of the training organisations; the reasons are the model's exact contributions (coefficient
times the standardised feature, on the log-odds scale), the largest on the side of risk first.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from forewarn.risk.backtest import BacktestOptions, add_months, labelled_cases, model_pipeline
from forewarn.risk.features import origin_features
from forewarn.risk.history import StoreHistory
from forewarn.risk.outcomes import GRADE_ORDER, failing_at, failures

REASONS: dict[str, str] = {
    "funnel_z_worst": "an indicator stands out from the others on the side of concern (funnel z {value:.1f})",
    "funnel_z_mean": "its indicators sit on the side of concern on average (mean funnel z {value:.1f})",
    "trend_worst": "an indicator has been getting worse over the last six periods",
    "trend_mean": "its indicators have been getting worse on average over the last six periods",
    "spc_concern": "{value:.0f} SPC special cause(s) of concern at the latest point",
    "cusum_current": "{value:.0f} current CUSUM alarm(s): worse than its own baseline",
    "signal_count": "{value:.0f} current signal(s) of concern",
    "naive_mean_z": "its latest values are on the side of concern (mean z {value:.1f})",
    "share_stale": "some of its data are out of date",
    "soft_mean": "staff report a lower capacity to learn than elsewhere (z {value:.1f})",
    "soft_core": "staff report less acquiring, sharing and applying of knowledge than elsewhere (z {value:.1f})",
    "soft_change": "staff survey scores have fallen since the last survey",
    "soft_core_change": "staff reports of learning from others have fallen since the last survey",
    "last_grade": "last inspection: {grade}",
    "months_since_inspection": "{value:.0f} months since the last inspection",
    "in_special_measures": "in special measures",
    "interventions_2y": "{value:.0f} intervention(s) in the last two years",
    "leadership_changes_2y": "{value:.0f} leadership change(s) in the last two years",
}


@dataclass(frozen=True)
class Watchlist:
    as_of: dt.date
    outcome: str
    rows: pl.DataFrame  # organisation_id, code, name, probability, lower, upper, reasons (list of str)

    def to_dict(self) -> dict[str, Any]:
        return {"as_of": str(self.as_of), "outcome": self.outcome, "organisations": self.rows.to_dicts()}


def _reason(feature: str, value: float) -> str:
    template = REASONS.get(feature, feature.replace("_", " ") + " ({value:.2g})")
    if feature == "last_grade":
        grade = GRADE_ORDER[round(value)] if 0 <= value < len(GRADE_ORDER) else "unknown"
        return template.format(grade=grade.replace("_", " "))
    return template.format(value=value)


def logistic_contributions(model: Any, x: np.ndarray) -> np.ndarray:
    """Each column's exact contribution to each row's log-odds: coefficient x standardised (imputed) value, the
    imputer's missing-value indicators last. With the intercept they sum to the model's logit."""
    imputer, scaler, logistic = model[0], model[1], model[2]
    return np.asarray(scaler.transform(imputer.transform(x)) * logistic.coef_[0], dtype=np.float64)


def watchlist(
    history: StoreHistory, options: BacktestOptions, as_of: dt.date, *, n_boot: int = 20, top: int = 3
) -> Watchlist:
    """Risk of every organisation known at ``as_of`` (failing ones left out when ``new_only``), riskiest first."""
    first = history.observations["period_start"].min()
    if not isinstance(first, dt.date):
        raise ValueError("the store holds no observations to score")
    last_training = add_months(as_of.replace(day=1), -options.horizon_months)
    origins = []
    day = add_months(first.replace(day=1), 12)
    while day <= last_training:
        origins.append(day)
        day = add_months(day, options.step_months)
    if not origins:
        raise ValueError(f"no training origin ends its {options.horizon_months}-month horizon by {as_of}")
    found = failures(history, options.outcome)
    cases = labelled_cases(history, options, origins, found)
    train = cases.frame
    if train["event"].sum() < 2:
        raise ValueError("fewer than two failures before the date: nothing to learn from")
    now = origin_features(history, as_of).frame.filter(pl.col("signal_count").is_not_null())
    if options.new_only:
        now = now.join(failing_at(history, options.outcome, as_of), on="organisation_id", how="anti")
    needed = max(20, train.height // 20)
    used = [
        c for c in cases.features if c in now.columns and train[c].drop_nulls().drop_nans().len() >= needed
    ]
    x_train, y_train = train.select(used).to_numpy(), train["event"].to_numpy()
    x_now = now.select(used).to_numpy()
    model = model_pipeline("logistic", options.seed)
    model.fit(x_train, y_train)
    probability = model.predict_proba(x_now)[:, 1]
    # The imputer appends its missing-value indicators after the features: only the features are reasons.
    contribution = logistic_contributions(model, x_now)[:, : len(used)]
    rng = np.random.default_rng(options.seed)
    organisations = train["organisation_id"].to_numpy()
    unique = np.unique(organisations)
    draws = np.empty((n_boot, x_now.shape[0]))
    for b in range(n_boot):  # a few refits of a logistic regression, each over every organisation at once
        chosen = rng.choice(unique, unique.size)
        counts = np.bincount(np.searchsorted(unique, chosen), minlength=unique.size)
        weight = counts[np.searchsorted(unique, organisations)]
        resampled = np.repeat(np.arange(organisations.size), weight)
        refit = model_pipeline("logistic", options.seed)
        refit.fit(x_train[resampled], y_train[resampled])
        draws[b] = refit.predict_proba(x_now)[:, 1]
    raw = now.select(used).to_numpy()
    reasons = []
    for i in range(x_now.shape[0]):  # the listed organisations' top reasons: a few strings each
        order = np.argsort(-contribution[i])
        picked = [j for j in order[:top] if contribution[i, j] > 0 and np.isfinite(raw[i, j])]
        reasons.append([_reason(used[j], float(raw[i, j])) for j in picked])
    rows = (
        now.select("organisation_id")
        .with_columns(
            pl.Series("probability", probability),
            pl.Series("lower", np.quantile(draws, 0.05, axis=0)),
            pl.Series("upper", np.quantile(draws, 0.95, axis=0)),
            pl.Series("reasons", reasons, dtype=pl.List(pl.String)),
        )
        .join(history.organisations.select("organisation_id", "code", "name"), on="organisation_id")
        .sort("probability", descending=True)
    )
    return Watchlist(as_of=as_of, outcome=options.outcome.label(), rows=rows)


__all__ = ["REASONS", "Watchlist", "watchlist"]
