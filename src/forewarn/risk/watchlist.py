"""The watchlist: every organisation's risk as of a date, with an interval and the reasons in plain words.

:func:`train` fits the logistic model on every origin whose outcome was known by the date (origins at least a
horizon earlier) and keeps it as a :class:`FittedModel`: plain numbers (imputation medians, standardisation,
coefficients, the bootstrap refits' coefficients) that :mod:`forewarn.risk.store` stores with a version and that
score again without refitting. :func:`score` applies one to what was known on a date. The interval comes from
refitting the logistic regression on bootstrap resamples of the training organisations (Efron & Tibshirani 1993,
the case bootstrap, here by organisation since an organisation's cases at successive origins are not
independent); the reasons are the largest of the model's exact contributions (coefficient times the
standardised feature, on the log-odds scale) that push the risk up with a value on the side of concern, in plain
words (:mod:`forewarn.risk.reasons`).

With ``--model boosting`` (:mod:`forewarn.risk.boosting`) the model is gradient boosting with Platt scaling, its
interval comes from Platt scaling refitted on organisation-bootstrap resamples of the out-of-fold margins (the
calibration's uncertainty; the trees are not refitted), and the contributions are TreeSHAP values on the log-odds
of the uncalibrated model (with the expected value they add up to its margin).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from forewarn.risk import boosting
from forewarn.risk.backtest import (
    BacktestOptions,
    add_months,
    labelled_cases,
    model_pipeline,
    month_numbers,
)
from forewarn.risk.features import origin_features
from forewarn.risk.history import StoreHistory
from forewarn.risk.metrics import calibration_by_decile
from forewarn.risk.outcomes import Outcome, failing_at, failures
from forewarn.risk.pipeline import temporal_c
from forewarn.risk.reasons import reasons


@dataclass(frozen=True)
class FittedModel:
    """A fitted logistic risk model as plain numbers: ``logit = intercept + z @ coefficients`` where ``z`` is
    the features imputed by their training medians, followed by missing-value indicators of
    ``indicator_features``, centred by ``means`` and divided by ``scales`` (scikit-learn's SimpleImputer,
    StandardScaler and LogisticRegression, as :func:`forewarn.risk.backtest.model_pipeline` fits them)."""

    outcome: str
    new_only: bool
    horizon_months: int
    step_months: int
    trained_as_of: dt.date
    features: tuple[str, ...]
    medians: np.ndarray
    indicator_features: tuple[int, ...]
    means: np.ndarray
    scales: np.ndarray
    coefficients: np.ndarray
    intercept: float
    refits: np.ndarray  # one row per bootstrap refit: intercept, then coefficients
    training_origins: tuple[dt.date, ...]
    n_cases: int
    n_events: int
    calibration: dict[str, Any] = field(default_factory=dict)
    kind: str = "logistic"
    # A boosting model: its trees, with ``logit = intercept + coefficients[0] * margin`` (Platt scaling) and the
    # refits' rows (intercept, slope); ``medians`` are the training medians, ``means`` and ``scales`` empty.
    trees: boosting.Trees | None = None

    @property
    def base_value(self) -> float:
        """What the contributions add to: the intercept (logistic), the TreeSHAP expected value (boosting)."""
        if self.trees is not None:
            return float(self.trees.expected_value or 0.0)
        return self.intercept

    def margin(self, x: np.ndarray) -> np.ndarray:
        """The log-odds of the model the contributions explain: the logistic model's logit, or the uncalibrated
        boosting model's margin."""
        if self.trees is not None:
            return self.trees.margin(x)
        return np.asarray(self.intercept + self.design(x) @ self.coefficients, dtype=np.float64)

    @property
    def centre(self) -> np.ndarray:
        """Each feature's centre, from which a contribution's sign follows the value's side: the training mean
        (logistic: the contribution is ``coefficient x (value - mean) / scale``) or median (boosting)."""
        if self.trees is not None:
            return self.medians
        return self.means[: len(self.features)]

    def design(self, x: np.ndarray) -> np.ndarray:
        """The standardised design matrix of raw feature values ``x`` (rows x features, NaN = missing)."""
        return standardised(x, self.medians, self.indicator_features, self.means, self.scales)

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """Each column's exact contribution to each row's log-odds (features, then missing-value indicators);
        with the intercept they sum to the logit. For a boosting model, each feature's TreeSHAP value on the
        uncalibrated margin (imports shap): with :attr:`base_value` they sum to :meth:`margin`."""
        if self.trees is not None:
            values, _ = boosting.shap_values(self.trees, x)
            return values
        return np.asarray(self.design(x) * self.coefficients[None, :], dtype=np.float64)

    def probability(self, x: np.ndarray) -> np.ndarray:
        if self.trees is not None:
            return _expit(self.intercept + self.coefficients[0] * self.trees.margin(x))
        return _expit(self.intercept + self.design(x) @ self.coefficients)

    def interval(self, x: np.ndarray, level: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
        """The ``level`` interval of each row's probability over the bootstrap refits."""
        if self.refits.shape[0] == 0:
            p = self.probability(x)
            return p, p
        inputs = self.trees.margin(x)[None, :] if self.trees is not None else self.design(x).T
        draws = _expit(self.refits[:, :1] + self.refits[:, 1:] @ inputs)
        tail = (1 - level) / 2
        return np.quantile(draws, tail, axis=0), np.quantile(draws, 1 - tail, axis=0)


def standardised(
    x: np.ndarray,
    medians: np.ndarray,
    indicator_features: tuple[int, ...],
    means: np.ndarray,
    scales: np.ndarray,
) -> np.ndarray:
    """:meth:`FittedModel.design` of raw values ``x`` (rows x features, NaN = missing) from the model's numbers:
    imputed by ``medians``, the missing-value indicators of ``indicator_features`` after them, centred by
    ``means`` and divided by ``scales``."""
    x = np.asarray(x, dtype=np.float64)
    missing = np.isnan(x)
    imputed = np.where(missing, medians[None, :], x)
    indicators = missing[:, list(indicator_features)].astype(np.float64)
    design = (np.hstack([imputed, indicators]) - means[None, :]) / scales[None, :]
    return np.asarray(design, dtype=np.float64)


def _expit(value: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-value)), dtype=np.float64)


