"""memlens: a real-time memory profiler."""

from __future__ import annotations

from memlens._version import __version__

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from typing import Any

    from memlens.api.compat import MemoryThresholds
    from memlens.api.measure import measure, profile
    from memlens.api.profiler import MemoryProfiler, Profiler, mark
    from memlens.api.sampling import SamplingConfig
    from memlens.api.snapshot import MemoryLeak, MemorySnapshot
    from memlens.api.tracker import Tracker, track
    from memlens.api.tracker_types import AllocationHotspot, AnalysisReport


# The library's names, imported on first use from `memlens.api` (which holds the one
# table of where each lives): `import memlens` stays as cheap as the agent, which
# imports nothing else of memlens at start-up, needs it to be.


def __getattr__(name: str) -> Any:
    if name == "heap":  # a module: `memlens.heap.start()` after a bare `import memlens`
        import importlib

        return importlib.import_module("memlens.heap")
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    from memlens.api import WHERE  # not getattr(api, name): `api.measure` is a module too

    value = getattr(importlib.import_module(WHERE[name]), name)
    globals()[name] = value  # once: `memlens.track(x)` in a hot loop must not pay again
    return value


def load_ipython_extension(ipython: Any) -> None:
    """`%load_ext memlens`: the %%memlens and %memlens_watch magics (memlens.api.notebook)."""
    from memlens.api.notebook import load

    load(ipython)


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "AllocationHotspot",
    "AnalysisReport",
    "MemoryLeak",
    "MemoryProfiler",
    "MemorySnapshot",
    "MemoryThresholds",
    "Profiler",
    "SamplingConfig",
    "Tracker",
    "__version__",
    "mark",
    "measure",
    "profile",
    "track",
]
