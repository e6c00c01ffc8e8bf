"""Reliability of multi-item scales: scoring, Cronbach's alpha and its relatives, omega, Shrout-Fleiss ICCs.

Every function works on a respondents x items matrix (NaN for a missing answer) and, where it makes sense, an
integer group id per respondent, computing the statistic for every group at once: per-group sums come from one
sparse indicator product, and per-group matrix algebra is batched over a leading group axis.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy import sparse, stats

from forewarn.stats.arrays import BoolArray, FloatArray, IntArray

SHROUT_FLEISS_TYPES: tuple[str, ...] = ("ICC1", "ICC2", "ICC3", "ICC1k", "ICC2k", "ICC3k")
"""Row labels of :class:`ShroutFleissICC`, in psych::ICC's order."""

# Lower bound for a uniqueness (on the correlation scale) in the one-factor fit, as factanal and psych use:
# stops a Heywood case from driving a uniqueness to zero and the weights to infinity.
_MIN_UNIQUENESS = 0.005


# ------------------------------------------------------------------------------------------------------------
# Input checks and per-group sums shared by this module and agreement.py


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


# ------------------------------------------------------------------------------------------------------------
# Scoring


@dataclass(frozen=True)
class ScaleSpec:
    """Which item belongs to which scale, which items are reverse-keyed, and the scoring rule.

    Attributes
    ----------
    item_scale : tuple of int
        Scale index of each column of the response matrix (0-based); -1 for a column no scale uses.
    reverse_keyed : tuple of bool
        True where the item is scored in the opposite direction (``x' = min + max - x``).
    response_min, response_max : float
        Lowest and highest response option (e.g. 1 and 5).
    min_answers : tuple of int
        Per scale, the fewest answered items for a scale score (fewer gives NaN).
    scale_names : tuple of str
        Optional names, one per scale.
    """

    item_scale: tuple[int, ...]
    reverse_keyed: tuple[bool, ...]
    response_min: float
    response_max: float
    min_answers: tuple[int, ...]
    scale_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if len(self.item_scale) == 0:
            raise ValueError("item_scale is empty: a ScaleSpec needs at least one item")
        if len(self.reverse_keyed) != len(self.item_scale):
            raise ValueError(
                f"reverse_keyed has {len(self.reverse_keyed)} entries "
                f"but item_scale has {len(self.item_scale)}"
            )
        if any(s < -1 for s in self.item_scale):
            raise ValueError("item_scale entries must be a scale index >= 0, or -1 for an unscored column")
        if not (np.isfinite(self.response_min) and np.isfinite(self.response_max)):
            raise ValueError("response_min and response_max must be finite")
        if self.response_min >= self.response_max:
            raise ValueError(
                f"response_min ({self.response_min}) must be below response_max ({self.response_max})"
            )
        n_scales = max(self.item_scale) + 1
        if n_scales == 0:
            raise ValueError("no column is assigned to a scale (item_scale is all -1)")
        sizes = np.bincount([s for s in self.item_scale if s >= 0], minlength=n_scales)
        empty = np.flatnonzero(sizes == 0)
        if empty.size:
            raise ValueError(f"scale(s) {empty.tolist()} have no items; number scales 0 .. n_scales - 1")
        if len(self.min_answers) != n_scales:
            raise ValueError(
                f"min_answers needs one entry per scale ({n_scales}), got {len(self.min_answers)}"
            )
        for scale, (m, size) in enumerate(zip(self.min_answers, sizes, strict=True)):
            if not 1 <= m <= size:
                raise ValueError(f"min_answers for scale {scale} is {m}; it must be between 1 and {size}")
        if self.scale_names and len(self.scale_names) != n_scales:
            raise ValueError(f"scale_names needs {n_scales} names, got {len(self.scale_names)}")

    @property
    def n_items(self) -> int:
        """Number of columns in the response matrix."""
        return len(self.item_scale)

    @property
    def n_scales(self) -> int:
        """Number of scales."""
        return max(self.item_scale) + 1

    def items_of(self, scale: int) -> IntArray:
        """Column indices of the items of ``scale``."""
        return np.flatnonzero(np.asarray(self.item_scale) == scale).astype(np.int64)

    @classmethod
    def from_keys(
        cls,
        columns: Sequence[str],
        keys: Mapping[str, Sequence[str]],
        response_min: float,
        response_max: float,
        min_answers: int | Mapping[str, int] = 1,
    ) -> ScaleSpec:
        """Build a spec from psych-style keys, where ``"-A1"`` marks a reverse-keyed item.

        Parameters
        ----------
        columns : sequence of str
            Column names of the response matrix.
        keys : mapping of str to sequence of str
            Scale name to its items, e.g. ``{"A": ["-A1", "A2"]}`` as in ``psych::scoreItems``.
        response_min, response_max : float
            Response range.
        min_answers : int or mapping
            Fewest answers for a score, for every scale or per scale name.

        Returns
        -------
        ScaleSpec

        Notes
        -----
        Scales are numbered in the order of ``keys``; columns no scale names get -1 (unscored). An item may
        belong to one scale only.

        References
        ----------
        Revelle, W. (2022). psych 2.2.9, ``make.keys`` and ``scoreItems`` key notation.

        Examples
        --------
        >>> spec = ScaleSpec.from_keys(["a", "b", "c"], {"S": ["a", "-b"]}, 1, 5)
        >>> spec.item_scale, spec.reverse_keyed  # R: psych::make.keys(3, list(S = c("a", "-b")))
        ((0, 0, -1), (False, True, False))
        """
        position = {name: i for i, name in enumerate(columns)}
        if len(position) != len(columns):
            raise ValueError("column names must be unique")
        item_scale = [-1] * len(columns)
        reverse = [False] * len(columns)
        for scale, (scale_name, items) in enumerate(keys.items()):
            for item in items:
                bare = item[1:] if item.startswith("-") else item
                if bare not in position:
                    raise ValueError(f"scale {scale_name!r} names item {bare!r}, which is not a column")
                column = position[bare]
                if item_scale[column] != -1:
                    raise ValueError(f"item {bare!r} is keyed to more than one scale")
                item_scale[column] = scale
                reverse[column] = item.startswith("-")
        if isinstance(min_answers, int):
            minimum = tuple(min_answers for _ in keys)
        else:
            unknown = set(min_answers) - set(keys)
            if unknown:
                raise ValueError(f"min_answers names unknown scale(s): {sorted(unknown)}")
            minimum = tuple(min_answers.get(name, 1) for name in keys)
        return cls(tuple(item_scale), tuple(reverse), response_min, response_max, minimum, tuple(keys))


