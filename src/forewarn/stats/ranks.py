"""How sure is a league table? Rank uncertainty by simulation, with exact checks.

Given each unit's estimate and standard error, ranks are simulated by drawing every unit's true value from
``N(estimate, se^2)`` (a parametric bootstrap, or the approximate posterior under a flat prior) and ranking
the draws within each league table (Goldstein & Spiegelhalter 1996; Marshall & Spiegelhalter 1998). Each unit
gets a median rank and an interval of plausible ranks, and is flagged when that interval leaves out the middle
rank (n + 1)/2, i.e. when it can be told apart from the middle of its table.

Many league tables are ranked at once (``group``), with no per-unit Python loop: each block of replicates is
one ``argsort`` of a (replicates x units) matrix, blocks sized to a memory budget so 50,000 units never need a
50,000 x 50,000 matrix. :func:`expected_ranks` and :func:`probability_of_order` give exact values for the
normal model that the simulation can be checked against.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import special

from forewarn.stats.arrays import BoolArray, FloatArray, IntArray

# Elements per block of simulated draws (32 MB of float64 draws; the sort's work arrays make it about 150 MB).
_BLOCK_ELEMENTS = 4_000_000
# Pairs per block when summing exact pairwise probabilities in expected_ranks.
_PAIR_BLOCK_ELEMENTS = 4_000_000


def _is_number(value: object) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and math.isfinite(float(value))


@dataclass(frozen=True)
class RankOptions:
    """Options for :func:`rank_uncertainty`, validated on construction.

    Parameters
    ----------
    n_draws : int
        Simulated replicates, >= 100 (default 1000).
    level : float
        Coverage of the rank interval, in (0, 1) (default 0.95).
    seed : int
        Seed of the numpy Generator, so the ranks are reproducible.
    descending : bool
        False (default): rank 1 is the smallest value (e.g. lowest mortality). True: rank 1 is the largest.
    block_elements : int
        Memory budget: draws per block (replicates x units); the results do not depend on it.

    Raises
    ------
    ValueError
        If an option is out of range.
    """

    n_draws: int = 1000
    level: float = 0.95
    seed: int = 19960385
    descending: bool = False
    block_elements: int = _BLOCK_ELEMENTS

    def __post_init__(self) -> None:
        if not (isinstance(self.n_draws, int) and self.n_draws >= 100):
            raise ValueError(f"n_draws must be an integer >= 100; got {self.n_draws!r}")
        if not (_is_number(self.level) and 0 < self.level < 1):
            raise ValueError(f"level must be in (0, 1); got {self.level!r}")
        if not isinstance(self.seed, int):
            raise ValueError(f"seed must be an integer; got {self.seed!r}")
        if not isinstance(self.descending, bool):
            raise ValueError(f"descending must be True or False; got {self.descending!r}")
        if not (isinstance(self.block_elements, int) and self.block_elements >= 1):
            raise ValueError(f"block_elements must be a positive integer; got {self.block_elements!r}")


@dataclass(frozen=True)
class RankUncertainty:
    """Simulated ranks of every unit within its league table.

    Attributes
    ----------
    median_rank : ndarray of float, shape (units,)
        Median simulated rank (a half-integer when the two middle draws differ).
    lower_rank, upper_rank : ndarray of int, shape (units,)
        The ``(1 - level)/2`` and ``(1 + level)/2`` quantiles of the simulated ranks (smallest simulated rank
        whose empirical distribution function reaches the level, so whole ranks).
    mean_rank : ndarray of float, shape (units,)
        Mean simulated rank (compare :func:`expected_ranks`).
    rank_sd : ndarray of float, shape (units,)
        Standard deviation of the simulated ranks (``rank_sd / sqrt(n_draws)`` is the Monte Carlo standard
        error of ``mean_rank``).
    group_size : ndarray of int, shape (units,)
        Units in the unit's league table.
    differs_from_middle : ndarray of bool, shape (units,)
        The rank interval leaves out the middle rank ``(n + 1)/2``.
    n_draws : int
        Replicates simulated.
    level : float
        Interval coverage.
    """

    median_rank: FloatArray
    lower_rank: IntArray
    upper_rank: IntArray
    mean_rank: FloatArray
    rank_sd: FloatArray
    group_size: IntArray
    differs_from_middle: BoolArray
    n_draws: int
    level: float


def _unit_arrays(
    estimate: ArrayLike, standard_error: ArrayLike, group: ArrayLike | None
) -> tuple[FloatArray, FloatArray, IntArray]:
    estimates = np.asarray(estimate, dtype=np.float64)
    errors = np.asarray(standard_error, dtype=np.float64)
    if estimates.ndim != 1 or estimates.size == 0:
        raise ValueError("estimate must be a non-empty 1-D array (one value per unit)")
    if errors.shape != estimates.shape:
        raise ValueError(
            f"standard_error must have the shape of estimate {estimates.shape}; got {errors.shape}"
        )
    if not np.isfinite(estimates).all():
        raise ValueError("estimate must be finite for every unit (drop units without an estimate)")
    if not (np.isfinite(errors).all() and (errors >= 0).all()):
        raise ValueError("standard_error must be finite and >= 0 for every unit")
    if group is None:
        codes = np.zeros(estimates.size, dtype=np.int64)
    else:
        labels = np.asarray(group)
        if labels.shape != estimates.shape:
            raise ValueError(f"group must have the shape of estimate {estimates.shape}; got {labels.shape}")
        codes = np.unique(labels, return_inverse=True)[1].astype(np.int64).reshape(-1)
    return estimates, errors, codes


def probability_of_order(
    estimate_a: ArrayLike, se_a: ArrayLike, estimate_b: ArrayLike, se_b: ArrayLike
) -> FloatArray:
    """Probability that unit a's true value is below unit b's, under independent normal uncertainty.

    Parameters
    ----------
    estimate_a, se_a : array_like
        Estimate and standard error of unit a (broadcast together with b's).
    estimate_b, se_b : array_like
        Estimate and standard error of unit b.

    Returns
    -------
    ndarray of float
        ``P(theta_a < theta_b)``; 0.5 where both standard errors are 0 and the estimates tie.

    Raises
    ------
    ValueError
        If a standard error is negative or a value is not finite.

    Notes
    -----
    With ``theta ~ N(estimate, se^2)`` independently,

    .. math:: P(\\theta_a < \\theta_b) = \\Phi\\left(\\frac{\\hat\\theta_b - \\hat\\theta_a}
              {\\sqrt{se_a^2 + se_b^2}}\\right).

    For two units this is the whole rank distribution: unit a ranks first (ascending) with this probability.

    References
    ----------
    Goldstein, H. & Spiegelhalter, D. J. (1996). League tables and their limitations: statistical issues in
    comparisons of institutional performance. J R Stat Soc A 159, 385-443.

    Examples
    --------
    In R: ``pnorm((1 - 0) / sqrt(1^2 + 1^2))``:

    >>> probability_of_order(0.0, 1.0, 1.0, 1.0)
    array(0.760249)
    """
    a, sa, b, sb = (np.asarray(x, dtype=np.float64) for x in (estimate_a, se_a, estimate_b, se_b))
    if not all(np.isfinite(x).all() for x in (a, sa, b, sb)):
        raise ValueError("estimates and standard errors must be finite")
    if (sa < 0).any() or (sb < 0).any():
        raise ValueError("standard errors must be >= 0")
    spread = np.sqrt(sa * sa + sb * sb)
    gap = b - a
    with np.errstate(divide="ignore", invalid="ignore"):
        scaled = np.where(spread > 0, gap / np.where(spread > 0, spread, 1.0), np.sign(gap) * np.inf)
    return np.asarray(np.where((spread == 0) & (gap == 0), 0.5, special.ndtr(scaled)), dtype=np.float64)


def expected_ranks(
    estimate: ArrayLike,
    standard_error: ArrayLike,
    *,
    group: ArrayLike | None = None,
    descending: bool = False,
) -> FloatArray:
    """Exact expected rank of every unit within its league table under independent normal uncertainty.

    Parameters
    ----------
    estimate : array_like, shape (units,)
        Point estimates.
    standard_error : array_like, shape (units,)
        Standard errors, >= 0.
    group : array_like or None
        League-table label per unit; ranks are within each table. None: one table.
    descending : bool
        False: rank 1 is the smallest value; True: the largest.

    Returns
    -------
    ndarray of float, shape (units,)
        ``E[rank_i]``.

    Raises
    ------
    ValueError
        If the arrays disagree in shape or contain invalid values.

    Notes
    -----
    For ascending ranks, ``rank_i = 1 + #{j : theta_j < theta_i}``, so

    .. math:: E[\\mathrm{rank}_i] = 1 + \\sum_{j \\ne i} \\Phi\\left(\\frac{\\hat\\theta_i - \\hat\\theta_j}
              {\\sqrt{se_i^2 + se_j^2}}\\right)

    (descending: the sign of the difference flips). This costs n^2 normal CDFs per table, computed in blocks
    of rows of the pair matrix (memory stays bounded; time is about a minute for one table of 50,000 units).

    References
    ----------
    Goldstein, H. & Spiegelhalter, D. J. (1996). League tables and their limitations: statistical issues in
    comparisons of institutional performance. J R Stat Soc A 159, 385-443.

    Examples
    --------
    In R: ``1 + pnorm((0 - 1) / sqrt(2))`` for the first of two units:

    >>> expected_ranks([0.0, 1.0], [1.0, 1.0])
    array([1.239751, 1.760249])
    """
    estimates, errors, codes = _unit_arrays(estimate, standard_error, group)
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    values = -estimates[order] if descending else estimates[order]
    variances = errors[order] ** 2
    boundaries = np.flatnonzero(np.diff(sorted_codes)) + 1
    starts = np.concatenate([[0], boundaries])
    ends = np.concatenate([boundaries, [sorted_codes.size]])
    start_of = np.repeat(starts, ends - starts)
    end_of = np.repeat(ends, ends - starts)
    result_sorted = np.empty(values.size)
    # a block of rows meets at most rows + 2 * (largest table) columns, so this bounds the pair matrix
    largest = int((ends - starts).max())
    rows_per_block = max(1, min(_PAIR_BLOCK_ELEMENTS // largest, math.isqrt(_PAIR_BLOCK_ELEMENTS)))
    for first in range(0, values.size, rows_per_block):
        last = min(values.size, first + rows_per_block)
        # columns: the union of the row units' tables, a contiguous range because units are sorted by table
        low, high = int(start_of[first]), int(end_of[last - 1])
        same_table = (start_of[first:last, None] <= np.arange(low, high)[None, :]) & (
            np.arange(low, high)[None, :] < end_of[first:last, None]
        )
        probabilities = probability_of_order(
            values[low:high][None, :],
            np.sqrt(variances[low:high])[None, :],
            values[first:last, None],
            np.sqrt(variances[first:last])[:, None],
        )
        # P(theta_j < theta_i) summed over j in the table, minus the self-pair (which contributes 0.5)
        result_sorted[first:last] = 1.0 + np.where(same_table, probabilities, 0.0).sum(axis=1) - 0.5
    result = np.empty_like(result_sorted)
    result[order] = result_sorted
    return result


def rank_uncertainty(
    estimate: ArrayLike,
    standard_error: ArrayLike,
    *,
    group: ArrayLike | None = None,
    options: RankOptions | None = None,
) -> RankUncertainty:
    """Median rank and rank interval of every unit, by simulating its true value from N(estimate, se^2).

    Parameters
    ----------
    estimate : array_like, shape (units,)
        Point estimates (e.g. log standardised mortality ratios).
    standard_error : array_like, shape (units,)
        Their standard errors, >= 0 (0 means known exactly).
    group : array_like or None
        League-table label per unit (many rankings at once); None ranks all units together.
    options : RankOptions or None
        Draws, interval level, seed, direction and memory budget.

    Returns
    -------
    RankUncertainty
        Median, interval and mean rank, table size and whether each unit differs from the middle.

    Raises
    ------
    ValueError
        If the arrays disagree in shape or contain invalid values.

    Notes
    -----
    In replicate b every unit draws ``theta_i^b = estimate_i + se_i Z_i^b`` with Z standard normal from one
    seeded numpy Generator (drawn replicate by replicate, so the results do not depend on the block size). The
    rank of unit i in its table g is ``1 + #{j in g : theta_j^b < theta_i^b}`` (draws tie only between units
    with se = 0; tied units share the lowest rank, where :func:`expected_ranks` counts a tie as one half).
    A block of replicates is ranked at once: sort each replicate's draws (``argsort``), stably re-sort the
    sorted positions by table so each table is one contiguous run, and read ranks off positions; no unit is
    visited in Python. The ranks of all replicates are kept as 16-bit integers (100 MB for 50,000 units and
    1,000 draws). The interval is the pair of empirical quantiles at ``(1 -+ level)/2``; a unit differs from
    the middle when ``(n_g + 1)/2`` is outside it.

    References
    ----------
    Goldstein, H. & Spiegelhalter, D. J. (1996). League tables and their limitations: statistical issues in
    comparisons of institutional performance. J R Stat Soc A 159, 385-443.
    Marshall, E. C. & Spiegelhalter, D. J. (1998). Reliability of league tables of in vitro fertilisation
    clinics: retrospective analysis of live birth rates. BMJ 316, 1701-1704.

    Examples
    --------
    Three units far apart have certain ranks (R: ``rank(c(0, 100, 200))``):

    >>> ranks = rank_uncertainty([100.0, 0.0, 200.0], [1.0, 1.0, 1.0])
    >>> ranks.median_rank, ranks.lower_rank, ranks.upper_rank
    (array([2., 1., 3.]), array([2, 1, 3]), array([2, 1, 3]))
    >>> ranks.differs_from_middle
    array([False,  True,  True])
    """
    options = options if options is not None else RankOptions()
    estimates, errors, codes = _unit_arrays(estimate, standard_error, group)
    n_units = estimates.size
    # lay units out table by table so each table is a contiguous run of positions
    layout = np.argsort(codes, kind="stable")
    table_of_position = codes[layout]
    sizes = np.bincount(codes)
    table_start = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    start_of_position = table_start[table_of_position]
    sign = -1.0 if options.descending else 1.0
    means = sign * estimates[layout]
    spreads = errors[layout]
    several_tables = sizes.size > 1
    table_keys = table_of_position.astype(np.uint16 if sizes.size <= np.iinfo(np.uint16).max else np.int64)
    rank_type = np.uint16 if sizes.max() <= np.iinfo(np.uint16).max else np.int32
    ranks = np.empty((options.n_draws, n_units), dtype=rank_type)
    rng = np.random.default_rng(options.seed)
    replicates_per_block = max(1, options.block_elements // n_units)
    positions = np.arange(n_units)
    table_changes = np.ones(n_units, dtype=np.bool_)
    table_changes[1:] = table_of_position[1:] != table_of_position[:-1]
    ordinal_rank = (positions - start_of_position + 1).astype(rank_type)
    # draws of units with se > 0 tie with probability 0; only units known exactly (se = 0) can tie
    exact_ties_possible = int((errors == 0).sum()) >= 2
    for first in range(0, options.n_draws, replicates_per_block):
        last = min(options.n_draws, first + replicates_per_block)
        draws = means + spreads * rng.standard_normal((last - first, n_units))
        order = np.argsort(draws, axis=1)
        if several_tables:
            # stable re-sort by table keeps value order within each table
            order = np.take_along_axis(order, np.argsort(table_keys[order], axis=1, kind="stable"), axis=1)
        if exact_ties_possible:
            # a run of equal draws within a table shares the rank of its first member
            sorted_draws = np.take_along_axis(draws, order, axis=1)
            new_value = np.empty(sorted_draws.shape, dtype=np.bool_)
            new_value[:, 0] = True
            new_value[:, 1:] = sorted_draws[:, 1:] != sorted_draws[:, :-1]
            new_value |= table_changes[None, :]
            run_start = np.maximum.accumulate(np.where(new_value, positions[None, :], 0), axis=1)
            rank_at_position = (run_start - start_of_position[None, :] + 1).astype(rank_type)
        else:
            rank_at_position = np.broadcast_to(ordinal_rank, order.shape)
        block_ranks = np.empty(order.shape, dtype=rank_type)
        np.put_along_axis(block_ranks, order, rank_at_position, axis=1)
        ranks[first:last] = block_ranks
    return _summarise_ranks(ranks, layout, sizes[codes], options)


def _summarise_ranks(
    ranks_by_layout: NDArray[np.integer], layout: IntArray, group_size: IntArray, options: RankOptions
) -> RankUncertainty:
    n_draws, n_units = ranks_by_layout.shape
    tail = (1.0 - options.level) / 2.0
    # inverted-CDF quantiles: the smallest order statistic whose empirical CDF reaches the level
    lower_index = max(0, math.ceil(tail * n_draws - 1e-9) - 1)
    upper_index = min(n_draws - 1, math.ceil((1.0 - tail) * n_draws - 1e-9) - 1)
    middle = (n_draws - 1) // 2, n_draws // 2
    median = np.empty(n_units)
    lower = np.empty(n_units, dtype=np.int64)
    upper = np.empty(n_units, dtype=np.int64)
    mean = np.empty(n_units)
    spread = np.empty(n_units)
    units_per_block = max(1, options.block_elements // n_draws)
    for first in range(0, n_units, units_per_block):
        last = min(n_units, first + units_per_block)
        # units x draws, contiguous per unit; a partial sort finds the four order statistics needed
        block = np.partition(
            np.ascontiguousarray(ranks_by_layout[:, first:last].T),
            sorted({lower_index, upper_index, *middle}),
            axis=1,
        )
        median[first:last] = (block[:, middle[0]].astype(np.float64) + block[:, middle[1]]) / 2.0
        lower[first:last] = block[:, lower_index]
        upper[first:last] = block[:, upper_index]
        mean[first:last] = block.mean(axis=1, dtype=np.float64)
        spread[first:last] = block.std(axis=1, dtype=np.float64, ddof=1)
    unit_index = np.empty_like(layout)
    unit_index[layout] = np.arange(n_units)
    lower_rank, upper_rank = lower[unit_index], upper[unit_index]
    middle_rank = (group_size + 1) / 2.0
    return RankUncertainty(
        median_rank=median[unit_index],
        lower_rank=lower_rank,
        upper_rank=upper_rank,
        mean_rank=mean[unit_index],
        rank_sd=spread[unit_index],
        group_size=group_size.astype(np.int64),
        differs_from_middle=(upper_rank < middle_rank) | (lower_rank > middle_rank),
        n_draws=n_draws,
        level=float(options.level),
    )
