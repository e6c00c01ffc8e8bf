"""Tables for surveillance (filled in by the issue that owns them)."""

from __future__ import annotations

from forewarn.store.models import Base

__all__ = ["Base"]
