"""The library faces: memlens used from inside a Python program.

Re-exports only, resolved on first use so that importing one face does not import the
others (the profiler pulls in the store and the analysis; the agent imports none of it).
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from typing import Any

    from memlens.api.compat import MemoryThresholds
    from memlens.api.measure import Measurement, measure, profile
    from memlens.api.profiler import MemoryProfiler, Profiler, mark
    from memlens.api.sampling import SamplingConfig
    from memlens.api.snapshot import MemoryLeak, MemorySnapshot
    from memlens.api.tracker import Tracker, track
    from memlens.api.tracker_types import AllocationHotspot, AnalysisReport, TrackEvent

WHERE = {
    "AllocationHotspot": "memlens.api.tracker_types",
    "AnalysisReport": "memlens.api.tracker_types",
    "SamplingConfig": "memlens.api.sampling",
    "TrackEvent": "memlens.api.tracker_types",
    "Tracker": "memlens.api.tracker",
    "track": "memlens.api.tracker",
    "Measurement": "memlens.api.measure",
    "MemoryLeak": "memlens.api.snapshot",
    "MemorySnapshot": "memlens.api.snapshot",
    "MemoryProfiler": "memlens.api.profiler",
    "MemoryThresholds": "memlens.api.compat",
    "Profiler": "memlens.api.profiler",
    "mark": "memlens.api.profiler",
    "measure": "memlens.api.measure",
    "profile": "memlens.api.measure",
}


def __getattr__(name: str) -> Any:
    module = WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted({*globals(), *WHERE})


__all__ = [
    "AllocationHotspot",
    "AnalysisReport",
    "Measurement",
    "MemoryLeak",
    "MemoryProfiler",
    "MemorySnapshot",
    "MemoryThresholds",
    "Profiler",
    "SamplingConfig",
    "TrackEvent",
    "Tracker",
    "mark",
    "measure",
    "profile",
    "track",
]
