"""Shewhart control charts in the manner of qicharts2: I, C, U, P, Laney U' and P', Xbar and S, over panels.

Each function takes whole panels (series x time, NaN where missing) and returns centre lines, 3-sigma (and
2-sigma) limits and signals for every series and phase at once, with the Anhoej runs analysis around the
centre line. The conventions are those of qicharts2 0.8.1 with the package attached (moving ranges screened),
so that results can be checked against ``qic()``.

This module holds the named charts and their input checks, and re-exports the rest of the public API: the kinds,
constants, options and results from :mod:`forewarn.stats.spc_attribute_types`, :func:`c4` from the sigma
estimators in :mod:`forewarn.stats.spc_attribute_limits`, and :func:`control_chart` from
:mod:`forewarn.stats.spc_attribute_chart`.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from forewarn.stats.spc_attribute_chart import control_chart
from forewarn.stats.spc_attribute_limits import c4
from forewarn.stats.spc_attribute_types import (
    D2_FOR_TWO,
    SIGMA_LIMIT,
    SIGMA_WARNING,
    ChartKind,
    ControlChart,
    ControlChartOptions,
    ControlChartSummary,
)
from forewarn.stats.spc_layout import as_panel

__all__ = [
    "D2_FOR_TWO",
    "SIGMA_LIMIT",
    "SIGMA_WARNING",
    "ChartKind",
    "ControlChart",
    "ControlChartOptions",
    "ControlChartSummary",
    "c4",
    "c_chart",
    "control_chart",
    "i_chart",
    "p_chart",
    "pprime_chart",
    "s_chart",
    "u_chart",
    "uprime_chart",
    "xbar_chart",
]


# ------------------------------------------------------------------------------------------------------------
# Named charts
# ------------------------------------------------------------------------------------------------------------
def i_chart(
    values: ArrayLike, options: ControlChartOptions | None = None, phase: ArrayLike | None = None
) -> ControlChart:
    """Individuals (I) chart: sigma from the mean moving range, screened as qicharts2 does.

    Parameters
    ----------
    values
        Panel (series x time), NaN for missing points.
    options
        :class:`ControlChartOptions` (freeze, screening, multiply).
    phase
        Optional phase panel (qicharts2 ``part``).

    Returns
    -------
    ControlChart
        The charts.

    Notes
    -----
    :math:`CL = \\bar{x}` of the baseline; :math:`\\sigma = \\overline{MR} / 1.128`, the moving ranges
    :math:`|x_t - x_{t-1}|` of the baseline, those :math:`\\ge 3.267\\,\\overline{MR}` dropped before
    averaging again when screening; limits :math:`CL \\pm 3\\sigma`.

    References
    ----------
    D. C. Montgomery (2013), eq. 6.33; L. S. Nelson, J. Quality Technology 14 (1982) 172-173; qicharts2 0.8.1,
    ``qic.i``.

    Examples
    --------
    R: ``qic(month, n, data = cdi, chart = "i")`` gives centre 14.8333, limits 3.3346 and 26.3321.

    >>> y = [[17, 12, 27, 20, 20, 18, 22, 19, 19, 24, 17, 16, 24, 19, 19, 22, 25, 19,
    ...       17, 6, 25, 17, 11, 14, 9, 11, 7, 13, 5, 5, 3, 5, 9, 4, 5, 9]]
    >>> chart = i_chart(y)
    >>> [round(float(v), 4) for v in (chart.summary.centre[0], chart.lcl[0, 0], chart.ucl[0, 0])]
    [14.8333, 3.3346, 26.3321]
    """
    return control_chart("i", {"y": values}, options, phase)


def c_chart(
    counts: ArrayLike, options: ControlChartOptions | None = None, phase: ArrayLike | None = None
) -> ControlChart:
    """C chart of counts in equal areas of opportunity: sigma = sqrt(mean count).

    Parameters
    ----------
    counts
        Panel of non-negative counts (series x time), NaN for missing.
    options
        :class:`ControlChartOptions`.
    phase
        Optional phase panel.

    Returns
    -------
    ControlChart
        The charts.

    Notes
    -----
    :math:`CL = \\bar{c}`, limits :math:`\\bar{c} \\pm 3\\sqrt{\\bar{c}}`, the lower one clipped at 0.

    References
    ----------
    D. C. Montgomery (2013), eq. 7.17; qicharts2 0.8.1, ``qic.c``.

    Examples
    --------
    R: ``qic(month, n, data = cdi, chart = "c")`` gives limits 3.2791 and 26.3876.

    >>> y = [[17, 12, 27, 20, 20, 18, 22, 19, 19, 24, 17, 16, 24, 19, 19, 22, 25, 19,
    ...       17, 6, 25, 17, 11, 14, 9, 11, 7, 13, 5, 5, 3, 5, 9, 4, 5, 9]]
    >>> chart = c_chart(y)
    >>> round(float(chart.lcl[0, 0]), 4), round(float(chart.ucl[0, 0]), 4)
    (3.2791, 26.3876)
    """
    _check_non_negative(counts, "counts")
    return control_chart("c", {"y": counts}, options, phase)


def u_chart(
    counts: ArrayLike,
    exposure: ArrayLike,
    options: ControlChartOptions | None = None,
    phase: ArrayLike | None = None,
) -> ControlChart:
    """U chart of rates (counts per unit of exposure): sigma_t = sqrt(u-bar / n_t).

    Parameters
    ----------
    counts
        Panel of non-negative counts.
    exposure
        Panel of positive exposures (areas of opportunity, e.g. patient-days).
    options
        :class:`ControlChartOptions` (``multiply`` to show e.g. per 10,000 days).
    phase
        Optional phase panel.

    Returns
    -------
    ControlChart
        The charts (y = counts / exposure, multiplied).

    Notes
    -----
    :math:`\\bar{u} = \\sum c / \\sum n` over the baseline, limits
    :math:`\\bar{u} \\pm 3\\sqrt{\\bar{u}/n_t}`, the lower one clipped at 0.

    References
    ----------
    D. C. Montgomery (2013), eq. 7.19; qicharts2 0.8.1, ``qic.u``.

    Examples
    --------
    R: ``qic(1:3, c(2, 4, 3), rep(100, 3), chart = "u", multiply = 100)`` gives centre 3 and upper limit
    100 * (0.03 + 3 * sqrt(0.03 / 100)) = 8.1962.

    >>> chart = u_chart([[2.0, 4.0, 3.0]], [[100.0, 100.0, 100.0]], ControlChartOptions(multiply=100))
    >>> float(chart.summary.centre[0]), round(float(chart.ucl[0, 0]), 4)
    (3.0, 8.1962)
    """
    _check_counts(counts, exposure, "exposure", proportion=False)
    return control_chart("u", _rate_inputs(counts, exposure), options, phase)


def uprime_chart(
    counts: ArrayLike,
    exposure: ArrayLike,
    options: ControlChartOptions | None = None,
    phase: ArrayLike | None = None,
) -> ControlChart:
    """Laney U' chart: the U chart's sigma scaled by the between-subgroup spread of the z-scores.

    Parameters
    ----------
    counts
        Panel of non-negative counts.
    exposure
        Panel of positive exposures.
    options
        :class:`ControlChartOptions`.
    phase
        Optional phase panel.

    Returns
    -------
    ControlChart
        The charts.

    Notes
    -----
    :math:`z_t = (u_t - \\bar{u}) / \\sqrt{\\bar{u}/n_t}`, :math:`\\sigma_z = \\overline{MR}(z) / 1.128`
    (screened moving ranges), limits :math:`\\bar{u} \\pm 3\\sigma_z\\sqrt{\\bar{u}/n_t}`.

    References
    ----------
    D. B. Laney, "Improved control charts for attributes", Quality Engineering 14 (2002) 531-537; qicharts2
    0.8.1, ``qic.up``.

    Examples
    --------
    R: ``qic(1:4, c(20, 40, 30, 35), rep(1000, 4), chart = "up")`` has centre 125 / 4000 = 0.03125.

    >>> chart = uprime_chart([[20.0, 40.0, 30.0, 35.0]], [[1000.0, 1000.0, 1000.0, 1000.0]])
    >>> round(float(chart.summary.centre[0]), 5)
    0.03125
    """
    _check_counts(counts, exposure, "exposure", proportion=False)
    return control_chart("uprime", _rate_inputs(counts, exposure), options, phase)


def p_chart(
    counts: ArrayLike,
    trials: ArrayLike,
    options: ControlChartOptions | None = None,
    phase: ArrayLike | None = None,
) -> ControlChart:
    """P chart of proportions: sigma_t = sqrt(p-bar (1 - p-bar) / n_t), limits clipped to [0, 1].

    Parameters
    ----------
    counts
        Panel of counts of the event (0 <= counts <= trials).
    trials
        Panel of positive denominators.
    options
        :class:`ControlChartOptions` (``multiply=100`` for percentages).
    phase
        Optional phase panel.

    Returns
    -------
    ControlChart
        The charts (y = counts / trials).

    Notes
    -----
    :math:`\\bar{p} = \\sum x / \\sum n` over the baseline; limits :math:`\\bar{p} \\pm
    3\\sqrt{\\bar{p}(1-\\bar{p})/n_t}` clipped to [0, 1].

    References
    ----------
    D. C. Montgomery (2013), section 7.2; qicharts2 0.8.1, ``qic.p``.

    Examples
    --------
    R: ``qic(1:3, c(5, 10, 15), rep(100, 3), chart = "p")`` gives centre 0.1 and lower limit
    0.1 - 3 * sqrt(0.1 * 0.9 / 100) = 0.01.

    >>> chart = p_chart([[5.0, 10.0, 15.0]], [[100.0, 100.0, 100.0]])
    >>> float(chart.summary.centre[0]), float(chart.lcl[0, 0])
    (0.1, 0.01)
    """
    _check_counts(counts, trials, "trials", proportion=True)
    return control_chart("p", _rate_inputs(counts, trials), options, phase)


def pprime_chart(
    counts: ArrayLike,
    trials: ArrayLike,
    options: ControlChartOptions | None = None,
    phase: ArrayLike | None = None,
) -> ControlChart:
    """Laney P' chart: the P chart's sigma scaled by the between-subgroup spread of the z-scores.

    Parameters
    ----------
    counts
        Panel of counts of the event.
    trials
        Panel of positive denominators.
    options
        :class:`ControlChartOptions`.
    phase
        Optional phase panel.

    Returns
    -------
    ControlChart
        The charts.

    Notes
    -----
    :math:`z_t = (p_t - \\bar{p}) / \\sqrt{\\bar{p}(1-\\bar{p})/n_t}`, :math:`\\sigma_z = \\overline{MR}(z) /
    1.128` (screened moving ranges), limits :math:`\\bar{p} \\pm 3\\sigma_z\\sqrt{\\bar{p}(1-\\bar{p})/n_t}`
    clipped to [0, 1].

    References
    ----------
    D. B. Laney, Quality Engineering 14 (2002) 531-537; qicharts2 0.8.1, ``qic.pp``.

    Examples
    --------
    R: ``qic(i, r, n, data = nhs_accidents, chart = "pp")``: limits about 0.9401 and 0.9657, none outside.

    >>> r = [[266501, 264225, 276532, 281461, 269071, 261215, 270409, 279778, 270483, 270320,
    ...       267923, 271478, 255353, 256820, 261835, 259144, 255910, 260863, 264465, 260989]]
    >>> n = [[280443, 276823, 291681, 296155, 282343, 275888, 283867, 295251, 284468, 282529,
    ...       279618, 283932, 266629, 268091, 276803, 271578, 266005, 273520, 278574, 273772]]
    >>> chart = pprime_chart(r, n)
    >>> round(float(chart.summary.mean_lcl[0]), 6), int(chart.summary.n_sigma_signals[0])
    (0.940102, 0)
    """
    _check_counts(counts, trials, "trials", proportion=True)
    return control_chart("pprime", _rate_inputs(counts, trials), options, phase)


def xbar_chart(
    means: ArrayLike,
    sds: ArrayLike,
    sizes: ArrayLike,
    options: ControlChartOptions | None = None,
    phase: ArrayLike | None = None,
) -> ControlChart:
    """Xbar chart of subgroup means, sigma from the subgroup SDs (pooled when sizes vary).

    Parameters
    ----------
    means, sds, sizes
        Panels of subgroup means, standard deviations and sizes (sizes >= 2).
    options
        :class:`ControlChartOptions`.
    phase
        Optional phase panel.

    Returns
    -------
    ControlChart
        The charts.

    Notes
    -----
    :math:`CL = \\sum n_t \\bar{x}_t / \\sum n_t`; :math:`\\bar{s}` is the pooled SD
    :math:`\\sqrt{\\sum (n_t-1)s_t^2 / \\sum (n_t-1)}` when sizes vary in the segment, else the mean SD;
    limits :math:`CL \\pm A_3(n_t)\\,\\bar{s}` with :math:`A_3 = 3 / (c_4\\sqrt{n})`.

    References
    ----------
    D. C. Montgomery (2013), eqs. 6.29-6.31; qicharts2 0.8.1, ``qic.xbar``.

    Examples
    --------
    Subgroups 8:12, 10:14 and 9:13 (means 10, 12, 11; SD 1.5811 each); R: ``qic(rep(1:3, each = 5),
    c(8:12, 10:14, 9:13), chart = "xbar")`` gives centre 11 and upper limit 11 + A3(5) * 1.5811 = 13.2568.

    >>> sd = float(np.std(np.arange(8, 13), ddof=1))
    >>> chart = xbar_chart([[10.0, 12.0, 11.0]], [[sd, sd, sd]], [[5, 5, 5]])
    >>> float(chart.summary.centre[0]), round(float(chart.ucl[0, 0]), 4)
    (11.0, 13.2568)
    """
    _check_subgroups(sds, sizes)
    return control_chart("xbar", {"y": means, "sd": sds, "size": sizes}, options, phase)


def s_chart(
    sds: ArrayLike,
    sizes: ArrayLike,
    options: ControlChartOptions | None = None,
    phase: ArrayLike | None = None,
) -> ControlChart:
    """S chart of subgroup standard deviations.

    Parameters
    ----------
    sds, sizes
        Panels of subgroup standard deviations and sizes (sizes >= 2).
    options
        :class:`ControlChartOptions`.
    phase
        Optional phase panel.

    Returns
    -------
    ControlChart
        The charts.

    Notes
    -----
    :math:`CL = \\bar{s}` (pooled when sizes vary, as for :func:`xbar_chart`); limits :math:`B_3\\bar{s}` and
    :math:`B_4\\bar{s}` with :math:`B_{3,4} = 1 \\mp 3\\sqrt{1-c_4^2}/c_4`, the lower clipped at 0.

    References
    ----------
    D. C. Montgomery (2013), eqs. 6.27-6.31; qicharts2 0.8.1, ``qic.s``.

    Examples
    --------
    The subgroups of :func:`xbar_chart`'s example; R: ``qic(rep(1:3, each = 5), c(8:12, 10:14, 9:13),
    chart = "s")`` gives centre 1.5811, lower limit 0 and upper limit B4(5) * 1.5811 = 3.3030.

    >>> sd = float(np.std(np.arange(8, 13), ddof=1))
    >>> chart = s_chart([[sd, sd, sd]], [[5, 5, 5]])
    >>> [round(float(v), 4) for v in (chart.summary.centre[0], chart.lcl[0, 0], chart.ucl[0, 0])]
    [1.5811, 0.0, 3.303]
    """
    _check_subgroups(sds, sizes)
    return control_chart("s", {"y": sds, "size": sizes}, options, phase)


# ------------------------------------------------------------------------------------------------------------
# Input checks
# ------------------------------------------------------------------------------------------------------------
def _rate_inputs(counts: ArrayLike, size: ArrayLike) -> dict[str, ArrayLike]:
    count_panel = as_panel(counts, "counts")
    size_panel = as_panel(size, "size")
    if count_panel.shape != size_panel.shape:
        raise ValueError(
            f"counts has shape {count_panel.shape} but the denominator has shape {size_panel.shape}"
        )
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = count_panel / size_panel
    return {"y": rate, "counts": count_panel, "size": size_panel}


def _check_non_negative(values: ArrayLike, name: str) -> None:
    panel = as_panel(values, name)
    if (panel < 0).any():
        raise ValueError(f"{name} must be non-negative")


def _check_counts(counts: ArrayLike, size: ArrayLike, size_name: str, proportion: bool) -> None:
    count_panel = as_panel(counts, "counts")
    size_panel = as_panel(size, size_name)
    if (count_panel < 0).any():
        raise ValueError("counts must be non-negative")
    if (size_panel <= 0).any():
        raise ValueError(f"{size_name} must be positive (NaN for a missing point)")
    if proportion and count_panel.shape == size_panel.shape and (count_panel > size_panel).any():
        raise ValueError("counts must not exceed trials")


def _check_subgroups(sds: ArrayLike, sizes: ArrayLike) -> None:
    sd_panel = as_panel(sds, "sds")
    size_panel = as_panel(sizes, "sizes")
    if (sd_panel < 0).any():
        raise ValueError("sds must be non-negative")
    if (size_panel < 2).any():
        raise ValueError("sizes must be at least 2 (a standard deviation needs two observations)")
