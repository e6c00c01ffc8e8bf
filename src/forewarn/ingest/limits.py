"""How much of a file an import will read: sizes, rows, cell lengths, workbook inflation and the date horizon.

The values come from settings (``FOREWARN_IMPORT_MAX_*``, docs/settings.md) through :meth:`Limits.from_settings`,
called by the entry points; the class's own defaults are the settings' defaults; tests build their own.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from forewarn.settings import Settings

MIB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Limits on one import. ``today`` is the day the future horizon counts from (tests fix it)."""

    max_file_bytes: int = 200 * MIB
    max_rows: int = 5_000_000
    max_field_chars: int = 10_000
    max_line_bytes: int = 1024 * 1024
    max_inflated_bytes: int = 256 * MIB
    max_future_days: int = 366
    today: dt.date = field(default_factory=dt.date.today)

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(
            max_file_bytes=int(settings.import_max_file_mb * MIB),
            max_rows=settings.import_max_rows,
            max_field_chars=settings.import_max_field_chars,
            max_line_bytes=settings.import_max_line_kb * 1024,
            max_inflated_bytes=int(settings.import_max_inflated_mb * MIB),
            max_future_days=settings.import_max_future_days,
        )

    @property
    def horizon(self) -> dt.date:
        """The last start date accepted for a period or an event."""
        return self.today + dt.timedelta(days=self.max_future_days)


def megabytes(n: int) -> str:
    """A size in bytes for a message: ``200 MB``, ``1.5 MB``, ``56 KB``.

    >>> megabytes(200 * MIB), megabytes(3 * MIB // 2), megabytes(56 * 1024)
    ('200 MB', '1.5 MB', '56 KB')
    """
    if n < MIB:
        return f"{n / 1024:.0f} KB"
    value = n / MIB
    return f"{value:.0f} MB" if value >= 10 or value == int(value) else f"{value:.1f} MB"
