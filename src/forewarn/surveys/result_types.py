"""What survey results are: the frozen shapes the command line, the API and the pages all read.

:mod:`forewarn.surveys.results` computes them; nothing here computes or reads the store.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import cached_property


@dataclass(frozen=True)
class CellResult:
    """One group (organisation) on one dimension. When ``suppressed``, every value is None and ``n`` is "<m"."""

    group: str
    dimension: str
    suppressed: bool
    n: int | str
    mean: float | None = None
    sd: float | None = None
    ci_lower: float | None = None
    ci_upper: float | None = None
    rwg_j: dict[str, float | None] | None = None
    awg: float | None = None
    verdict: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class ItemResult:
    """One item, over every respondent in a published cell of its dimension (after reverse-keying)."""

    item: str
    n: int
    mean: float | None
    sd: float | None
    item_total_r: float | None
    alpha_if_deleted: float | None
    reverse_keyed: bool


@dataclass(frozen=True)
class DimensionResult:
    """A dimension's reliability and between-group statistics, over the published cells only."""

    dimension: str
    name: str
    groups_shown: int
    groups_suppressed: int
    respondents: int
    alpha: float | None
    alpha_ci_lower: float | None
    alpha_ci_upper: float | None
    omega: float | None
    icc1: float | None
    icc2: float | None
    items: tuple[ItemResult, ...]


@dataclass(frozen=True)
class GroupAnalysis:
    """Everything publishable about a set of groups: cells, dimensions and the rule that was applied."""

    min_group_size: int
    n_resamples: int
    null_names: tuple[str, ...]
    cells: tuple[CellResult, ...]
    dimensions: tuple[DimensionResult, ...]

    @cached_property
    def _cell_index(self) -> dict[tuple[str, str], CellResult]:
        return {(c.group, c.dimension): c for c in self.cells}

    def cell(self, group: str, dimension: str) -> CellResult:
        """The cell of one group on one dimension (KeyError if there is none)."""
        return self._cell_index[(group, dimension)]

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


# -- waves --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChangeResult:
    """One organisation's change on one dimension between two waves (Welch's t on the two groups of respondents)."""

    group: str
    dimension: str
    suppressed: bool
    n_before: int | str | None = None
    n_after: int | str | None = None
    mean_before: float | None = None
    mean_after: float | None = None
    difference: float | None = None
    ci_lower: float | None = None
    ci_upper: float | None = None
    t: float | None = None
    df: float | None = None
    p_value: float | None = None
    changed: bool | None = None


@dataclass(frozen=True)
class WaveResults:
    """A closed wave's results, and optionally its change since an earlier closed wave."""

    wave: dict[str, object]
    instrument: str
    instrument_checksum: str
    analysis: GroupAnalysis
    compared_with: str | None = None
    changes: tuple[ChangeResult, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


# -- pooled selections --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PooledDimension:
    dimension: str
    n: int | str
    suppressed: bool
    mean: float | None
    sd: float | None
    ci_lower: float | None
    ci_upper: float | None


@dataclass(frozen=True)
class PooledSummary:
    """A selection of a wave's organisations pooled, per dimension, over their published cells."""

    wave: str
    organisations: tuple[str, ...]
    source: str | None
    dimensions: tuple[PooledDimension, ...]

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class WaveProgress:
    """An open (or any) wave's response counts per organisation, small counts shown as "<m"."""

    wave: dict[str, object]
    responses: dict[str, int | str]

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


__all__ = [
    "CellResult",
    "ChangeResult",
    "DimensionResult",
    "GroupAnalysis",
    "ItemResult",
    "PooledDimension",
    "PooledSummary",
    "WaveProgress",
    "WaveResults",
]
