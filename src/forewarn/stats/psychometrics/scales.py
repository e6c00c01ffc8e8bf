"""Scoring multi-item scales: which item belongs to which scale, reverse keys, and a minimum-answers rule."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from forewarn.stats.arrays import BoolArray, FloatArray, IntArray
from forewarn.stats.psychometrics.responses import as_response_matrix


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


__all__ = ["KeyedResponses", "ScaleScores", "ScaleSpec", "key_responses", "reverse_key", "score_scales"]
