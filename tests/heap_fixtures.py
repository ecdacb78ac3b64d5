"""Heap profiles as the agent answers them (docs/formats.md, "Heap profiles"), built by
hand for the format tests, and a Hypothesis strategy of valid ones."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import strategies as st

MB = 1024 * 1024
T0 = 1_796_649_000.0


def frame(function: str, file: str = "/srv/shop/app.py", line: int = 1) -> dict[str, Any]:
    return {"function": function, "file": file, "line": line}


def stack(
    frames: list[dict[str, Any]],
    inuse: float,
    count: float = 1.0,
    alloc: float | None = None,
    alloc_count: float | None = None,
) -> dict[str, Any]:
    return {
        "frames": frames,
        "inuse_bytes": inuse,
        "inuse_count": count,
        "alloc_bytes": inuse if alloc is None else alloc,
        "alloc_count": count if alloc_count is None else alloc_count,
    }


MAIN = frame("main", "/srv/shop/app.py", 90)
HANDLE = frame("Shop.handle", "/srv/shop/app.py", 42)
LOAD = frame("load_catalog", "/srv/shop/catalog/load.py", 12)
DECODE = frame("JSONDecoder.raw_decode", "/usr/lib/python3.11/json/decoder.py", 353)


def profile(
    stacks: list[dict[str, Any]] | None = None, kind: str = "inuse", **fields: Any
) -> dict[str, Any]:
    """A valid profile; totals are the stacks' sums unless given."""
    if stacks is None:
        stacks = [
            stack([MAIN, HANDLE, LOAD], 6 * MB, 3, alloc=20 * MB, alloc_count=10),
            stack([MAIN, HANDLE, LOAD, DECODE], 3 * MB, 30, alloc=30 * MB, alloc_count=300),
            stack([MAIN], 1 * MB, 1, alloc=1 * MB, alloc_count=1),
            stack([], 512 * 1024, 2, alloc=512 * 1024, alloc_count=2),
        ]
    doc: dict[str, Any] = {
        "format": "memlens.heap",
        "version": 1,
        "kind": kind,
        "sampler": "sampling",
        "interval_bytes": 524288,
        "max_frames": 128,
        "pid": 4242,
        "time": T0 + 60.0,
        "start": T0,
        "since": T0,
        "since_mark": None,
        "inuse_bytes": float(sum(s["inuse_bytes"] for s in stacks)),
        "inuse_count": float(sum(s["inuse_count"] for s in stacks)),
        "alloc_bytes": float(sum(s["alloc_bytes"] for s in stacks)),
        "alloc_count": float(sum(s["alloc_count"] for s in stacks)),
        "samples": 40,
        "stacks": copy.deepcopy(stacks),
        "truncated": 0,
    }
    doc.update(fields)
    return doc


# -- Hypothesis -----------------------------------------------------------------------

names = st.text(st.characters(exclude_categories=["Cs"]), min_size=0, max_size=24)
sizes = st.floats(0, 1e15, allow_nan=False, allow_infinity=False)
signed_sizes = st.floats(-1e15, 1e15, allow_nan=False, allow_infinity=False)
frames = st.builds(
    frame,
    names,
    st.one_of(names, st.sampled_from(["/srv/app.py", "/srv/lib/db.py", "<string>"])),
    st.integers(0, 2**31 - 1),
)


@st.composite
def profiles(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["inuse", "allocated", "growth"]))
    inuse = signed_sizes if kind == "growth" else sizes
    stacks = draw(
        st.lists(
            st.builds(
                stack,
                st.lists(frames, max_size=6),
                inuse,
                inuse,
                sizes,
                sizes,
            ),
            max_size=6,
        )
    )
    return profile(
        stacks,
        kind=kind,
        sampler=draw(st.sampled_from(["sampling", "tracemalloc"])),
        interval_bytes=draw(st.integers(0, 1 << 30)),
        max_frames=draw(st.integers(1, 128)),
        pid=draw(st.integers(1, 2**22)),
        since_mark=draw(st.one_of(st.none(), names.filter(lambda s: 0 < len(s) <= 64))),
        samples=draw(st.integers(0, 10**9)),
        truncated=draw(st.integers(0, 10**6)),
    )
