"""The drift rule (peers.drift) over hand-made frames: each condition, its boundary, and its concern side."""

from __future__ import annotations

import datetime as dt

import polars as pl

from forewarn.peers.drift import CUSUM_SHARE, SoftWave, drifts_of, rising_scores, soft_drifts

LAST = dt.date(2024, 6, 1)


def _status(
    rows: list[tuple[int, str, str, float | None, int | None, float | None, float | None]],
) -> pl.DataFrame:
    return pl.DataFrame(
        [
            (o, i, code, code.upper(), polarity, LAST, cv, cc, slope, p)
            for i, (o, code, polarity, cv, cc, slope, p) in enumerate(rows)
        ],
        schema={
            "organisation_id": pl.Int64,
            "indicator_id": pl.Int64,
            "code": pl.String,
            "name": pl.String,
            "polarity": pl.String,
            "last_period": pl.Date,
            "cusum_value": pl.Float64,
            "cusum_current": pl.Int64,
            "trend_slope": pl.Float64,
            "trend_p": pl.Float64,
        },
        orient="row",
    )


def test_each_condition_and_its_boundary() -> None:
    h = 8.0
    status = _status(
        [
            (1, "a", "lower_is_better", CUSUM_SHARE * h, 0, None, None),  # exactly at the share of h: rising
            (2, "a", "lower_is_better", CUSUM_SHARE * h - 1e-9, 0, None, None),  # just under: not
            (3, "a", "lower_is_better", 0.0, 1, None, None),  # a current alarm
            (4, "b", "higher_is_better", None, None, -0.2, 0.01),  # falling where higher is better: concern
            (5, "b", "higher_is_better", None, None, 0.2, 0.01),  # rising: improvement, not a drift
            (6, "b", "lower_is_better", None, None, 0.2, 0.05),  # p not below 0.05
            (7, "b", "neutral", None, None, 0.2, 0.001),  # neutral: never a concern
            (8, "c", "lower_is_better", None, None, None, None),  # an SPC shift at the latest point
            (9, "c", "lower_is_better", None, None, None, None),  # an SPC trend, but not at the latest point
        ]
    )
    indicator_of = dict(zip(status["organisation_id"], status["indicator_id"], strict=True))
    signals = pl.DataFrame(
        [
            (8, indicator_of[8], "7 Points Above CL", LAST),
            (9, indicator_of[9], "7 Point Trend (Increasing)", dt.date(2024, 5, 1)),
        ],
        schema={"organisation_id": pl.Int64, "indicator_id": pl.Int64, "rule": pl.String, "period": pl.Date},
        orient="row",
    )
    thresholds = pl.DataFrame({"code": ["a"], "h": [h]})
    found = drifts_of(status, signals, thresholds)
    assert found.select("organisation_id", "reason").rows() == [
        (1, "cusum"),
        (3, "cusum_alarm"),
        (4, "trend"),
        (8, "spc_shift"),
    ]
    assert found.filter(pl.col("organisation_id") == 1)["detail"].item() == (
        f"statistic {round(CUSUM_SHARE * h, 2)} of threshold 8.0"
    )


def test_a_risk_score_rises_when_the_later_interval_clears_the_earlier_probability() -> None:
    scores = pl.DataFrame(
        [
            (1, dt.date(2024, 1, 1), 0.05, 0.03),
            (1, dt.date(2024, 4, 1), 0.30, 0.10),  # later lower 0.10 > earlier 0.05: rising
            (2, dt.date(2024, 1, 1), 0.05, 0.03),
            (2, dt.date(2024, 4, 1), 0.30, 0.05),  # lower equal to the earlier probability: not
            (3, dt.date(2023, 1, 1), 0.01, 0.005),
            (3, dt.date(2024, 1, 1), 0.50, 0.40),
            (3, dt.date(2024, 4, 1), 0.45, 0.35),  # only the two latest count: fell
            (4, dt.date(2024, 4, 1), 0.90, 0.80),  # one score: nothing to compare
        ],
        schema={
            "organisation_id": pl.Int64,
            "as_of": pl.Date,
            "probability": pl.Float64,
            "lower": pl.Float64,
        },
        orient="row",
    )
    assert rising_scores(scores).rows() == [(1, dt.date(2024, 4, 1), 0.05, 0.30)]


def test_a_soft_measure_falls_when_the_difference_interval_is_below_zero() -> None:
    z = 1.959963984540054

    # Means 4.0 then 3.5, each with a standard error s: the difference's upper end is -0.5 + z sqrt(2) s,
    # below 0 when s < 0.5 / (z sqrt(2)) = 0.18039...
    def waves(organisation: int, s: float) -> list[SoftWave]:
        return [
            SoftWave(organisation, "Openness", 0, 4.0, 4.0 - z * s, 4.0 + z * s),
            SoftWave(organisation, "Openness", 1, 3.5, 3.5 - z * s, 3.5 + z * s),
        ]

    found = soft_drifts([*waves(1, 0.18), *waves(2, 0.181), SoftWave(3, "Openness", 0, 1.0, 0.9, 1.1)])
    assert found.rows() == [(1, "Openness", 4.0, 3.5)]


def test_soft_waves_read_the_published_cells_oldest_first() -> None:
    from forewarn.views.learn_from import soft_waves
    from forewarn.views.soft import SoftDimensionOut, SoftMeasuresOut

    def wave(wave_id: int, mean: float | None, suppressed: bool = False) -> SoftMeasuresOut:
        dimension = SoftDimensionOut(
            code="open",
            name="Openness",
            n=12,
            mean=mean,
            ci_lower=None if mean is None else mean - 0.2,
            ci_upper=None if mean is None else mean + 0.2,
            suppressed=suppressed,
        )
        return SoftMeasuresOut(
            wave=f"Wave {wave_id}",
            wave_id=wave_id,
            closed_at=None,
            respondents=12,
            suppressed=False,
            verdict=None,
            verdict_detail=None,
            dimensions=[dimension],
        )

    # The view lists the newest wave first; a suppressed cell never reaches the rule.
    measures = [wave(3, 3.0), wave(2, None, suppressed=True), wave(1, 4.0)]
    assert soft_waves(7, measures) == [
        SoftWave(7, "Openness", 0, 4.0, 3.8, 4.2),
        SoftWave(7, "Openness", 2, 3.0, 2.8, 3.2),
    ]
    # 4.0 to 3.0 with standard errors 0.2 / 1.96 each: the difference's interval is wholly below 0.
    assert soft_drifts(soft_waves(7, measures)).rows() == [(7, "Openness", 4.0, 3.0)]
