"""Disclosure control: the rules every survey output goes through, in one place.

1. A cell (an organisation, or an organisation x dimension) with fewer respondents than the minimum group size is
   suppressed: its values are None, it is flagged ``suppressed``, and its n is shown only as ``"<5"``.
2. A suppressed cell's answers never enter any figure that is published, pooled ones included. Every published
   number is therefore a function of published cells alone, so adding and subtracting published numbers (from
   overlapping selections of organisations, or a selection and the whole wave) can only ever give figures for
   unions of published cells, each of at least the minimum size: a suppressed group cannot be rebuilt.
3. A breakdown of a group (or a filter on it) is published only if every cell and every complement cell (the
   group's total minus the cell) is empty or at least the minimum size; otherwise the whole query is refused,
   because the group's published total minus the cell would reveal the rest.
4. Results are published only for closed waves. An open wave's figures would change as answers arrive, and two
   releases a few answers apart differ by exactly those answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from forewarn.surveys.errors import DisclosureRefusedError


@dataclass(frozen=True)
class DisclosureControl:
    """The suppression rules for one minimum group size."""

    min_group_size: int

    def __post_init__(self) -> None:
        if self.min_group_size < 2:
            raise ValueError(f"min_group_size must be at least 2, not {self.min_group_size}")

    def publishable(self, n: int) -> bool:
        """Whether a group of ``n`` respondents may be shown."""
        return n >= self.min_group_size

    def shown_n(self, n: int) -> int | str:
        """``n`` itself for a publishable group, else ``"<m"`` (an empty group too: one rule, one look)."""
        return n if self.publishable(n) else f"<{self.min_group_size}"

    def check_breakdown(self, cells: Mapping[str, int], what: str = "group") -> None:
        """Refuse a breakdown of a group into ``cells`` unless every cell and every complement is 0 or >= minimum.

        Raises :class:`DisclosureRefusedError` naming the offending cells (never their counts).
        """
        total = sum(cells.values())
        small = [name for name, n in cells.items() if 0 < n < self.min_group_size]
        small_rest = [name for name, n in cells.items() if 0 < total - n < self.min_group_size]
        if small or small_rest:
            reasons = []
            if small:
                reasons.append(f"fewer than {self.min_group_size} respondents in {', '.join(small)}")
            if small_rest:
                reasons.append(
                    f"fewer than {self.min_group_size} respondents outside {', '.join(small_rest)}, "
                    f"which the {what}'s total minus this figure would reveal"
                )
            raise DisclosureRefusedError(f"breakdown of the {what} refused: {'; '.join(reasons)}")

    def check_filter(self, kept: int, total: int, what: str) -> None:
        """Refuse a filter keeping ``kept`` of ``total`` respondents unless both parts are 0 or >= minimum."""
        self.check_breakdown({"the filtered respondents": kept, "the others": total - kept}, what)