@dataclass(frozen=True)
class ScaleScores:
    """Scale scores of every respondent.

    Attributes
    ----------
    score : numpy.ndarray
        Respondents x scales: mean of the answered (reverse-keyed) items, NaN under the minimum-answers rule.
    n_answered : numpy.ndarray
        Respondents x scales: number of items answered.
    """

    score: FloatArray
    n_answered: IntArray


@dataclass(frozen=True)
class KeyedResponses:
    """Reverse-keyed answers, centred on the scale midpoint, ready for per-group sums.

    Attributes
    ----------
    centred : numpy.ndarray
        Respondents x items: ``x' - midpoint`` (``x'`` reverse-keyed), 0 where the answer is missing.
    answered : numpy.ndarray
        Respondents x items: 1.0 where answered, 0.0 where missing.
    midpoint : float
        ``(response_min + response_max) / 2``; add it back to get ``x'``.
    scores : ScaleScores
        The scale scores.
    """

    centred: FloatArray
    answered: FloatArray
    midpoint: float
    scores: ScaleScores


def key_responses(responses: FloatArray, spec: ScaleSpec) -> KeyedResponses:
    """Check, reverse-key, centre and score a response matrix in a few passes over the data.

    Parameters
    ----------
    responses : numpy.ndarray
        Respondents x items (raw, before reverse-keying), NaN for a missing answer.
    spec : ScaleSpec
        Item-to-scale map, reverse keys, response range and minimum answers.

    Returns
    -------
    KeyedResponses

    Notes
    -----
    Reverse-keying and centring are one affine map per column, ``x' - c = s x + o`` with ``s = -1, o = L + H -
    c`` for reverse-keyed items and ``s = 1, o = -c`` otherwise (``c`` the midpoint). Centring keeps one-pass
    sums of squares accurate; with a whole-number midpoint, integer answers stay integers, so those sums are
    exact. Scale scores follow :func:`score_scales`.

    References
    ----------
    Revelle, W. (2022). psych 2.2.9, ``scoreItems``.

    Examples
    --------
    >>> spec = ScaleSpec((0, 0), (False, True), 1, 5, (1,))
    >>> kr = key_responses(np.array([[1.0, 2.0], [5.0, np.nan]]), spec)
    >>> kr.centred + kr.midpoint * kr.answered  # keyed, 0 where missing; R: psych::reverse.code(c(1, -1), x, 1, 5)
    array([[1., 4.],
           [5., 0.]])
    """
    x = as_response_matrix(responses)
    if x.shape[1] != spec.n_items:
        raise ValueError(f"responses has {x.shape[1]} columns but the spec describes {spec.n_items} items")
    if x.size:
        low = np.fmin.reduce(x, axis=None)
        high = np.fmax.reduce(x, axis=None)
        if low < spec.response_min or high > spec.response_max:
            raise ValueError(
                f"responses range from {low} to {high}, outside the scale's "
                f"{spec.response_min}..{spec.response_max}"
            )
    midpoint = (spec.response_min + spec.response_max) / 2.0
    flip = np.asarray(spec.reverse_keyed, dtype=bool)
    centred = x * np.where(flip, -1.0, 1.0)
    centred += np.where(flip, spec.response_min + spec.response_max - midpoint, -midpoint)
    missing = np.isnan(centred)
    np.copyto(centred, 0.0, where=missing)
    answered = np.logical_not(missing, out=missing).astype(np.float64)
    scale_of = np.asarray(spec.item_scale)
    membership = (scale_of[:, None] == np.arange(spec.n_scales)[None, :]).astype(np.float64)
    sums = centred @ membership
    counts = answered @ membership
    n_answered = np.rint(counts).astype(np.int64)
    enough = n_answered >= np.asarray(spec.min_answers)[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(enough, sums / counts + midpoint, np.nan)
    return KeyedResponses(
        centred=centred, answered=answered, midpoint=midpoint, scores=ScaleScores(score, n_answered)
    )


def reverse_key(
    responses: FloatArray, reverse_keyed: Sequence[bool] | BoolArray, response_min: float, response_max: float
) -> FloatArray:
    """Reverse the scoring of the chosen columns: ``x' = min + max - x``.

    Parameters
    ----------
    responses : numpy.ndarray
        Respondents x items, NaN for missing.
    reverse_keyed : sequence of bool
        One flag per column.
    response_min, response_max : float
        Lowest and highest response option.

    Returns
    -------
    numpy.ndarray
        A new array; missing answers stay NaN.

    Notes
    -----
    ``x' = L + H - x`` maps the response range onto itself in reverse (1 <-> 5 on a 1-5 scale).

    References
    ----------
    Revelle, W. (2022). psych: Procedures for psychological, psychometric, and personality research, R package
    2.2.9 (``reverse.code``).

    Examples
    --------
    >>> reverse_key(np.array([[1.0, 2.0]]), [False, True], 1, 5)  # R: psych::reverse.code(c(1, -1), x, 1, 5)
    array([[1., 4.]])
    """
    x = as_response_matrix(responses)
    flags = np.asarray(reverse_keyed, dtype=bool)
    if flags.shape != (x.shape[1],):
        raise ValueError(f"reverse_keyed needs one flag per column ({x.shape[1]}), got shape {flags.shape}")
    out = x.copy()
    out[:, flags] = (response_min + response_max) - x[:, flags]
    return out


def score_scales(responses: FloatArray, spec: ScaleSpec) -> ScaleScores:
    """Score every scale for every respondent: mean of answered items after reverse-keying.

    Parameters
    ----------
    responses : numpy.ndarray
        Respondents x items (raw, before reverse-keying), NaN for a missing answer.
    spec : ScaleSpec
        Item-to-scale map, reverse keys, response range and minimum answers.

    Returns
    -------
    ScaleScores

    Notes
    -----
    With reverse-keyed answers ``x'``, scale ``s`` gets ``score = sum_i x'_i / m`` over its ``m`` answered
    items when ``m >= min_answers[s]``, else NaN (the "prorated mean" rule: a respondent who skips an item is
    not scored as if they had answered zero). Answers outside ``[response_min, response_max]`` raise
    ValueError. Sums and counts are one matrix product with the items x scales indicator.

    References
    ----------
    Revelle, W. (2022). psych 2.2.9, ``scoreItems(keys, items, totals = FALSE, impute = "none", min, max)``.

    Examples
    --------
    >>> spec = ScaleSpec((0, 0, 0), (False, False, True), 1, 5, (2,))
    >>> score_scales(np.array([[1.0, 3.0, 5.0], [2.0, np.nan, np.nan]]), spec).score.ravel()
    array([1.66666667,        nan])

    R gives 1.666667 and NA with ``psych::scoreItems(c(1, 1, -1), x, totals = FALSE, impute = "none",
    min = 1, max = 5)`` after blanking scores with fewer than 2 answers.
    """
    return key_responses(responses, spec).scores


# ------------------------------------------------------------------------------------------------------------
# Alpha, lambda 6, omega, item statistics


@dataclass(frozen=True)
class ReliabilityOptions:
    """Options of :func:`scale_reliability`.

    Attributes
    ----------
    missing : {"pairwise", "listwise"}
        "pairwise" (psych::alpha's default ``use = "pairwise"``): each covariance uses the respondents who
        answered both items. "listwise": only respondents who answered every item.
    ci_level : float
        Coverage of the Feldt confidence interval.
    omega_max_iter : int
        Iteration cap of the one-factor maximum-likelihood fit.
    omega_tol : float
        Convergence tolerance on the uniquenesses (correlation scale).
    """

    missing: Literal["pairwise", "listwise"] = "pairwise"
    ci_level: float = 0.95
    omega_max_iter: int = 5000
    omega_tol: float = 1e-10

    def __post_init__(self) -> None:
        if self.missing not in ("pairwise", "listwise"):
            raise ValueError(f"missing must be 'pairwise' or 'listwise', got {self.missing!r}")
        if not 0.0 < self.ci_level < 1.0:
            raise ValueError(f"ci_level must lie strictly between 0 and 1, got {self.ci_level}")
        if self.omega_max_iter < 1:
            raise ValueError("omega_max_iter must be at least 1")
        if not self.omega_tol > 0.0:
            raise ValueError("omega_tol must be positive")


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


@dataclass(frozen=True)
class ScaleReliability:
    """Reliability of one scale in every group (first axis: group; second axis, where present: item).

    Attributes
    ----------
    n_respondents : numpy.ndarray
        Respondents with at least one answer (after the missing-data rule).
    n_complete : numpy.ndarray
        Respondents who answered every item.
    n_feldt : numpy.ndarray
        The ``n`` used by the Feldt interval (``n_complete`` listwise; the smallest pairwise ``n`` pairwise).
    raw_alpha, std_alpha : numpy.ndarray
        Cronbach's alpha from the covariance and from the correlation matrix (psych's raw_alpha, std.alpha).
    lambda6 : numpy.ndarray
        Guttman's lambda 6 (psych's G6(smc)).
    average_r : numpy.ndarray
        Mean inter-item correlation.
    feldt_lower, feldt_upper : numpy.ndarray
        Feldt, Woodruff & Salih (1987) confidence interval for raw alpha.
    omega_total : numpy.ndarray
        McDonald's omega total of the raw sum score from a one-factor maximum-likelihood fit.
    alpha_if_dropped : numpy.ndarray
        Groups x items: raw alpha of the other items.
    r_drop : numpy.ndarray
        Groups x items: corrected item-total correlation (item with the sum of the other items).
    item_n, item_mean, item_sd : numpy.ndarray
        Groups x items: answers, mean and SD of each item.
    loadings, uniquenesses : numpy.ndarray
        Groups x items: the one-factor fit behind omega (covariance scale).
    """

    n_respondents: IntArray
    n_complete: IntArray
    n_feldt: IntArray
    raw_alpha: FloatArray
    std_alpha: FloatArray
    lambda6: FloatArray
    average_r: FloatArray
    feldt_lower: FloatArray
    feldt_upper: FloatArray
    omega_total: FloatArray
    alpha_if_dropped: FloatArray
    r_drop: FloatArray
    item_n: IntArray
    item_mean: FloatArray
    item_sd: FloatArray
    loadings: FloatArray
    uniquenesses: FloatArray


@dataclass(frozen=True)
class GroupCovariance:
    """Per-group item covariance matrices.

    Attributes
    ----------
    covariance : numpy.ndarray
        Groups x items x items; entry ``(i, j)`` uses the respondents who answered both (pairwise deletion).
    n_pairs : numpy.ndarray
        Groups x items x items: respondents behind each entry.
    mean : numpy.ndarray
        Groups x items: item means over the respondents who answered the item.
    """

    covariance: FloatArray
    n_pairs: IntArray
    mean: FloatArray


def group_covariance(
    items: FloatArray, group_ids: IntArray | None = None, n_groups: int | None = None
) -> GroupCovariance:
    """Pairwise-complete covariance matrix of the items within every group.

    Parameters
    ----------
    items : numpy.ndarray
        Respondents x items, NaN for missing.
    group_ids : numpy.ndarray of int, optional
        Group of each respondent; None puts everyone in one group.
    n_groups : int, optional
        Number of groups (default ``max(group_ids) + 1``).

    Returns
    -------
    GroupCovariance

    Notes
    -----
    With ``m`` the answered indicator and ``x`` centred on the overall item mean (for numerical accuracy),
    ``c_ij = (sum x_i x_j - (sum x_i m_j)(sum x_j m_i) / n_ij) / (n_ij - 1)`` over a group's respondents, with
    ``n_ij = sum m_i m_j``: the covariance over the respondents who answered both items, as R's
    ``cov(x, use = "pairwise.complete.obs")``. NaN where ``n_ij < 2``.

    References
    ----------
    R Core Team (2022). R: A language and environment for statistical computing, 4.2.2 (``stats::cov``).

    Examples
    --------
    >>> x = np.array([[1.0, 2.0], [2.0, np.nan], [3.0, 5.0], [4.0, 4.0]])
    >>> group_covariance(x).covariance[0]  # R: cov(x, use = "pairwise")
    array([[1.66666667, 1.83333333],
           [1.83333333, 2.33333333]])
    """
    x = as_response_matrix(items, "items")
    n, k = x.shape
    ids, g = as_group_ids(np.zeros(n, dtype=np.int64) if group_ids is None else group_ids, n, n_groups)
    answered = ~np.isnan(x)
    mask = answered.astype(np.float64)
    with np.errstate(invalid="ignore"):
        centre = np.where(answered.any(axis=0), np.nanmean(np.where(answered, x, np.nan), axis=0), 0.0)
    xc = np.where(answered, x - centre, 0.0)
    cross = group_sums((xc[:, :, None] * xc[:, None, :]).reshape(n, k * k), ids, g).reshape(g, k, k)
    partial = group_sums((xc[:, :, None] * mask[:, None, :]).reshape(n, k * k), ids, g).reshape(g, k, k)
    pairs = group_sums((mask[:, :, None] * mask[:, None, :]).reshape(n, k * k), ids, g).reshape(g, k, k)
    with np.errstate(invalid="ignore", divide="ignore"):
        covariance = (cross - partial * np.swapaxes(partial, 1, 2) / pairs) / (pairs - 1.0)
        diagonal = np.diagonal(partial, axis1=1, axis2=2) / np.diagonal(pairs, axis1=1, axis2=2)
    covariance = np.where(pairs >= 2, covariance, np.nan)
    return GroupCovariance(
        covariance=covariance, n_pairs=np.rint(pairs).astype(np.int64), mean=diagonal + centre[None, :]
    )


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


def scale_reliability(
    items: FloatArray,
    group_ids: IntArray | None = None,
    n_groups: int | None = None,
    options: ReliabilityOptions | None = None,
) -> ScaleReliability:
    """Cronbach's alpha, Guttman's lambda 6, omega and item statistics of one scale, in every group.

    Parameters
    ----------
    items : numpy.ndarray
        Respondents x items of one scale, already reverse-keyed (:func:`reverse_key`), NaN for missing.
    group_ids : numpy.ndarray of int, optional
        Group of each respondent; None gives one group (the whole sample).
    n_groups : int, optional
        Number of groups (default ``max(group_ids) + 1``).
    options : ReliabilityOptions, optional

    Returns
    -------
    ScaleReliability

    Notes
    -----
    From each group's item covariance matrix ``C`` (``k`` items) and correlation matrix ``R``:

    - raw alpha ``= k/(k-1) (1 - tr C / 1'C1)``; standardised alpha ``= k/(k-1) (1 - k / 1'R1)``;
    - average r ``= (1'R1 - k) / (k(k-1))``;
    - lambda 6 ``= 1 - sum_i (1 - smc_i) / 1'R1`` with ``smc_i = 1 - 1/(R^-1)_ii`` (clipped to [0, 1]);
    - alpha if item ``i`` is dropped: raw alpha of ``C`` without row and column ``i``;
    - ``r.drop_i = (C 1 - C_ii)_i / sqrt(C_ii (1'C1 - 2 (C1)_i + C_ii))``, the item's correlation with the sum
      of the other items;
    - Feldt interval: ``1 - (1 - alpha) F_{1-g/2}(n-1, (n-1)(k-1))`` to ``1 - (1 - alpha) F_{g/2}(...)``,
      with ``g = 1 - ci_level``;
    - omega total: see :func:`omega_total`.

    These are psych::alpha's formulas. psych's Feldt interval uses every row of the data it is given; here
    ``n`` is the number of complete respondents under listwise deletion, and, under pairwise deletion, the
    smallest number of respondents behind any covariance (psych would use all rows, pingouin too).

    References
    ----------
    Cronbach, L. J. (1951). Coefficient alpha and the internal structure of tests. *Psychometrika* 16,
    297-334. Guttman, L. (1945). A basis for analyzing test-retest reliability. *Psychometrika* 10, 255-282.
    Feldt, L. S., Woodruff, D. J., & Salih, F. A. (1987). Statistical inference for coefficient alpha.
    *Applied Psychological Measurement* 11, 93-103.
    Revelle, W. (2022). psych 2.2.9, ``alpha()``.

    Examples
    --------
    >>> x = np.array([[1, 2, 2], [2, 2, 3], [3, 4, 3], [4, 4, 5], [5, 4, 4], [2, 3, 2]], dtype=float)
    >>> rel = scale_reliability(x)
    >>> print(np.round([rel.raw_alpha[0], rel.std_alpha[0], rel.lambda6[0], rel.average_r[0]], 4))
    [0.9062 0.9159 0.9072 0.7841]

    R: ``psych::alpha(x)$total`` gives raw_alpha 0.91, std.alpha 0.92, G6(smc) 0.91, average_r 0.78.
    """
    opts = options or ReliabilityOptions()
    x = as_response_matrix(items, "items")
    n, k = x.shape
    if k < 2:
        raise ValueError(f"a scale needs at least 2 items for alpha, got {k}")
    ids, g = as_group_ids(np.zeros(n, dtype=np.int64) if group_ids is None else group_ids, n, n_groups)
    answered = ~np.isnan(x)
    complete = np.asarray(answered.all(axis=1))
    if opts.missing == "listwise":
        x, ids, answered = x[complete], ids[complete], answered[complete]
        complete = complete[complete]
    counts = group_sums(np.column_stack([answered.any(axis=1), complete]).astype(np.float64), ids, g)
    cov = group_covariance(x, ids, g)
    c = cov.covariance
    variance = np.diagonal(c, axis1=1, axis2=2)
    valid = np.all(np.isfinite(c), axis=(1, 2)) & np.all(variance > 0, axis=1)
    c = np.where(valid[:, None, None], c, np.eye(k)[None])
    variance = np.diagonal(c, axis1=1, axis2=2)
    sd = np.sqrt(variance)
    r = c / (sd[:, :, None] * sd[:, None, :])

    trace = variance.sum(axis=1)
    total = c.sum(axis=(1, 2))
    row_sum = c.sum(axis=2)
    sum_r = r.sum(axis=(1, 2))
    raw_alpha = (1.0 - trace / total) * k / (k - 1)
    std_alpha = (1.0 - k / sum_r) * k / (k - 1)
    average_r = (sum_r - k) / (k * (k - 1))
    inverse_diagonal = np.diagonal(np.linalg.pinv(r, hermitian=True), axis1=1, axis2=2)
    smc = np.clip(1.0 - 1.0 / inverse_diagonal, 0.0, 1.0)
    lambda6 = 1.0 - (k - smc.sum(axis=1)) / sum_r

    rest_total = total[:, None] - 2.0 * row_sum + variance
    with np.errstate(invalid="ignore", divide="ignore"):
        r_drop = (row_sum - variance) / np.sqrt(variance * rest_total)
        if k >= 3:
            alpha_if_dropped = (1.0 - (trace[:, None] - variance) / rest_total) * (k - 1) / (k - 2)
        else:
            alpha_if_dropped = np.full((g, k), np.nan)

    if opts.missing == "listwise":
        n_feldt = np.rint(counts[:, 1]).astype(np.int64)
    else:
        n_feldt = cov.n_pairs.min(axis=(1, 2))
    df1 = n_feldt - 1.0
    df2 = df1 * (k - 1)
    tail = (1.0 - opts.ci_level) / 2.0
    with np.errstate(invalid="ignore"):
        ok = valid & (df1 >= 1)
        f_high = np.where(ok, stats.f.ppf(1.0 - tail, np.maximum(df1, 1), np.maximum(df2, 1)), np.nan)
        f_low = np.where(ok, stats.f.ppf(tail, np.maximum(df1, 1), np.maximum(df2, 1)), np.nan)
    feldt_lower = 1.0 - (1.0 - raw_alpha) * f_high
    feldt_upper = 1.0 - (1.0 - raw_alpha) * f_low

    if k >= 3:
        fit = fit_one_factor(np.where(valid[:, None, None], c, np.nan), opts.omega_max_iter, opts.omega_tol)
        with np.errstate(invalid="ignore"):
            omega = fit.loadings.sum(axis=1) ** 2 / total
        loadings, uniquenesses = fit.loadings, fit.uniquenesses
    else:
        omega = np.full(g, np.nan)
        loadings = uniquenesses = np.full((g, k), np.nan)

    def masked(values: FloatArray) -> FloatArray:
        shape = (g,) + (1,) * (values.ndim - 1)
        return np.where(valid.reshape(shape), values, np.nan)

    item_n = np.diagonal(cov.n_pairs, axis1=1, axis2=2).copy()
    raw_variance = np.diagonal(cov.covariance, axis1=1, axis2=2)
    with np.errstate(invalid="ignore"):
        item_sd = np.sqrt(raw_variance)
    return ScaleReliability(
        n_respondents=np.rint(counts[:, 0]).astype(np.int64),
        n_complete=np.rint(counts[:, 1]).astype(np.int64),
        n_feldt=n_feldt,
        raw_alpha=masked(raw_alpha),
        std_alpha=masked(std_alpha),
        lambda6=masked(lambda6),
        average_r=masked(average_r),
        feldt_lower=masked(feldt_lower),
        feldt_upper=masked(feldt_upper),
        omega_total=masked(omega),
        alpha_if_dropped=masked(alpha_if_dropped),
        r_drop=masked(r_drop),
        item_n=item_n,
        item_mean=np.where(item_n > 0, cov.mean, np.nan),
        item_sd=item_sd,
        loadings=loadings,
        uniquenesses=uniquenesses,
    )


# ------------------------------------------------------------------------------------------------------------
# Shrout & Fleiss intraclass correlations


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
