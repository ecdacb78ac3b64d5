"""The heap profiler's top stacks in `memlens top`'s Python pane: for each, the heap it
holds now, its growth since the pane first showed the process, and where it was
allocated with its callers shortened to fit the pane.

The stacks come from the agent's `heap.profile` (asked only while the pane shows that
process: memlens.watch.python_poll), through a "python" message's `heap` part
(memlens.analysis.leakstacks.top_stacks). Function names and paths are the profiled
process's own text: every line is passed through `visible` before it is cut to fit.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from memlens.analysis.leakstacks import callers_text, frames_of, stack_text
from memlens.outside.visible import visible
from memlens.units import human_bytes

FIGURES = 22  # columns of "  in use    growth  " before the frame


def stack_lines(heap: Mapping[str, Any] | None, *, limit: int, width: int) -> list[str]:
    """The pane's lines for the top `limit` stacks, each at most `width` columns;
    empty without a profile (the caller says why)."""
    if not heap:
        return []
    stacks = [s for s in heap.get("stacks") or [] if isinstance(s, Mapping)]
    since = heap.get("since")
    grown = float(heap.get("inuse_growth") or 0.0)
    when = (
        f" since {time.strftime('%H:%M:%S', time.localtime(since))}"
        if isinstance(since, int | float)
        else ""
    )
    lines = [
        _fit(
            f"heap {human_bytes(heap.get('inuse_bytes'))} in use, {_signed(grown)}{when} "
            f"({heap.get('sampler') or '?'})",
            width,
        )
    ]
    if not stacks:
        lines.append("  no sampled allocation holds memory yet")
        return lines
    lines.append(_fit("   in use    growth  allocated in < callers", width))
    for stack in stacks[:limit]:
        figures = (
            f"{human_bytes(stack.get('inuse_bytes')):>9} "
            f"{_signed(float(stack.get('growth_bytes') or 0.0)):>9}  "
        )
        where = visible(stack_text(stack))
        room = width - len(figures) - len(where) - 3
        callers = visible(callers_text(frames_of(stack), int(stack.get("depth") or 0), room))
        chain = f" < {callers}" if callers and room > 1 else ""
        lines.append(_fit(figures + where + chain, width))
    return lines


def _signed(value: float) -> str:
    return f"+{human_bytes(value)}" if value >= 0 else f"-{human_bytes(-value)}"


def _fit(line: str, width: int) -> str:
    return line if len(line) <= width else line[: max(0, width - 1)] + "…"
