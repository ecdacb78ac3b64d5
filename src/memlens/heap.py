"""`import memlens.heap`: the sampling heap profiler's library face, which lives in
`memlens.api.heap` (see there, and docs/heap.md)."""

from __future__ import annotations

from memlens.api.heap import *  # noqa: F403
from memlens.api.heap import __all__ as __all__  # noqa: PLC0414  (re-exported)