def _from_pipeline(model: Any, n_features: int) -> dict[str, Any]:
    imputer, scaler, logistic = model[0], model[1], model[2]
    indicator = getattr(imputer, "indicator_", None)
    features = tuple(int(i) for i in indicator.features_) if indicator is not None else ()
    scales = np.asarray(scaler.scale_, dtype=np.float64)
    return {
        "medians": np.nan_to_num(np.asarray(imputer.statistics_, dtype=np.float64)[:n_features]),
        "indicator_features": features,
        "means": np.asarray(scaler.mean_, dtype=np.float64),
        "scales": np.where(scales == 0, 1.0, scales),
        "coefficients": np.asarray(logistic.coef_[0], dtype=np.float64),
        "intercept": float(logistic.intercept_[0]),
    }


@dataclass(frozen=True)
class Watchlist:
    as_of: dt.date
    outcome: str
    # organisation_id, code, name, probability, lower, upper, reasons (list of str), contributions (one a feature)
    rows: pl.DataFrame
    features: tuple[str, ...] = ()

    def organisations(self, rows: pl.DataFrame | None = None) -> list[dict[str, Any]]:
        """The rows as dictionaries, each contribution named by its feature."""
        out = []
        for row in (self.rows if rows is None else rows).iter_rows(named=True):
            values = row.pop("contributions", None) or []
            row["contributions"] = dict(zip(self.features, values, strict=True))
            out.append(row)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"as_of": str(self.as_of), "outcome": self.outcome, "organisations": self.organisations()}


def logistic_contributions(model: Any, x: np.ndarray) -> np.ndarray:
    """Each column's exact contribution to each row's log-odds: coefficient x standardised (imputed) value, the
    imputer's missing-value indicators last. With the intercept they sum to the model's logit."""
    imputer, scaler, logistic = model[0], model[1], model[2]
    return np.asarray(scaler.transform(imputer.transform(x)) * logistic.coef_[0], dtype=np.float64)


