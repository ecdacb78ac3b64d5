"""Pure functions over series: statistics and leak detection. No I/O."""

from __future__ import annotations

from memlens.analysis.leakmodel import (
    DetectorConfig,
    LeakFinding,
    Severity,
    Verdict,
    severity_for,
)
from memlens.analysis.leaks import OnlineDetector, detect, naive_slope
from memlens.analysis.stats import SeriesSummary, summarize

__all__ = [
    "DetectorConfig",
    "LeakFinding",
    "OnlineDetector",
    "SeriesSummary",
    "Severity",
    "Verdict",
    "detect",
    "naive_slope",
    "severity_for",
    "summarize",
]
