"""The one-factor model of a scale's items and McDonald's omega total from it (as R ``psych::omega`` with
one factor).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from forewarn.stats.arrays import BoolArray, FloatArray, IntArray

# Lower bound for a uniqueness (on the correlation scale) in the one-factor fit, as factanal and psych use:
# stops a Heywood case from driving a uniqueness to zero and the weights to infinity.
_MIN_UNIQUENESS = 0.005


@dataclass(frozen=True)
class OneFactorFit:
    """One-factor model ``Sigma = lambda lambda' + diag(psi)`` fitted to each group's covariance matrix.

    Attributes
    ----------
    loadings : numpy.ndarray
        Groups x items, on the covariance (raw item) scale, signed so that their sum is positive.
    uniquenesses : numpy.ndarray
        Groups x items, unique variances on the covariance scale.
    n_iter : numpy.ndarray
        Iterations used per group.
    converged : numpy.ndarray
        False where the iteration cap was reached.
    """

    loadings: FloatArray
    uniquenesses: FloatArray
    n_iter: IntArray
    converged: BoolArray


def fit_one_factor(covariance: FloatArray, max_iter: int = 5000, tol: float = 1e-10) -> OneFactorFit:
    """Maximum-likelihood one-factor model for a stack of covariance matrices.

    Parameters
    ----------
    covariance : numpy.ndarray
        Groups x items x items (or one items x items matrix), symmetric with positive diagonal.
    max_iter : int
        Iteration cap.
    tol : float
        Stop when no uniqueness (correlation scale) moves by more than ``tol``.

    Returns
    -------
    OneFactorFit

    Notes
    -----
    Maximum likelihood minimises ``F = log|Sigma| + tr(S Sigma^-1)`` over ``Sigma = lambda lambda' + Psi``. It
    is scale-free, so the fit is done on the correlation matrix ``R = D^-1/2 S D^-1/2`` and rescaled
    (``lambda_S = D^1/2 lambda_R``). For fixed ``Psi`` the optimal loadings are ``lambda = Psi^1/2 v
    sqrt(theta - 1)``, with ``(theta, v)`` the largest eigenpair of ``Psi^-1/2 R Psi^-1/2``; then ``Psi =
    diag(R - lambda lambda')``. The two steps alternate (Joreskog 1967) until the uniquenesses stop moving,
    for every group at once with batched ``eigh``. Uniquenesses are kept at or above 0.005, as in
    ``factanal``. When ``S`` is exactly ``lambda lambda' + Psi`` the fit recovers ``lambda`` and ``Psi`` (an
    exact fixed point).

    References
    ----------
    Joreskog, K. G. (1967). Some contributions to maximum likelihood factor analysis. *Psychometrika* 32,
    443-482.

    Examples
    --------
    >>> lam = np.array([0.9, 0.8, 0.7, 0.6])
    >>> fit = fit_one_factor(np.outer(lam, lam) + np.diag(1 - lam**2))
    >>> np.round(fit.loadings, 6)  # R: factanal(covmat = S, factors = 1)$loadings
    array([[0.9, 0.8, 0.7, 0.6]])
    """
    s = np.asarray(covariance, dtype=np.float64)
    if s.ndim == 2:
        s = s[None]
    if s.ndim != 3 or s.shape[1] != s.shape[2]:
        raise ValueError("covariance must be items x items or groups x items x items")
    if s.shape[1] < 3:
        raise ValueError("a one-factor model needs at least 3 items to be identified")
    g, k, _ = s.shape
    variance = np.diagonal(s, axis1=1, axis2=2)
    valid = np.all(np.isfinite(s), axis=(1, 2)) & np.all(variance > 0, axis=1)
    safe = np.where(valid[:, None, None], s, np.eye(k)[None])
    sd = np.sqrt(np.diagonal(safe, axis1=1, axis2=2))
    r = safe / (sd[:, :, None] * sd[:, None, :])
    # Start from 1 - SMC, the usual principal-axis start.
    inverse_diagonal = np.diagonal(np.linalg.pinv(r, hermitian=True), axis1=1, axis2=2)
    psi = np.clip(1.0 / inverse_diagonal, _MIN_UNIQUENESS, 1.0)
    loadings = np.zeros((g, k))
    n_iter = np.zeros(g, dtype=np.int64)
    active = valid.copy()
    for _ in range(max_iter):
        if not active.any():
            break
        root = np.sqrt(psi[active])
        scaled = r[active] / (root[:, :, None] * root[:, None, :])
        theta, vectors = np.linalg.eigh(scaled)
        lam = root * vectors[:, :, -1] * np.sqrt(np.maximum(theta[:, -1] - 1.0, 0.0))[:, None]
        new_psi = np.clip(1.0 - lam**2, _MIN_UNIQUENESS, 1.0)
        change = np.max(np.abs(new_psi - psi[active]), axis=1)
        loadings[active] = lam
        psi[active] = new_psi
        n_iter[active] += 1
        still = np.flatnonzero(active)[change > tol]
        active = np.zeros(g, dtype=bool)
        active[still] = True
    converged = valid & ~active
    sign = np.where(loadings.sum(axis=1) < 0, -1.0, 1.0)
    raw_loadings = np.where(valid[:, None], loadings * sign[:, None] * sd, np.nan)
    raw_psi = np.where(valid[:, None], psi * sd**2, np.nan)
    return OneFactorFit(loadings=raw_loadings, uniquenesses=raw_psi, n_iter=n_iter, converged=converged)


def omega_total(covariance: FloatArray, max_iter: int = 5000, tol: float = 1e-10) -> FloatArray:
    """McDonald's omega total of the unweighted sum of the items, from a one-factor ML fit.

    Parameters
    ----------
    covariance : numpy.ndarray
        Groups x items x items (or items x items).
    max_iter, tol : see :func:`fit_one_factor`.

    Returns
    -------
    numpy.ndarray
        One omega per group.

    Notes
    -----
    ``omega = (sum_i lambda_i)^2 / 1' S 1``: the share of the observed variance of the raw sum score that the
    common factor explains, with the loadings on the raw item scale (the score is the raw mean, not a mean of
    standardised items as in ``psych::omega``) and the observed total variance in the denominator as in psych.
    For ``S = lambda lambda' + diag(psi)`` exactly, ``1'S1 = (sum lambda)^2 + sum psi`` and omega is
    ``(sum lambda)^2 / ((sum lambda)^2 + sum psi)``.

    References
    ----------
    McDonald, R. P. (1999). *Test theory: A unified treatment*. Erlbaum (eq. 6.20b).

    Examples
    --------
    >>> lam, psi = np.array([1.0, 0.8, 0.5]), np.array([0.5, 1.0, 0.75])
    >>> omega_total(np.outer(lam, lam) + np.diag(psi))  # 2.3**2 / (2.3**2 + 2.25)
    array([0.70159151])
    """
    s = np.asarray(covariance, dtype=np.float64)
    if s.ndim == 2:
        s = s[None]
    fit = fit_one_factor(s, max_iter, tol)
    with np.errstate(invalid="ignore", divide="ignore"):
        result: FloatArray = fit.loadings.sum(axis=1) ** 2 / s.sum(axis=(1, 2))
    return result


__all__ = ["OneFactorFit", "fit_one_factor", "omega_total"]
