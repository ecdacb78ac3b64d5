"""Pure functions over series: statistics, and later leak detection and reports. No I/O."""

from __future__ import annotations

from memlens.analysis.stats import SeriesSummary, summarize

__all__ = ["SeriesSummary", "summarize"]