def training_origins(history: StoreHistory, options: BacktestOptions, as_of: dt.date) -> list[dt.date]:
    """Every ``step`` months from a year after the first data to the last origin whose horizon ends by
    ``as_of`` (its outcome known)."""
    first = history.first_period()
    if not isinstance(first, dt.date):
        raise ValueError("the store holds no observations to train on")
    last_training = add_months(as_of.replace(day=1), -options.horizon_months)
    origins = []
    day = add_months(first.replace(day=1), 12)
    while day <= last_training:
        origins.append(day)
        day = add_months(day, options.step_months)
    if not origins:
        raise ValueError(f"no training origin ends its {options.horizon_months}-month horizon by {as_of}")
    return origins


def train(
    history: StoreHistory, options: BacktestOptions, as_of: dt.date, *, n_boot: int = 20
) -> FittedModel:
    """Fit the logistic model on every origin whose outcome was known by ``as_of``, with ``n_boot`` refits on
    organisation-bootstrap resamples of the training cases (on the same standardised design) for intervals."""
    origins = training_origins(history, options, as_of)
    found = failures(history, options.outcome)
    cases = labelled_cases(history, options, origins, found)
    train_frame = cases.frame
    if train_frame["event"].sum() < 2:
        raise ValueError("fewer than two failures before the date: nothing to learn from")
    needed = max(20, train_frame.height // 20)
    used = [
        c
        for c in cases.features
        if c in train_frame.columns and train_frame[c].drop_nulls().drop_nans().len() >= needed
    ]
    x_train, y_train = train_frame.select(used).to_numpy().astype(np.float64), train_frame["event"].to_numpy()
    if options.model == "boosting":
        return _train_boosting(options, as_of, used, origins, train_frame, x_train, y_train, n_boot)
    # C as the backtest chooses it at each test origin: by time-respecting cross-validation, unless fixed.
    c = options.c
    if c is None:
        c = temporal_c(
            x_train, y_train, month_numbers(train_frame["origin"]), options.horizon_months, options.seed
        )
    pipeline = model_pipeline("logistic", options.seed, c)
    pipeline.fit(x_train, y_train)
    params = _from_pipeline(pipeline, len(used))
    z = standardised(
        x_train, params["medians"], params["indicator_features"], params["means"], params["scales"]
    )
    organisations = train_frame["organisation_id"].to_numpy()
    refits = _logistic_refits(z, y_train, organisations, n_boot, options.seed, c)
    probability = _expit(params["intercept"] + z @ params["coefficients"])
    curve = calibration_by_decile(probability, y_train.astype(bool))
    return FittedModel(
        outcome=options.outcome.spec(),
        new_only=options.new_only,
        horizon_months=options.horizon_months,
        step_months=options.step_months,
        trained_as_of=as_of,
        features=tuple(used),
        refits=refits,
        training_origins=tuple(origins),
        n_cases=int(train_frame.height),
        n_events=int(train_frame["event"].sum()),
        calibration={
            "method": "logistic likelihood (no separate recalibration)",
            "training_deciles": curve,
            "regularisation_c": c,
        },
        **params,
    )


def _logistic_refits(
    z: np.ndarray, y: np.ndarray, organisations: np.ndarray, n_boot: int, seed: int, c: float
) -> np.ndarray:
    """``n_boot`` refits of the logistic regression on organisation-bootstrap resamples of the training cases,
    on the same standardised design ``z``: one row each, the intercept then the coefficients."""
    rng = np.random.default_rng(seed)
    unique = np.unique(organisations)
    refits = np.empty((n_boot, 1 + z.shape[1]))
    for b in range(n_boot):  # a few refits of a logistic regression, each over every organisation at once
        chosen = rng.choice(unique, unique.size)
        counts = np.bincount(np.searchsorted(unique, chosen), minlength=unique.size)
        weight = counts[np.searchsorted(unique, organisations)]
        logistic = model_pipeline("logistic", seed, c)[-1]
        logistic.fit(z, y, sample_weight=weight.astype(np.float64))
        refits[b, 0] = logistic.intercept_[0]
        refits[b, 1:] = logistic.coef_[0]
    return refits


def _train_boosting(
    options: BacktestOptions,
    as_of: dt.date,
    used: list[str],
    origins: list[dt.date],
    train_frame: pl.DataFrame,
    x_train: np.ndarray,
    y_train: np.ndarray,
    n_boot: int,
) -> FittedModel:
    """Gradient boosting with Platt scaling (:func:`forewarn.risk.boosting.fit`), stored as plain numbers."""
    with boosting.one_thread():
        fitted = boosting.fit(x_train, y_train, options.seed)
    organisations = train_frame["organisation_id"].to_numpy()
    refits = boosting.platt_refits(fitted.out_of_fold, y_train, organisations, n_boot, options.seed)
    held_out = _expit(fitted.intercept + fitted.slope * fitted.out_of_fold)
    curve = calibration_by_decile(held_out, y_train.astype(bool))
    with np.errstate(all="ignore"):
        medians = np.nan_to_num(np.nanmedian(np.where(np.isfinite(x_train), x_train, np.nan), axis=0))
    return FittedModel(
        outcome=options.outcome.spec(),
        new_only=options.new_only,
        horizon_months=options.horizon_months,
        step_months=options.step_months,
        trained_as_of=as_of,
        features=tuple(used),
        medians=np.asarray(medians, dtype=np.float64),
        indicator_features=(),
        means=np.empty(0),
        scales=np.empty(0),
        coefficients=np.array([fitted.slope]),
        intercept=fitted.intercept,
        refits=refits,
        training_origins=tuple(origins),
        n_cases=int(train_frame.height),
        n_events=int(y_train.sum()),
        calibration={
            "method": "Platt scaling on out-of-fold margins (3 shuffled stratified folds)",
            "training_deciles": curve,
            "explanation": boosting.EXPLANATION,
            "shap_expected_value": fitted.trees.expected_value,
        },
        kind="boosting",
        trees=fitted.trees,
    )


def score(history: StoreHistory, model: FittedModel, as_of: dt.date, *, top: int = 3) -> Watchlist:
    """Risk of every organisation known at ``as_of`` from a fitted (or stored) model, riskiest first;
    organisations already failing are left out when the model predicts new failures only."""
    now = origin_features(history, as_of).frame.filter(pl.col("signal_count").is_not_null())
    outcome = Outcome.parse(model.outcome)
    if model.new_only:
        now = now.join(failing_at(history, outcome, as_of), on="organisation_id", how="anti")
    columns = [
        pl.col(c) if c in now.columns else pl.lit(None, dtype=pl.Float64).alias(c) for c in model.features
    ]
    raw = now.select(columns).to_numpy().astype(np.float64)
    probability = model.probability(raw)
    lower, upper = model.interval(raw)
    # Every column's contribution is kept (the missing-value indicators after the features, so that they and
    # the intercept sum to the logit); only the features are reasons.
    full = model.contributions(raw)
    why = reasons(model.features, raw, full[:, : len(model.features)], model.centre, top=top)
    contributions = [[float(v) for v in row] for row in full]
    rows = (
        now.select("organisation_id")
        .with_columns(
            pl.Series("probability", probability),
            pl.Series("lower", np.minimum(lower, probability)),
            pl.Series("upper", np.maximum(upper, probability)),
            pl.Series("reasons", why, dtype=pl.List(pl.String)),
            pl.Series("contributions", contributions, dtype=pl.List(pl.Float64)),
        )
        .join(history.organisations.select("organisation_id", "code", "name"), on="organisation_id")
        .sort(["probability", "code"], descending=[True, False])
    )
    names = model.features + tuple(f"missing: {model.features[i]}" for i in model.indicator_features)
    return Watchlist(as_of=as_of, outcome=outcome.label(), rows=rows, features=names)


def watchlist(
    history: StoreHistory, options: BacktestOptions, as_of: dt.date, *, n_boot: int = 20, top: int = 3
) -> Watchlist:
    """Risk of every organisation known at ``as_of`` (failing ones left out when ``new_only``), riskiest first:
    :func:`train` then :func:`score`."""
    return score(history, train(history, options, as_of, n_boot=n_boot), as_of, top=top)


__all__ = ["FittedModel", "Watchlist", "score", "train", "training_origins", "watchlist"]
