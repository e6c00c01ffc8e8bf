"""Shrout & Fleiss's six intraclass correlations of a targets x raters table, with F-test confidence
intervals (R ``psych::ICC``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from forewarn.stats.arrays import FloatArray, IntArray

SHROUT_FLEISS_TYPES: tuple[str, ...] = ("ICC1", "ICC2", "ICC3", "ICC1k", "ICC2k", "ICC3k")
"""Row labels of :class:`ShroutFleissICC`, in psych::ICC's order."""


@dataclass(frozen=True)
class ShroutFleissICC:
    """The six Shrout & Fleiss (1979) ICCs for each group (rows: groups; columns:
    :data:`SHROUT_FLEISS_TYPES`).

    Attributes
    ----------
    icc, f_value, df1, df2, p_value, lower, upper : numpy.ndarray
        Groups x 6, as the columns of ``psych::ICC()$results``.
    n_targets : numpy.ndarray
        Targets with a rating from every judge (the others are dropped, as psych's ``missing = TRUE``).
    n_judges : int
        Judges (columns).
    ms_targets, ms_within, ms_judges, ms_error : numpy.ndarray
        Mean squares between targets, within targets, between judges, and residual.
    types : tuple of str
        Column labels.
    """

    icc: FloatArray
    f_value: FloatArray
    df1: FloatArray
    df2: FloatArray
    p_value: FloatArray
    lower: FloatArray
    upper: FloatArray
    n_targets: IntArray
    n_judges: int
    ms_targets: FloatArray
    ms_within: FloatArray
    ms_judges: FloatArray
    ms_error: FloatArray
    types: tuple[str, ...] = field(default=SHROUT_FLEISS_TYPES)


