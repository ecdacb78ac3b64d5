"""Which stacks a leak grew in: two in-use heap profiles of one process (docs/heap.md's
profile), compared over a leak's window.

A live watch keeps a few compact profiles per process (`compact`: the top stacks only,
each cut to its innermost frames, so many fit in little memory), and when a leak alert
is raised `grown_stacks` compares the one nearest the leak's onset with the one nearest
the alert. What it returns is plain JSON, the alert's `heap_growth` field
(docs/protocol.md), and the words here say it the same way wherever it is shown.

Frames are text from the profiled process: they are kept as they came (bounded in
length) and made safe only where shown (`memlens.outside.visible`, HTML escaping).
Pure: no I/O, no clock.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# One frame as (function, file, line); a stack runs root first, the allocating frame last.
Frame = tuple[str, str, int]
Stack = tuple[Frame, ...]

STACKS_KEPT = 300  # stacks a compact profile keeps, the largest in use
FRAMES_KEPT = 16  # innermost frames kept of each stack
ALERT_STACKS = 8  # stacks an alert names
MAX_NAME = 200  # characters kept of a function's name
MAX_PATH = 400  # characters kept of a file's path
NO_FRAME = "[no Python frame]"


@dataclass(frozen=True, slots=True)
class HeapPoint:
    """One in-use profile, compacted. `t` is when the viewer received it (its own
    clock, the leak detector's); `start` when the profiler started, so that profiles
    of two runs of the profiler are never compared. `floor` is the in-use bytes of the
    smallest stack kept when some were left out (0 when none were): a stack missing
    from the profile held at most that much."""

    t: float
    start: float | None
    sampler: str
    interval_bytes: int
    inuse_bytes: float
    stacks: Mapping[Stack, float]
    depth: Mapping[Stack, int]  # each stack's frame count before it was cut
    floor: float


def compact(
    profile: Mapping[str, Any],
    t: float,
    *,
    stacks: int = STACKS_KEPT,
    frames: int = FRAMES_KEPT,
) -> HeapPoint:
    """The top `stacks` stacks of an in-use profile by in-use bytes, each cut to its
    innermost `frames` frames (stacks that become the same are added together)."""
    listed = sorted(profile.get("stacks") or (), key=lambda s: -_bytes(s.get("inuse_bytes")))
    kept: dict[Stack, float] = {}
    depth: dict[Stack, int] = {}
    for entry in listed[:stacks]:
        raw = entry.get("frames") or ()
        key = tuple(_frame(f) for f in raw[-frames:] if isinstance(f, Mapping))
        kept[key] = kept.get(key, 0.0) + _bytes(entry.get("inuse_bytes"))
        depth[key] = max(depth.get(key, 0), len(raw))
    left_out = len(listed) > stacks or int(profile.get("truncated") or 0) > 0
    floor = _bytes(listed[min(stacks, len(listed)) - 1].get("inuse_bytes")) if listed else 0.0
    start = profile.get("start")
    return HeapPoint(
        t=t,
        start=float(start) if isinstance(start, int | float) else None,
        sampler=str(profile.get("sampler") or ""),
        interval_bytes=int(profile.get("interval_bytes") or 0),
        inuse_bytes=_bytes(profile.get("inuse_bytes")),
        stacks=kept,
        depth=depth,
        floor=floor if left_out else 0.0,
    )


def pair(points: Sequence[HeapPoint], t0: float, t1: float) -> tuple[HeapPoint, HeapPoint] | None:
    """The profiles to compare over [t0, t1]: the one nearest t1, and the one nearest t0
    among the earlier profiles of the same run of the profiler; None without two."""
    if not points:
        return None
    after = min(points, key=lambda p: abs(p.t - t1))
    earlier = [p for p in points if p.t < after.t and p.start == after.start]
    if not earlier:
        return None
    before = min(earlier, key=lambda p: abs(p.t - t0))
    return before, after


def grown_stacks(
    before: HeapPoint, after: HeapPoint, *, limit: int = ALERT_STACKS
) -> dict[str, Any]:
    """The stacks whose in-use bytes grew from `before` to `after`, most first, as the
    alert's `heap_growth` (docs/protocol.md). A stack absent from `before` counts from 0:
    when `before` left stacks out, its growth may be overstated by up to `before.floor`,
    which the field reports as `uncertainty_bytes`."""
    grown: list[tuple[float, Stack]] = []
    for stack, now in after.stacks.items():
        delta = now - before.stacks.get(stack, 0.0)
        if delta > 0:
            grown.append((delta, stack))
    grown.sort(key=lambda item: (-item[0], item[1]))
    return {
        "from": before.t,
        "to": after.t,
        "sampler": after.sampler,
        "interval_bytes": after.interval_bytes,
        "inuse_growth": after.inuse_bytes - before.inuse_bytes,
        "uncertainty_bytes": before.floor,
        "stacks": [
            _stack_entry(stack, delta, after.stacks[stack], after.depth.get(stack, len(stack)))
            for delta, stack in grown[:limit]
        ],
    }


def _stack_entry(stack: Stack, grown: float, inuse: float, depth: int) -> dict[str, Any]:
    top = stack[-1] if stack else None
    return {
        "function": None if top is None else top[0],
        "file": None if top is None else top[1],
        "line": None if top is None else top[2],
        "frames": [{"function": f, "file": p, "line": n} for f, p, n in stack],
        "depth": max(depth, len(stack)),
        "growth_bytes": grown,
        "inuse_bytes": inuse,
    }


def top_stacks(base: HeapPoint, now: HeapPoint, *, limit: int = 20) -> dict[str, Any]:
    """The stacks holding the most heap in use `now`, each with its growth since `base`
    (an earlier profile of the same run, else counted from nothing): what `memlens top`
    shows, as the `heap` part of a "python" message (docs/protocol.md)."""
    same_run = base.start == now.start and base.t <= now.t
    ranked = sorted(now.stacks.items(), key=lambda item: (-item[1], item[0]))[:limit]
    return {
        "since": base.t if same_run else now.t,
        "time": now.t,
        "sampler": now.sampler,
        "interval_bytes": now.interval_bytes,
        "inuse_bytes": now.inuse_bytes,
        "inuse_growth": now.inuse_bytes - base.inuse_bytes if same_run else 0.0,
        "stacks": [
            _stack_entry(
                stack,
                inuse - base.stacks.get(stack, 0.0) if same_run else 0.0,
                inuse,
                now.depth.get(stack, len(stack)),
            )
            for stack, inuse in ranked
        ],
    }


# -- words --------------------------------------------------------------------------


def short_path(path: str) -> str:
    """The last two parts of a path: enough to find the file, short enough to fit."""
    return "/".join(path.replace("\\", "/").split("/")[-2:])


def frame_text(function: object, file: object, line: object) -> str:
    """'grow (app/leaky.py:12)', or '[no Python frame]'. Raw text: the caller makes it
    safe for where it is shown."""
    if function is None and file is None:
        return NO_FRAME
    return f"{function or '?'} ({short_path(str(file or '?'))}:{line if line is not None else '?'})"


def stack_text(entry: Mapping[str, Any]) -> str:
    """The allocating frame of one of `heap_growth`'s stacks."""
    return frame_text(entry.get("function"), entry.get("file"), entry.get("line"))


def frames_of(entry: Mapping[str, Any]) -> Stack:
    """The frames of one of `heap_growth`'s stacks (or a profile's) as tuples."""
    raw = entry.get("frames")
    return tuple(
        _frame(f) for f in (raw if isinstance(raw, list) else []) if isinstance(f, Mapping)
    )


def callers_text(frames: Sequence[Frame], depth: int, width: int) -> str:
    """The callers of the allocating frame (the last), nearest first, joined by ' < '
    and cut to about `width` characters ('…' where cut, or where the stack was deeper
    than its frames kept): 'handle < serve < main'."""
    names = [function for function, _, _ in reversed(frames[:-1])]
    if depth > len(frames):
        names.append("…")
    out = ""
    for name in names:
        piece = name if not out else f"{out} < {name}"
        if len(piece) > width:
            return f"{out} < …" if out else "…"
        out = piece
    return out


def _frame(raw: Mapping[str, Any]) -> Frame:
    line = raw.get("line")
    return (
        str(raw.get("function") or "?")[:MAX_NAME],
        str(raw.get("file") or "?")[:MAX_PATH],
        line if isinstance(line, int) and not isinstance(line, bool) else 0,
    )


def _bytes(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return 0.0
    return float(value)
