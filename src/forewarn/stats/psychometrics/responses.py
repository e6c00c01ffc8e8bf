"""Survey answers as arrays: the respondents x items matrix, integer group ids, and per-group sums.

Every statistic of the package computes for all groups at once from per-group sums, which come from one sparse
indicator product (:func:`group_sums`).
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from forewarn.stats.arrays import FloatArray, IntArray


def as_response_matrix(responses: object, name: str = "responses") -> FloatArray:
    """Return ``responses`` as a 2-D float64 array, refusing infinities and the wrong shape.

    Parameters
    ----------
    responses : array_like
        Respondents x items; NaN marks a missing answer.
    name : str
        Name used in error messages.

    Returns
    -------
    numpy.ndarray
        The same values as float64 (no copy when already float64).

    Notes
    -----
    NaN is the only way to say "missing"; ``inf`` is refused because no scale can contain it.

    References
    ----------
    Harris, C. R. et al. (2020). Array programming with NumPy. *Nature* 585, 357-362.

    Examples
    --------
    >>> as_response_matrix([[1, 2], [3, float("nan")]]).shape  # R: dim(as.matrix(x))
    (2, 2)
    """
    array = np.asarray(responses, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D respondents x items array, got {array.ndim} dimension(s)")
    if np.isinf(array).any():
        raise ValueError(f"{name} contains infinite values; use NaN for a missing answer")
    return array


def as_group_ids(group_ids: object, n_respondents: int, n_groups: int | None) -> tuple[IntArray, int]:
    """Check a group-id array and return it as int64 with the number of groups.

    Parameters
    ----------
    group_ids : array_like of int
        One id per respondent, each in ``0 .. n_groups - 1`` (map labels with ``np.unique(...,
        return_inverse=True)`` first).
    n_respondents : int
        Expected length.
    n_groups : int or None
        Number of groups; None means ``max(group_ids) + 1``. Groups with no respondent get NaN statistics.

    Returns
    -------
    tuple
        ``(ids, n_groups)``.

    Notes
    -----
    Groups are dense integer codes so that per-group sums are one sparse product, not a loop.

    References
    ----------
    Bliese, P. D. (2000). Within-group agreement, non-independence, and reliability. In K. J. Klein & S. W. J.
    Kozlowski (Eds.), *Multilevel theory, research, and methods in organizations* (pp. 349-381). Jossey-Bass.

    Examples
    --------
    >>> ids, g = as_group_ids([0, 2, 2], 3, None)
    >>> ids.tolist(), g  # unlike R's nlevels(factor(grpid)), the unseen code 1 is an (empty) group
    ([0, 2, 2], 3)
    """
    raw = np.asarray(group_ids)
    if raw.ndim != 1 or raw.shape[0] != n_respondents:
        raise ValueError(f"group_ids must be a 1-D array with one id per respondent ({n_respondents})")
    if raw.size and not np.issubdtype(raw.dtype, np.integer):
        if not np.issubdtype(raw.dtype, np.floating) or not np.all(np.isfinite(raw)):
            raise ValueError("group_ids must be integers (no NaN); map labels with np.unique first")
        if np.any(raw != np.round(raw)):
            raise ValueError("group_ids must be whole numbers")
    ids = raw.astype(np.int64)
    if ids.size and ids.min() < 0:
        raise ValueError("group_ids must be non-negative")
    largest = int(ids.max()) + 1 if ids.size else 0
    if n_groups is None:
        n_groups = largest
    elif n_groups < largest:
        raise ValueError(f"n_groups={n_groups} but group_ids go up to {largest - 1}")
    return ids, int(n_groups)


def group_sums(values: FloatArray, group_ids: IntArray, n_groups: int) -> FloatArray:
    """Sum each column of ``values`` within groups, for all groups at once.

    Parameters
    ----------
    values : numpy.ndarray
        Respondents x columns, with no NaN (zero out missing entries first).
    group_ids : numpy.ndarray of int64
        Group of each respondent, ``0 .. n_groups - 1`` (checked with :func:`as_group_ids`).
    n_groups : int
        Number of groups.

    Returns
    -------
    numpy.ndarray
        ``n_groups`` x columns sums; zero for an empty group.

    Notes
    -----
    The sums are ``A @ values`` with ``A`` the ``n_groups x n`` 0/1 indicator matrix in compressed-column
    form, which costs one pass over the data (faster than ``np.add.at`` and than one ``np.bincount`` per
    column).

    References
    ----------
    Virtanen, P. et al. (2020). SciPy 1.0: fundamental algorithms for scientific computing in Python. *Nature
    Methods* 17, 261-272.

    Examples
    --------
    >>> group_sums(np.array([[1.0], [2.0], [4.0]]), np.array([0, 1, 1]), 2).ravel()  # R: rowsum(x, g)
    array([1., 6.])
    """
    n = values.shape[0]
    indicator = sparse.csc_array(
        (np.ones(n), group_ids, np.arange(n + 1, dtype=np.int64)), shape=(n_groups, n)
    )
    return np.asarray(indicator @ values, dtype=np.float64)


__all__ = ["as_group_ids", "as_response_matrix", "group_sums"]
