"""Funnel plot of one file: ``forewarn funnel`` and ``forewarn.funnel``."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl

from forewarn.ingest.readers import ROW
from forewarn.stats.funnel import FunnelOptions, FunnelResult, funnel_statistics
from forewarn.stats.multiplicity import expected_false_flags, fdr_adjust
from forewarn.tools.cells import parse_numbers, require_text
from forewarn.tools.inputs import AnalystInput, FileInput, as_input
from forewarn.tools.output import AnalystResult, clean_floats, finite_or_none
from forewarn.tools.problems import Checks, usage_error

FDR_ALPHA = 0.05
"""False-discovery rate at which the funnel summary counts flags (Benjamini-Hochberg q-values)."""

FunnelDataType = Literal["SR", "PR", "RC"]
FunnelMethod = Literal["none", "cqc", "shmi"]


@dataclass(frozen=True)
class FunnelRequest:
    """Columns and options of ``forewarn funnel`` (see :class:`forewarn.stats.funnel.FunnelOptions`).

    ``unadjusted`` None takes exact limits, except under ``compat="funnelplotr"`` where it takes what that
    package draws: exact Poisson limits for SR, the normal approximation for PR and RC. Under that compat,
    proportions and ratios of counts are always winsorised (``"cqc"``), as FunnelPlotR ignores its
    ``sr_method`` for them: ``"shmi"`` is taken as ``"cqc"``, with a warning.
    """

    unit_col: str
    numerator_col: str
    denominator_col: str
    data_type: FunnelDataType = "SR"
    overdispersion: FunnelMethod = "cqc"
    trim: float = 0.1
    limit: float = 99.8
    target: float | None = None
    sr_scale: Literal["log", "sqrt"] | None = None
    unadjusted: Literal["exact", "approximate"] | None = None
    compat: Literal["funnelplotr"] | None = None
    sheet: str | None = None

    @property
    def winsorised_by_compat(self) -> bool:
        """True where FunnelPlotR would winsorise although ``"shmi"`` was asked for (PR and RC)."""
        return self.compat == "funnelplotr" and self.data_type != "SR" and self.overdispersion == "shmi"

    def options(self) -> FunnelOptions:
        """The funnel's options, with the SR scale resolved (so the unadjusted limits are on the same scale)."""
        unadjusted = self.unadjusted
        if unadjusted is None:
            unadjusted = "approximate" if self.compat == "funnelplotr" and self.data_type != "SR" else "exact"
        options = FunnelOptions(
            data_type=self.data_type,
            overdispersion="cqc" if self.winsorised_by_compat else self.overdispersion,
            limit=self.limit,
            trim=self.trim,
            sr_scale=self.sr_scale,
            unadjusted=unadjusted,
            compat=self.compat,
        )
        if self.data_type == "SR" and self.sr_scale is None:
            # The default scale follows the over-dispersion method (sqrt with cqc, else log); fix it here so
            # that the unadjusted limits, computed with overdispersion "none", do not fall back to log.
            options = replace(options, sr_scale="sqrt" if options.scale == "sqrt_sr" else "log")
        return options


def funnel_file(path: Path, request: FunnelRequest) -> AnalystResult:
    """:func:`funnel_frame` of a CSV, Excel (``request.sheet``) or Parquet file."""
    return funnel_frame(FileInput(path, request.sheet), request)