def shrout_fleiss_icc(ratings: FloatArray, ci_level: float = 0.95) -> ShroutFleissICC:
    """Shrout & Fleiss (1979) intraclass correlations with F tests and confidence intervals, as psych::ICC.

    Parameters
    ----------
    ratings : numpy.ndarray
        Targets x judges, or groups x targets x judges for many independent rating studies at once (pad with
        all-NaN rows when groups have different numbers of targets). A target missing any rating is dropped.
    ci_level : float
        Coverage of the intervals.

    Returns
    -------
    ShroutFleissICC

    Notes
    -----
    Two-way ANOVA of ``n`` targets by ``k`` judges gives ``BMS`` (targets), ``WMS`` (within targets), ``JMS``
    (judges) and ``EMS`` (residual). Then

    - ICC1 ``= (BMS - WMS) / (BMS + (k-1) WMS)``, ICC1k ``= (BMS - WMS) / BMS``, ``F = BMS/WMS`` on
      ``(n-1, n(k-1))``;
    - ICC2 ``= (BMS - EMS) / (BMS + (k-1) EMS + k (JMS - EMS)/n)``, ICC2k ``= (BMS - EMS) / (BMS + (JMS -
      EMS)/n)``;
    - ICC3 ``= (BMS - EMS) / (BMS + (k-1) EMS)``, ICC3k ``= (BMS - EMS) / BMS``, ``F = BMS/EMS`` on
      ``(n-1, (n-1)(k-1))`` for ICC2 and ICC3;

    with Shrout & Fleiss's intervals (for ICC2 the Satterthwaite degrees of freedom ``v``), exactly as
    ``psych::ICC``. p-values are upper-tail F probabilities.

    References
    ----------
    Shrout, P. E., & Fleiss, J. L. (1979). Intraclass correlations: Uses in assessing rater reliability.
    *Psychological Bulletin* 86, 420-428.
    McGraw, K. O., & Wong, S. P. (1996). Forming inferences about some intraclass correlation coefficients.
    *Psychological Methods* 1, 30-46.

    Examples
    --------
    >>> sf = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]])
    >>> res = shrout_fleiss_icc(sf.astype(float))
    >>> np.round(res.icc[0], 4)  # R: psych::ICC(sf)$results$ICC
    array([0.1657, 0.2898, 0.7148, 0.4428, 0.6201, 0.9093])
    """
    if not 0.0 < ci_level < 1.0:
        raise ValueError(f"ci_level must lie strictly between 0 and 1, got {ci_level}")
    x = np.asarray(ratings, dtype=np.float64)
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3:
        raise ValueError("ratings must be targets x judges or groups x targets x judges")
    if np.isinf(x).any():
        raise ValueError("ratings contain infinite values; use NaN for a missing rating")
    k = x.shape[2]
    if k < 2:
        raise ValueError(f"ICCs need at least 2 judges, got {k}")
    keep = np.all(np.isfinite(x), axis=2)
    n = keep.sum(axis=1).astype(np.float64)
    y = np.where(keep[:, :, None], x, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        grand = y.sum(axis=(1, 2)) / (n * k)
        centred = np.where(keep[:, :, None], y - grand[:, None, None], 0.0)
        row_mean = centred.sum(axis=2) / k
        col_mean = centred.sum(axis=1) / n[:, None]
        ss_total = (centred**2).sum(axis=(1, 2))
        ss_targets = k * (row_mean**2).sum(axis=1)
        ss_judges = n * (col_mean**2).sum(axis=1)
        ss_error = ss_total - ss_targets - ss_judges
        bms = ss_targets / (n - 1)
        wms = (ss_total - ss_targets) / (n * (k - 1))
        jms = ss_judges / (k - 1)
        ems = ss_error / ((n - 1) * (k - 1))

        icc1 = (bms - wms) / (bms + (k - 1) * wms)
        icc2 = (bms - ems) / (bms + (k - 1) * ems + k * (jms - ems) / n)
        icc3 = (bms - ems) / (bms + (k - 1) * ems)
        icc1k = (bms - wms) / bms
        icc2k = (bms - ems) / (bms + (jms - ems) / n)
        icc3k = (bms - ems) / bms

        f1 = bms / wms
        f3 = bms / ems
        df_targets = n - 1
        df_within = n * (k - 1)
        df_error = (n - 1) * (k - 1)
        ok = n >= 2
        q = 1.0 - (1.0 - ci_level) / 2.0

        def f_quantile(df_a: FloatArray, df_b: FloatArray) -> FloatArray:
            good = ok & (df_a > 0) & (df_b > 0)
            out = stats.f.ppf(q, np.where(good, df_a, 1.0), np.where(good, df_b, 1.0))
            return np.where(good, out, np.nan)

        f1_low = f1 / f_quantile(df_targets, df_within)
        f1_high = f1 * f_quantile(df_within, df_targets)
        f3_low = f3 / f_quantile(df_targets, df_error)
        f3_high = f3 * f_quantile(df_error, df_targets)
        low1 = (f1_low - 1) / (f1_low + k - 1)
        high1 = (f1_high - 1) / (f1_high + k - 1)
        low3 = (f3_low - 1) / (f3_low + k - 1)
        high3 = (f3_high - 1) / (f3_high + k - 1)

        fj = jms / ems
        vn = (k - 1) * (n - 1) * (k * icc2 * fj + n * (1 + (k - 1) * icc2) - k * icc2) ** 2
        vd = (n - 1) * k**2 * icc2**2 * fj**2 + (n * (1 + (k - 1) * icc2) - k * icc2) ** 2
        v = vn / vd
        f2_high = f_quantile(df_targets, v)
        f2_low = f_quantile(v, df_targets)
        low2 = n * (bms - f2_high * ems) / (f2_high * (k * jms + (k * n - k - n) * ems) + n * bms)
        high2 = n * (f2_low * bms - ems) / (k * jms + (k * n - k - n) * ems + n * f2_low * bms)

        icc = np.column_stack([icc1, icc2, icc3, icc1k, icc2k, icc3k])
        f_value = np.column_stack([f1, f3, f3, f1, f3, f3])
        df1 = np.column_stack([df_targets] * 6)
        df2 = np.column_stack([df_within, df_error, df_error, df_within, df_error, df_error])
        valid_f = np.isfinite(f_value) & ok[:, None]
        p_value = np.where(
            valid_f,
            stats.f.sf(
                np.where(valid_f, f_value, 1.0),
                np.where(ok, df_targets, 1.0)[:, None],
                np.where(valid_f, df2, 1.0),
            ),
            np.nan,
        )
        lower = np.column_stack(
            [low1, low2, low3, 1 - 1 / f1_low, low2 * k / (1 + low2 * (k - 1)), 1 - 1 / f3_low]
        )
        upper = np.column_stack(
            [high1, high2, high3, 1 - 1 / f1_high, high2 * k / (1 + high2 * (k - 1)), 1 - 1 / f3_high]
        )

    def valid_only(values: FloatArray) -> FloatArray:
        return np.where(ok[:, None], values, np.nan)

    return ShroutFleissICC(
        icc=valid_only(icc),
        f_value=valid_only(f_value),
        df1=valid_only(df1),
        df2=valid_only(df2),
        p_value=valid_only(p_value),
        lower=valid_only(lower),
        upper=valid_only(upper),
        n_targets=n.astype(np.int64),
        n_judges=k,
        ms_targets=np.where(ok, bms, np.nan),
        ms_within=np.where(ok, wms, np.nan),
        ms_judges=np.where(ok, jms, np.nan),
        ms_error=np.where(ok, ems, np.nan),
    )


__all__ = ["SHROUT_FLEISS_TYPES", "ShroutFleissICC", "shrout_fleiss_icc"]
