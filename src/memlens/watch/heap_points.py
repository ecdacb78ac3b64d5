"""In-use heap profiles kept compact, and the stacks that grew between two of them.

A live watch keeps a few profiles per process (memlens.watch.heap_history), so each is
cut (`compact`): its largest stacks by heap in use, each to its innermost frames (stacks
that become the same are added together). When a leak alert is raised, `pair` picks the
profiles nearest the ends of the leak's window and `grown_stacks` names the stacks that
grew between them, through memlens.analysis.heap_growth, as the alert's `heap_growth`
field (docs/protocol.md). `top_stacks` is what `memlens top` shows of one profile.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from memlens.analysis.heap_growth import heap_growth
from memlens.errors import BadHeapProfile
from memlens.formats.heap_profile import from_dict
from memlens.model import Frame, HeapProfile, Stack, sorted_stacks

STACKS_KEPT = 300  # stacks a compact profile keeps, the largest in use
FRAMES_KEPT = 16  # innermost frames kept of each stack
ALERT_STACKS = 8  # stacks an alert names
VIEW_STACKS = 20  # stacks `memlens top` is sent

Frames = tuple[Frame, ...]


@dataclass(frozen=True, slots=True)
class HeapPoint:
    """One in-use profile, compacted. `t` is when the viewer received it (its own
    clock, the leak detector's). `floor` is the heap in use of the smallest stack kept
    when some were left out (0 when none were): a stack missing from the profile held
    at most that much. `depth` is each kept stack's frame count before it was cut."""

    t: float
    profile: HeapProfile
    depth: Mapping[Frames, int]
    floor: float

    @property
    def start(self) -> float:
        return self.profile.start


def compact(
    answer: Mapping[str, Any] | HeapProfile,
    t: float,
    *,
    stacks: int = STACKS_KEPT,
    frames: int = FRAMES_KEPT,
) -> HeapPoint:
    """The `stacks` largest stacks of an in-use profile by heap in use, each cut to its
    innermost `frames` frames. BadHeapProfile when it is not a valid in-use profile."""
    profile = answer if isinstance(answer, HeapProfile) else from_dict(answer, "the heap profile")
    if profile.kind != "inuse":
        raise BadHeapProfile(f"an in-use profile was expected, not {profile.kind}")
    ranked = sorted_stacks(profile.stacks, "inuse")
    merged: dict[Frames, Stack] = {}
    depth: dict[Frames, int] = {}
    for stack in ranked[:stacks]:
        key = stack.frames[-frames:] if frames else ()
        had = merged.get(key)
        merged[key] = (
            dataclasses.replace(stack, frames=key) if had is None else _sum(key, had, stack)
        )
        depth[key] = max(depth.get(key, 0), len(stack.frames))
    left_out = len(ranked) > stacks or profile.truncated > 0
    floor = ranked[min(stacks, len(ranked)) - 1].inuse_bytes if ranked and left_out else 0.0
    kept = dataclasses.replace(
        profile,
        stacks=sorted_stacks(merged.values(), "inuse"),
        truncated=profile.truncated + max(0, len(ranked) - stacks),
    )
    return HeapPoint(t=t, profile=kept, depth=depth, floor=max(0.0, floor))


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
    """The stacks whose heap in use grew from `before` to `after`, most first, as the
    alert's `heap_growth`. A stack absent from `before` counts from 0: when `before` left
    stacks out, a growth may be overstated by up to `before.floor`, which the field
    reports as `uncertainty_bytes`. BadHeapProfile when the two cannot be compared."""
    growth = heap_growth(before.profile, after.profile)
    now = {s.frames: s.inuse_bytes for s in after.profile.stacks}
    grown = [s for s in growth.stacks if s.inuse_bytes > 0][:limit]
    return {
        "from": before.t,
        "to": after.t,
        "sampler": after.profile.sampler,
        "interval_bytes": after.profile.interval_bytes,
        "inuse_growth": growth.inuse_bytes,
        "uncertainty_bytes": before.floor,
        "stacks": [
            _entry(s.frames, s.inuse_bytes, now.get(s.frames, 0.0), after.depth) for s in grown
        ],
    }


def top_stacks(base: HeapPoint, now: HeapPoint, *, limit: int = VIEW_STACKS) -> dict[str, Any]:
    """The stacks holding the most heap in use `now` (none that holds none: what was
    allocated and freed), each with its growth since `base`
    (an earlier profile of the same run; else the growth is counted from `now`, 0): what
    `memlens top` shows, the `heap` part of a "python" message (docs/protocol.md)."""
    same_run = base.start == now.start and base.t <= now.t and base.profile.pid == now.profile.pid
    grown: dict[Frames, float] = {}
    total = 0.0
    if same_run and base is not now:
        try:
            growth = heap_growth(base.profile, now.profile)
        except BadHeapProfile:  # the agent's clock went back: count from now
            same_run = False
        else:
            grown = {s.frames: s.inuse_bytes for s in growth.stacks}
            total = growth.inuse_bytes
    return {
        "since": base.t if same_run else now.t,
        "time": now.t,
        "sampler": now.profile.sampler,
        "interval_bytes": now.profile.interval_bytes,
        "inuse_bytes": now.profile.inuse_bytes,
        "inuse_growth": total,
        "stacks": [
            _entry(s.frames, grown.get(s.frames, 0.0), s.inuse_bytes, now.depth)
            for s in [s for s in now.profile.stacks if s.inuse_bytes > 0][:limit]
        ],
    }


def _entry(
    frames: Frames, grown: float, inuse: float, depth: Mapping[Frames, int]
) -> dict[str, Any]:
    top = frames[-1] if frames else None
    return {
        "function": None if top is None else top.function,
        "file": None if top is None else top.file,
        "line": None if top is None else top.line,
        "frames": [{"function": f.function, "file": f.file, "line": f.line} for f in frames],
        "depth": max(depth.get(frames, 0), len(frames)),
        "growth_bytes": grown,
        "inuse_bytes": inuse,
    }


def _sum(frames: Frames, a: Stack, b: Stack) -> Stack:
    return Stack(
        frames,
        a.inuse_bytes + b.inuse_bytes,
        a.inuse_count + b.inuse_count,
        a.alloc_bytes + b.alloc_bytes,
        a.alloc_count + b.alloc_count,
    )
