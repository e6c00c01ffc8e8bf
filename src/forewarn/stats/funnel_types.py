"""Funnel plots' options, results and limit quantiles, shared by the funnel modules (FunnelPlotR 0.6.0).

:class:`FunnelOptions` names the data type (standardised ratio, proportion, ratio of counts; Spiegelhalter 2005),
the over-dispersion method (winsorised z-scores as the Care Quality Commission uses them, Spiegelhalter 2005b,
or the truncation of the NHS Digital SHMI specification), the scale and FunnelPlotR 0.6.0's quirks;
:class:`FunnelResult` and :class:`FunnelLimits` hold the answers; the normal quantiles are the ones FunnelPlotR
hard-codes for its 95 % and 99.8 % limits. Used by the statistics (:mod:`forewarn.stats.funnel`), the inputs
and scales (:mod:`forewarn.stats.funnel_inputs`), the over-dispersion estimate
(:mod:`forewarn.stats.funnel_dispersion`) and the limits (:mod:`forewarn.stats.funnel_limits`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import special

from forewarn.stats.arrays import BoolArray, FloatArray, IntArray

DataType = Literal["SR", "PR", "RC"]

Overdispersion = Literal["none", "cqc", "shmi"]

SrScale = Literal["log", "sqrt"]

UnadjustedLimits = Literal["exact", "approximate"]

Compat = Literal["funnelplotr"]


# The normal quantiles FunnelPlotR hard-codes for its 95% and 99.8% limits (6 decimals).
Z_95 = 1.959964

Z_998 = 3.090232

_NAMED_QUANTILES = {95.0: Z_95, 99.8: Z_998}


@dataclass(frozen=True)
class FunnelOptions:
    """Options for :func:`funnel_statistics`, validated on construction.

    Parameters
    ----------
    data_type : {"SR", "PR", "RC"}
        ``"SR"`` indirectly standardised ratio O/E (Poisson), ``"PR"`` proportion O/N (binomial), ``"RC"``
        ratio of two counts O/D.
    overdispersion : {"cqc", "shmi", "none"}
        How phi and tau^2 are estimated. ``"cqc"``: z-scores winsorised at the ``trim`` and ``1 - trim``
        quantiles (R type 7), phi = mean of squared winsorised z over all units (Spiegelhalter 2005b, as used
        by the Care Quality Commission). ``"shmi"``: z-scores truncated, units ranked (ties averaged), the
        bottom and top ``trim`` dropped, phi = mean squared z of the rest (NHS Digital SHMI). Either way tau^2
        is the DerSimonian-Laird additive between-unit variance. ``"none"``: no adjustment. (FunnelPlotR
        always winsorises proportions and ratios of counts, whatever its ``sr_method``: ``"cqc"`` here.)
    limit : float
        Two-sided coverage in percent of the limits used for outliers: 95 (q = 1.959964) or 99.8
        (q = 3.090232, the values FunnelPlotR uses); any other value in (50, 100) uses the exact normal
        quantile.
    trim : float
        Fraction winsorised or truncated at each end, in (0, 0.5). Default 0.1.
    sr_scale : {"log", "sqrt"} or None
        Transformation for standardised ratios: ``"log"`` (Y = ln(O/E), s = 1/sqrt(target E)) or ``"sqrt"``
        (Y = sqrt(O/E), s = 1/(2 sqrt(E))). ``None`` takes ``"sqrt"`` with ``"cqc"`` and ``"log"`` otherwise,
        as FunnelPlotR does. Ignored for PR (arcsine scale) and RC (log scale). The log scale needs O > 0
        (a zero count is refused; under compat it gives FunnelPlotR's infinite z); the square-root scale
        takes zero counts.
    unadjusted : {"exact", "approximate"}
        Limits where no over-dispersion adjustment applies (``overdispersion="none"`` or phi <= 1).
        ``"exact"``: exact Poisson limits for SR (the chi-square form) and exact binomial limits for PR (the
        beta form); RC has no exact form here and always uses the approximate one. ``"approximate"``: the
        normal limits on the transformed scale with tau^2 = 0 (FunnelPlotR's form for PR and RC). Exact limits
        cost about a microsecond per distinct (denominator, target) and bound; the rest is much cheaper.
    compat : {"funnelplotr"} or None
        ``"funnelplotr"`` reproduces FunnelPlotR 0.6.0 exactly, including its quirks; ``None`` (default) uses
        the statistically consistent forms. The differences:

        1. SR on the square-root scale ("CQC"): FunnelPlotR leaves the limits on the square-root scale,
           ``1 +- q sqrt(s^2 + tau^2)``, and compares O/E with them without squaring back. Default:
           ``(sqrt(target) +- q sqrt(s^2 + tau^2))^2``, the lower root floored at 0.
        2. RC: FunnelPlotR's z and tau^2 use ``s = sqrt(O/(O+.5)^2 + D/(D+.5)^2)`` but its limits use
           ``s = 1/(2 sqrt(D))`` (the square-root-scale error, far too narrow for a log ratio). Default: the
           limits use the same s as z, so a unit is outside its limits exactly when |z_adj| > q; a drawn
           curve evaluates that s at the null value O = target D.
        3. ``overdispersion="none"``: FunnelPlotR reports phi = tau^2 = 0. Default: phi = tau^2 = NaN (not
           estimated).
        4. SR on the log scale ("SHMI"): FunnelPlotR rounds E to 2 decimals for Y, z and the limits (but not
           for the plotted ratio O/E). Default: no rounding.
        5. PR: FunnelPlotR takes sin^2 of the unclipped angle and zeroes (lower) or sets to 1 (upper) a limit
           only where it is not monotone against the next row of its lookup table (a 1000-point grid from 3
           to the largest N, merged with the data's N), so a limit whose angle passed pi/2 can stay below 1.
           Default: the angle is held in [0, pi/2].

    Raises
    ------
    ValueError
        If an option is outside its allowed values.
    """

    data_type: DataType = "SR"
    overdispersion: Overdispersion = "cqc"
    limit: float = 99.8
    trim: float = 0.1
    sr_scale: SrScale | None = None
    unadjusted: UnadjustedLimits = "exact"
    compat: Compat | None = None

    def __post_init__(self) -> None:
        _check_choice("data_type", self.data_type, ("SR", "PR", "RC"))
        _check_choice("overdispersion", self.overdispersion, ("none", "cqc", "shmi"))
        _check_choice("sr_scale", self.sr_scale, ("log", "sqrt", None))
        _check_choice("unadjusted", self.unadjusted, ("exact", "approximate"))
        _check_choice("compat", self.compat, ("funnelplotr", None))
        if not (isinstance(self.limit, int | float) and 50.0 < float(self.limit) < 100.0):
            raise ValueError(
                f"limit must be a coverage in percent in (50, 100), e.g. 95 or 99.8; got {self.limit!r}"
            )
        if not (isinstance(self.trim, int | float) and 0.0 < float(self.trim) < 0.5):
            raise ValueError(f"trim must be a fraction in (0, 0.5); got {self.trim!r}")

    @property
    def scale(self) -> Literal["log_sr", "sqrt_sr", "arcsine", "log_rc"]:
        """The transformed scale on which z, tau^2 and the approximate limits are computed."""
        if self.data_type == "PR":
            return "arcsine"
        if self.data_type == "RC":
            return "log_rc"
        sr_scale = self.sr_scale or ("sqrt" if self.overdispersion == "cqc" else "log")
        return "sqrt_sr" if sr_scale == "sqrt" else "log_sr"

    @property
    def quantile(self) -> float:
        """The standard normal quantile q of the limits (1.959964 for 95, 3.090232 for 99.8)."""
        return _normal_quantile(float(self.limit))


@dataclass(frozen=True)
class FunnelResult:
    """Per-unit and per-funnel results of :func:`funnel_statistics`.

    Per-unit arrays (length n, in input order)
    ------------------------------------------
    ratio : O/D, the plotted value (FunnelPlotR ``rr``).
    y : the indicator on the transformed scale (``Y``).
    se : the within-unit standard error on that scale used for z and tau^2.
    z : unadjusted z-score (Y - Y0) / se (``Uzscore``).
    z_trimmed : z after winsorising, or NaN where truncated away (``Wuzscore``).
    trimmed : True where z is not strictly inside the winsorising quantiles (``winsorised``), or truncated.
    z_adjusted : (Y - Y0) / sqrt(se^2 + tau^2) where the funnel is adjusted, else z.
    p_value : two-sided normal p-value of ``z_adjusted``.
    lower, upper : the unit's control limits for the ratio at the chosen ``limit``.
    outlier_low, outlier_high : below / above the limits: z_adjusted < -q / > q where the limits are the
        normal ones, the ratio against exact limits, and always the ratio under compat (see
        :func:`funnel_statistics`).

    Per-funnel arrays (length k)
    ----------------------------
    target : the centre line on the ratio scale.
    phi : over-dispersion ratio (NaN when not estimated).
    tau2 : DerSimonian-Laird between-unit variance on the transformed scale (NaN when not estimated).
    n_units : units in the funnel.
    n_used : units that entered phi and tau^2 (fewer than n_units with truncation).
    adjusted : whether the funnel's limits and adjusted z include tau^2 (over-dispersion on and phi > 1).
    """

    ratio: FloatArray
    y: FloatArray
    se: FloatArray
    z: FloatArray
    z_trimmed: FloatArray
    trimmed: BoolArray
    z_adjusted: FloatArray
    p_value: FloatArray
    lower: FloatArray
    upper: FloatArray
    outlier_low: BoolArray
    outlier_high: BoolArray
    target: FloatArray
    phi: FloatArray
    tau2: FloatArray
    n_units: IntArray
    n_used: IntArray
    adjusted: BoolArray

    @property
    def outlier(self) -> BoolArray:
        """Units outside either limit."""
        return self.outlier_low | self.outlier_high

    @property
    def tau2_applied(self) -> FloatArray:
        """Per funnel, the tau^2 actually added to the limits: tau2 where adjusted, else 0."""
        return np.where(self.adjusted, self.tau2, 0.0)


@dataclass(frozen=True)
class FunnelLimits:
    """Lower and upper control limits on the ratio scale, in the broadcast shape of the inputs."""

    lower: FloatArray
    upper: FloatArray


def _check_choice(name: str, value: object, allowed: tuple[object, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}; got {value!r}")


def _normal_quantile(limit: float) -> float:
    if not 50.0 < limit < 100.0:
        raise ValueError(f"limit must be a coverage in percent in (50, 100); got {limit!r}")
    named = _NAMED_QUANTILES.get(limit)
    return named if named is not None else float(special.ndtri(1.0 - (100.0 - limit) / 200.0))
