"""Which direction of change is an improvement: the one word the SPC rules and the domain's polarity share.

A module of its own, without NumPy, because the store's enum (:class:`forewarn.domain.Polarity`) is imported by
every command, including the light ones that must start without the statistics (tests/cli/test_cli_startup.py).
"""

from __future__ import annotations

from typing import Literal

Improvement = Literal["increase", "decrease", "neutral"]
"""``increase`` when higher is better, ``decrease`` when lower is better, ``neutral`` when neither."""

__all__ = ["Improvement"]
