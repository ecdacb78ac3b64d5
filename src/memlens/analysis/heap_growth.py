"""Growth between two in-use heap profiles of one process: what a viewer can compute
itself from two `heap.profile` answers, without a mark in the agent.

Stacks are matched by their frames (function, file and line of each, root first). The
result is a profile of kind `growth`: inuse_* are after minus before, signed (a stack
seen only before shrank to nothing); alloc_* are what was allocated between the two
when both count from the same start (the same profiler run and window), else 0 (not
known). A stack either profile left out by its limit counts there as 0, so growth
from truncated profiles is approximate at the tail. Pure functions: no I/O.
"""

from __future__ import annotations

from dataclasses import replace

from memlens.errors import BadHeapProfile
from memlens.model import Frame, HeapProfile, Stack, sorted_stacks

StackKey = tuple[Frame, ...]


def heap_growth(before: HeapProfile, after: HeapProfile, limit: int | None = None) -> HeapProfile:
    """The growth from `before` to `after` (both kind inuse, of the same process, in
    that order), its stacks by growth descending; stacks that did not change at all are
    left out, and past `limit` counted in `truncated`."""
    _check(before, after)
    same_window = before.since == after.since and before.start == after.start
    old = _by_key(before.stacks)
    new = _by_key(after.stacks)
    stacks = []
    for key in new.keys() | old.keys():
        a, b = new.get(key), old.get(key)
        stack = Stack(
            frames=key,
            inuse_bytes=_get(a, "inuse_bytes") - _get(b, "inuse_bytes"),
            inuse_count=_get(a, "inuse_count") - _get(b, "inuse_count"),
            alloc_bytes=_allocated(a, b, "alloc_bytes") if same_window else 0.0,
            alloc_count=_allocated(a, b, "alloc_count") if same_window else 0.0,
        )
        if stack.inuse_bytes or stack.inuse_count or stack.alloc_bytes or stack.alloc_count:
            stacks.append(stack)
    # Sorted with ties broken by the frames, so that the result does not depend on the
    # order of a set.
    stacks.sort(key=_frames_order)
    ranked = sorted_stacks(stacks, "growth")
    kept = ranked if limit is None else ranked[: max(0, limit)]
    return replace(
        after,
        kind="growth",
        since=before.time,
        since_mark=None,
        inuse_bytes=after.inuse_bytes - before.inuse_bytes,
        inuse_count=after.inuse_count - before.inuse_count,
        alloc_bytes=max(0.0, after.alloc_bytes - before.alloc_bytes) if same_window else 0.0,
        alloc_count=max(0.0, after.alloc_count - before.alloc_count) if same_window else 0.0,
        stacks=kept,
        truncated=len(ranked) - len(kept),
    )


def _check(before: HeapProfile, after: HeapProfile) -> None:
    if before.kind != "inuse" or after.kind != "inuse":
        raise BadHeapProfile(
            f"growth is computed between two inuse profiles, not {before.kind} and {after.kind}"
        )
    if before.pid != after.pid:
        raise BadHeapProfile(
            f"the profiles are of two processes (PID {before.pid} and {after.pid}), not one"
        )
    if after.time < before.time:
        raise BadHeapProfile("the second profile was taken before the first")


def _by_key(stacks: tuple[Stack, ...]) -> dict[StackKey, Stack]:
    """Stacks by frames; two with the same frames (which a profile should not hold) are
    summed rather than one hiding the other."""
    found: dict[StackKey, Stack] = {}
    for stack in stacks:
        had = found.get(stack.frames)
        found[stack.frames] = (
            stack
            if had is None
            else Stack(
                stack.frames,
                had.inuse_bytes + stack.inuse_bytes,
                had.inuse_count + stack.inuse_count,
                had.alloc_bytes + stack.alloc_bytes,
                had.alloc_count + stack.alloc_count,
            )
        )
    return found


def _get(stack: Stack | None, name: str) -> float:
    return 0.0 if stack is None else float(getattr(stack, name))


def _allocated(after: Stack | None, before: Stack | None, name: str) -> float:
    """Allocations in between: counts only grow, so a drop means the stack was left out
    of one profile; never negative."""
    return max(0.0, _get(after, name) - _get(before, name))


def _frames_order(stack: Stack) -> tuple[tuple[str, str, int], ...]:
    return tuple((f.function, f.file, f.line) for f in stack.frames)