def funnel_frame(data: AnalystInput | pl.DataFrame, request: FunnelRequest) -> AnalystResult:
    """Funnel plot of one file: rows summed by unit (as FunnelPlotR does), then one row per unit.

    Returns
    -------
    AnalystResult
        ``table``: unit, numerator, denominator, rows (input rows summed), value (the ratio), z, z_adjusted,
        p_value, q_value (Benjamini-Hochberg over the units), trimmed, the unadjusted and adjusted 95% and
        99.8% limits at the unit's denominator, outlier and direction ("high", "low" or empty) at the chosen
        limit. ``summary``: target, phi, tau2, whether the limits are adjusted, units, outliers and the number
        expected by chance, flags at 5% false-discovery rate.
    """
    reader = as_input(data)
    source = reader.name
    try:
        options = request.options()
    except ValueError as exc:
        raise usage_error(source, str(exc)) from None
    frame = reader.read(
        {
            "--unit-col": request.unit_col,
            "--numerator-col": request.numerator_col,
            "--denominator-col": request.denominator_col,
        }
    )
    checks = Checks(source)
    unit, num, den = request.unit_col, request.numerator_col, request.denominator_col
    require_text(frame, unit, "a unit", checks)
    frame = parse_numbers(frame, num, "__num", checks, required=True)
    frame = parse_numbers(frame, den, "__den", checks, required=True)
    o, d = pl.col("__num"), pl.col("__den")
    checks.add(frame.filter(o < 0), num, pl.col(num), "must not be negative")
    if request.data_type == "RC":
        checks.add(frame.filter(d < 0), den, pl.col(den), "must not be negative (a count)")
    else:
        checks.add(frame.filter(d == 0), den, pl.col(den), "denominator is 0: the ratio is undefined")
        checks.add(frame.filter(d < 0), den, pl.col(den), "denominator must be positive")
    if request.data_type == "PR":
        checks.add(
            frame.filter(o > d),
            num,
            pl.col(num),
            pl.format(
                "numerator exceeds the denominator ({}): a proportion needs numerator <= denominator",
                pl.col(den),
            ),
        )
    checks.raise_if_any()

    units = frame.group_by(unit, maintain_order=True).agg(
        o.sum().alias("numerator"), d.sum().alias("denominator"), pl.len().alias("rows"), pl.col(ROW).first()
    )
    _check_units(units, request, options, checks)
    checks.raise_if_any()

    numerator = units["numerator"].to_numpy().astype(np.float64)
    denominator = units["denominator"].to_numpy().astype(np.float64)
    try:
        main = funnel_statistics(numerator, denominator, options=options, target=request.target)
    except ValueError as exc:
        raise usage_error(source, str(exc)) from None
    limits: dict[str, FunnelResult] = {}
    for tag, coverage in (("95", 95.0), ("99_8", 99.8)):
        limits[f"adjusted_{tag}"] = funnel_statistics(
            numerator, denominator, options=replace(options, limit=coverage), target=request.target
        )
        limits[f"unadjusted_{tag}"] = funnel_statistics(
            numerator,
            denominator,
            options=replace(options, limit=coverage, overdispersion="none"),
            target=request.target,
        )
    q_values = fdr_adjust(main.p_value, alpha=FDR_ALPHA)
    direction = np.where(main.outlier_high, "high", np.where(main.outlier_low, "low", ""))
    table = pl.DataFrame(
        {
            "unit": units[unit],
            "numerator": numerator,
            "denominator": denominator,
            "rows": units["rows"].cast(pl.Int64),
            "value": main.ratio,
            "z": main.z,
            "z_adjusted": main.z_adjusted,
            "p_value": main.p_value,
            "q_value": q_values.adjusted,
            "trimmed": main.trimmed,
            "lower_95": limits["unadjusted_95"].lower,
            "upper_95": limits["unadjusted_95"].upper,
            "lower_99_8": limits["unadjusted_99_8"].lower,
            "upper_99_8": limits["unadjusted_99_8"].upper,
            "adjusted_lower_95": limits["adjusted_95"].lower,
            "adjusted_upper_95": limits["adjusted_95"].upper,
            "adjusted_lower_99_8": limits["adjusted_99_8"].lower,
            "adjusted_upper_99_8": limits["adjusted_99_8"].upper,
            "outlier": main.outlier,
            "direction": direction,
        }
    )
    n_units = int(main.n_units[0])
    alpha = (100.0 - float(request.limit)) / 100.0
    warnings: tuple[str, ...] = ()
    if request.winsorised_by_compat:
        kind = "proportions" if request.data_type == "PR" else "ratios of counts"
        warnings = (
            f"--compat funnelplotr: FunnelPlotR winsorises {kind} whatever its sr_method, "
            "so --od shmi is taken as cqc",
        )
    summary: dict[str, Any] = {
        "data_type": request.data_type,
        "overdispersion": options.overdispersion,
        "scale": options.scale,
        "limit": float(request.limit),
        "trim": float(request.trim),
        "compat": request.compat,
        "unadjusted_limits": options.unadjusted,
        "target": finite_or_none(main.target[0]),
        "phi": finite_or_none(main.phi[0]),
        "tau2": finite_or_none(main.tau2[0]),
        "adjusted": bool(main.adjusted[0]),
        "n_units": n_units,
        "n_rows": frame.height,
        "n_used": int(main.n_used[0]),
        "n_outliers": int(main.outlier.sum()),
        "n_high": int(main.outlier_high.sum()),
        "n_low": int(main.outlier_low.sum()),
        "expected_by_chance": float(expected_false_flags(n_units, alpha)),
        "fdr_alpha": FDR_ALPHA,
        "n_fdr_flags": int(q_values.n_rejected[0]),
        "outliers": table.filter(pl.col("outlier"))["unit"].to_list(),
    }
    return AnalystResult(table=clean_floats(table), summary=summary, warnings=warnings)


def _check_units(units: pl.DataFrame, request: FunnelRequest, options: FunnelOptions, checks: Checks) -> None:
    """Problems only visible once rows are summed by unit (reported at the unit's first row)."""
    o, d = pl.col("numerator"), pl.col("denominator")
    if request.data_type == "RC":
        checks.add(
            units.filter((o == 0) & (d == 0)),
            request.denominator_col,
            None,
            pl.format(
                "unit '{}' has both counts 0: its ratio carries no information", pl.col(request.unit_col)
            ),
        )
    if options.scale == "log_sr" and options.compat is None:
        checks.add(
            units.filter(o == 0),
            request.numerator_col,
            None,
            pl.format(
                "unit '{}' has no events: a standardised ratio on the log scale (SHMI) needs at least one; "
                "use --scale sqrt (the CQC scale)",
                pl.col(request.unit_col),
            ),
        )
