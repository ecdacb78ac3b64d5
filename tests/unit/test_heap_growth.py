"""Growth between two in-use profiles: stacks matched by their frames, signed
differences, sorted by growth; allocations only where both count from one start."""

from __future__ import annotations

from typing import Any

import pytest

from heap_fixtures import DECODE, HANDLE, LOAD, MAIN, MB, T0, profile, stack
from memlens.analysis.heap_growth import heap_growth
from memlens.errors import BadHeapProfile
from memlens.formats.heap_profile import Frame, from_dict

BEFORE = [
    stack([MAIN, HANDLE], 4 * MB, 4, alloc=10 * MB, alloc_count=10),
    stack([MAIN, LOAD], 8 * MB, 8, alloc=8 * MB, alloc_count=8),
    stack([MAIN, DECODE], 1 * MB, 1, alloc=1 * MB, alloc_count=1),
]
AFTER = [
    stack([MAIN, HANDLE], 9 * MB, 9, alloc=30 * MB, alloc_count=30),  # grew 5 MB
    stack([MAIN, LOAD], 2 * MB, 2, alloc=8 * MB, alloc_count=8),  # shrank 6 MB
    stack([MAIN, DECODE], 1 * MB, 1, alloc=1 * MB, alloc_count=1),  # unchanged: left out
    stack([HANDLE], 3 * MB, 3, alloc=3 * MB, alloc_count=3),  # new
]


def key(*frames: dict[str, Any]) -> tuple[Frame, ...]:
    return tuple(Frame(f["function"], f["file"], f["line"]) for f in frames)


def test_signed_growth_by_stack_sorted() -> None:
    before = from_dict(profile(BEFORE))
    after = from_dict(profile(AFTER, time=T0 + 120.0))
    g = heap_growth(before, after)
    assert g.kind == "growth"
    assert [(s.frames, s.inuse_bytes, s.inuse_count) for s in g.stacks] == [
        (key(MAIN, HANDLE), 5 * MB, 5),
        (key(HANDLE), 3 * MB, 3),
        (key(MAIN, LOAD), -6 * MB, -6),
    ]
    assert [s.alloc_bytes for s in g.stacks] == [20 * MB, 3 * MB, 0]
    assert g.inuse_bytes == after.inuse_bytes - before.inuse_bytes == 2 * MB
    assert g.alloc_bytes == 23 * MB
    assert g.since == before.time
    assert g.time == after.time
    assert g.since_mark is None
    assert g.truncated == 0
    # A growth profile is a valid profile.
    assert from_dict(g.to_dict()) == g


def test_a_stack_only_before_shrinks_to_nothing() -> None:
    before = from_dict(profile(BEFORE))
    after = from_dict(profile(AFTER[:1], time=T0 + 120.0))
    g = heap_growth(before, after)
    assert {s.frames: s.inuse_bytes for s in g.stacks} == {
        key(MAIN, HANDLE): 5 * MB,
        key(MAIN, LOAD): -8 * MB,
        key(MAIN, DECODE): -1 * MB,
    }


def test_allocations_are_unknown_across_windows() -> None:
    before = from_dict(profile(BEFORE))
    after = from_dict(profile(AFTER, time=T0 + 120.0, since=T0 + 100.0, since_mark="m"))
    g = heap_growth(before, after)
    assert all(s.alloc_bytes == 0 and s.alloc_count == 0 for s in g.stacks)
    assert g.alloc_bytes == 0
    assert g.stacks[0].inuse_bytes == 5 * MB


def test_limit_counts_what_it_leaves_out() -> None:
    g = heap_growth(from_dict(profile(BEFORE)), from_dict(profile(AFTER, time=T0 + 120.0)), limit=1)
    assert [s.frames for s in g.stacks] == [key(MAIN, HANDLE)]
    assert g.truncated == 2


def test_same_result_whatever_the_order_of_the_stacks() -> None:
    before = from_dict(profile(BEFORE))
    a = heap_growth(before, from_dict(profile(AFTER, time=T0 + 120.0)))
    b = heap_growth(before, from_dict(profile(AFTER[::-1], time=T0 + 120.0)))
    assert a == b


@pytest.mark.parametrize(
    ("before", "after", "message"),
    [
        (profile(BEFORE), profile(AFTER, pid=1), "two processes"),
        (profile(BEFORE, kind="allocated"), profile(AFTER), "not allocated and inuse"),
        (profile(BEFORE, time=T0 + 200.0), profile(AFTER), "taken before the first"),
    ],
)
def test_refuses_profiles_it_cannot_subtract(
    before: dict[str, object], after: dict[str, object], message: str
) -> None:
    with pytest.raises(BadHeapProfile, match=message):
        heap_growth(from_dict(before), from_dict(after))
