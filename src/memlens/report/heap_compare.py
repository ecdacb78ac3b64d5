"""The stacks whose heap in use changed most between two runs, for `memlens diff`: each
run's last kept heap profile (memlens.watch.heap_keep) of its main target, compared
stack by stack.

Stacks are matched by their frames' functions and files, lines left out: the "after" run
is usually the "before" run's code edited, and an edit above a leak moves its lines. Two
stacks of one run that differ only in lines are added together. Sizes are the sampling
profiler's estimates of bytes in use, in bytes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from memlens.formats.heap_profile import load_json
from memlens.model import Frame, HeapProfile, sorted_stacks
from memlens.report.model import HeapTop
from memlens.store import StoreReader

STACKS = 10  # stacks listed, the largest changes first (or the largest, in a report)
Key = tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class KeptProfile:
    """A run's profile compared: which target, when, and the profile."""

    key: str
    t: float
    profile: HeapProfile

    def to_dict(self) -> dict[str, Any]:
        p = self.profile
        return {
            "target_key": self.key,
            "t": self.t,
            "pid": p.pid,
            "inuse_bytes": p.inuse_bytes,
            "stacks": len(p.stacks),
        }


@dataclass(frozen=True)
class StackChange:
    frames: tuple[Frame, ...]  # root first, the allocating frame last (B's lines, else A's)
    a: float  # bytes in use in A's profile
    b: float

    @property
    def change(self) -> float:
        return self.b - self.a

    def to_dict(self) -> dict[str, Any]:
        return {
            "frames": [
                {"function": f.function, "file": f.file, "line": f.line} for f in self.frames
            ],
            "a": self.a,
            "b": self.b,
            "change": self.change,
        }


def last_profile(reader: StoreReader, recording_id: int, main: str | None) -> KeptProfile | None:
    """The last profile kept of the run's main target; where it has none (the process
    tree's sum of `memlens run`), the last of the target whose last profile holds most."""
    rows = reader.heap_profiles(recording_id)
    if not rows:
        return None
    last = {row.key: row for row in rows}  # rows come oldest first per target
    row = last.get(main or "") or max(last.values(), key=lambda r: r.inuse_bytes)
    data = reader.heap_profile_json(recording_id, row.key, row.t)
    if data is None:
        return None
    return KeptProfile(row.key, row.t, load_json(data, f"{reader.path}: a heap profile"))


def heap_top(kept: KeptProfile, name: str, limit: int = STACKS) -> HeapTop:
    """The `limit` largest stacks of a kept profile by bytes in use, for the report."""
    p = kept.profile
    top = sorted_stacks(p.stacks, "inuse")[:limit]
    return HeapTop(
        target_key=kept.key,
        name=name,
        t=kept.t,
        pid=p.pid,
        inuse_bytes=p.inuse_bytes,
        stacks=tuple((s.frames, s.inuse_bytes) for s in top if s.inuse_bytes > 0),
    )


def stack_changes(a: HeapProfile, b: HeapProfile, limit: int = STACKS) -> list[StackChange]:
    """The `limit` stacks whose heap in use changed most from A to B, by size of change."""
    in_a, frames_a = _by_stack(a)
    in_b, frames_b = _by_stack(b)
    changes = [
        StackChange(frames_b.get(k) or frames_a[k], in_a.get(k, 0.0), in_b.get(k, 0.0))
        for k in in_a.keys() | in_b.keys()
    ]
    changes = [c for c in changes if c.change != 0]
    changes.sort(key=lambda c: (-abs(c.change), _label(c.frames)))
    return changes[:limit]


def _by_stack(profile: HeapProfile) -> tuple[dict[Key, float], dict[Key, tuple[Frame, ...]]]:
    sizes: dict[Key, float] = {}
    frames: dict[Key, tuple[Frame, ...]] = {}
    for stack in profile.stacks:
        key = tuple((f.function, f.file) for f in stack.frames)
        sizes[key] = sizes.get(key, 0.0) + stack.inuse_bytes
        frames.setdefault(key, stack.frames)
    return sizes, frames


def frame_text(frame: Frame) -> str:
    """'f (app.py:12)': the function, and its file's last part and line."""
    where = os.path.basename(frame.file) or frame.file
    return f"{frame.function} ({where}:{frame.line})" if where else frame.function


def _label(frames: tuple[Frame, ...]) -> str:
    return " ← ".join(frame_text(f) for f in reversed(frames))


def stack_label(frames: tuple[Frame, ...], width: int = 120) -> str:
    """The allocating frame first, then its callers, cut to `width` characters."""
    text = _label(frames) or "[no frames]"
    return text if len(text) <= width else text[: width - 1] + "…"
