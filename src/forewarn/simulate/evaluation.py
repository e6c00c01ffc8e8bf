"""The naive before/after comparison a regulator would make, set beside the truth, for a simulation's output folder.

This is the worked example of docs/simulator.md ("Regression to the mean"): organisations selected for a low
observed score improve afterwards even when nothing was done to them, because selection picked bad luck as well as
bad performance. Reads the output of ``simulate`` (observed files and ``truth/``), so it suits demo-sized runs.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import yaml

from forewarn.domain import improvement_side
from forewarn.simulate.model import ARMS
from forewarn.simulate.writer import MANIFEST_FILE, ORGANISATIONS_FILE, TRUTH_DIR


@dataclass(frozen=True)
class BeforeAfter:
    """Per arm of surveillance selections: how many, and the mean change (after - before) of the score.

    ``naive`` is the change of the observed score (what a before/after evaluation reports); ``true`` is the change of
    the same score computed from the true probabilities; ``naive - true`` is the regression-to-the-mean artefact.
    Scores are polarity-signed z-scores of the empirical logit of every proportion indicator, standardised within
    organisation type, indicator and month, averaged over indicators (higher is better).
    """

    arms: tuple[str, ...]
    selections: tuple[int, ...]
    naive: tuple[float, ...]
    naive_se: tuple[float, ...]
    true: tuple[float, ...]
    true_se: tuple[float, ...]
    before_observed: tuple[float, ...]
    before_true: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def table(self) -> str:
        lines = [
            "| arm | selections | naive change | true change | before: observed | before: true |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for k, arm in enumerate(self.arms):
            lines.append(
                f"| {arm} | {self.selections[k]} | {self.naive[k]:+.3f} ({self.naive_se[k]:.3f}) | "
                f"{self.true[k]:+.3f} ({self.true_se[k]:.3f}) | {self.before_observed[k]:+.3f} | "
                f"{self.before_true[k]:+.3f} |"
            )
        return "\n".join(lines)


def _strings(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(pl.col(pl.Categorical).cast(pl.String))


def _read(path: Path) -> pl.DataFrame:
    return _strings(
        pl.read_parquet(path) if path.suffix == ".parquet" else pl.read_csv(path, try_parse_dates=True)
    )


def monthly_scores(out_dir: Path) -> pl.DataFrame:
    """``org_code``, ``period``, ``z`` (observed score) and ``z_true`` (the same score from the truth)."""
    manifest = json.loads((out_dir / MANIFEST_FILE).read_text(encoding="utf-8"))
    ext = "parquet" if manifest["file_format"] == "parquet" else "csv"
    mapping = yaml.safe_load((out_dir / "indicators_mapping.yml").read_text(encoding="utf-8"))
    proportions = {
        s["code"]: float(improvement_side(s["polarity"]))
        for s in mapping["indicators"]
        if s["kind"] == "proportion" and improvement_side(s["polarity"]) != 0
    }
    if not proportions:
        raise ValueError(f"{out_dir}: the simulation has no proportion indicator with a polarity to score")
    types = pl.read_csv(out_dir / ORGANISATIONS_FILE).select("org_code", "type")
    observed = _read(out_dir / f"indicators.{ext}").filter(pl.col("indicator").is_in(list(proportions)))
    truth = _read(out_dir / TRUTH_DIR / f"indicator_truth.{ext}").unpivot(
        index=["org_code", "period"], on=list(proportions), variable_name="indicator", value_name="p"
    )
    group = ("type", "indicator", "period")
    return (
        observed.join(types, on="org_code")
        .join(truth, on=["org_code", "period", "indicator"])
        .with_columns(
            ((pl.col("numerator") + 0.5) / (pl.col("denominator") - pl.col("numerator") + 0.5))
            .log()
            .alias("x"),
            (pl.col("p") / (1 - pl.col("p"))).log().alias("x_true"),
            pl.col("indicator").replace_strict(proportions, return_dtype=pl.Float64).alias("sign"),
        )
        .with_columns(
            (
                (pl.col(c) - pl.col("x").mean().over(group)) / pl.col("x").std().over(group) * pl.col("sign")
            ).alias(z)
            for c, z in (("x", "z"), ("x_true", "z_true"))
        )
        .group_by("org_code", "period")
        .agg(pl.col("z", "z_true").mean())
    )


def before_after(
    out_dir: Path, before: tuple[int, int] = (-2, 0), after: tuple[int, int] = (1, 3)
) -> BeforeAfter:
    """Naive before/after change of every surveillance selection, by arm, beside the true change.

    ``before`` and ``after`` are inclusive windows of months relative to the month of selection (0).
    """
    if before[0] > before[1] or after[0] > after[1] or after[0] <= before[1]:
        raise ValueError(
            "windows must be (first, last) months with the after window starting after the before one"
        )
    manifest = json.loads((out_dir / MANIFEST_FILE).read_text(encoding="utf-8"))
    ext = "parquet" if manifest["file_format"] == "parquet" else "csv"
    selected = (
        _read(out_dir / TRUTH_DIR / f"interventions.{ext}")
        .filter(pl.col("trigger") == "surveillance")
        .with_columns(pl.col("date").cast(pl.String).str.to_date().dt.truncate("1mo").alias("selected"))
        .select("org_code", "arm", "selected")
    )
    relative = selected.join(monthly_scores(out_dir), on="org_code").with_columns(
        (
            (pl.col("period").dt.year() - pl.col("selected").dt.year()) * 12
            + pl.col("period").dt.month()
            - pl.col("selected").dt.month()
        ).alias("month")
    )
    keys = ["org_code", "arm", "selected"]
    windows = [
        relative.filter(pl.col("month").is_between(*window)).group_by(keys).agg(pl.col("z", "z_true").mean())
        for window in (before, after)
    ]
    paired = (
        windows[0]
        .join(windows[1], on=keys, suffix="_after")
        .with_columns(
            (pl.col("z_after") - pl.col("z")).alias("naive"),
            (pl.col("z_true_after") - pl.col("z_true")).alias("true"),
        )
    )
    arms = tuple(a for a in ARMS if paired.filter(pl.col("arm") == a).height)

    def stats(arm: str, column: str) -> tuple[float, float]:
        values = paired.filter(pl.col("arm") == arm)[column].to_numpy()
        se = float(values.std(ddof=1) / np.sqrt(values.size)) if values.size > 1 else float("nan")
        return float(values.mean()), se

    naive = [stats(a, "naive") for a in arms]
    true = [stats(a, "true") for a in arms]
    return BeforeAfter(
        arms=arms,
        selections=tuple(paired.filter(pl.col("arm") == a).height for a in arms),
        naive=tuple(m for m, _ in naive),
        naive_se=tuple(s for _, s in naive),
        true=tuple(m for m, _ in true),
        true_se=tuple(s for _, s in true),
        before_observed=tuple(stats(a, "z")[0] for a in arms),
        before_true=tuple(stats(a, "z_true")[0] for a in arms),
    )
