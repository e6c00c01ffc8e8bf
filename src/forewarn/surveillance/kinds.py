"""Which indicator kinds each method reads: counts (numerator and denominator, or observed and expected) or
estimates published with a standard error. Written once for the funnel, the CUSUM and the ranks."""

from __future__ import annotations

COUNT_KINDS = ("proportion", "rate", "ratio_oe")
ESTIMATE_KINDS = ("mean", "count")
