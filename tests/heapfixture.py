"""Heap profiles in the shared JSON shape ("memlens.heap", docs/heap.md), built by hand
for tests of the pages that draw them: known functions holding known bytes."""

from __future__ import annotations

import random
from typing import Any

APP = "/srv/app/service.py"
CACHE = "/srv/app/cache.py"
T0 = 1_796_650_000.0


def frame(function: str, file: str = APP, line: int = 10) -> dict[str, Any]:
    return {"function": function, "file": file, "line": line}


def stack(frames: list[dict[str, Any]], inuse: float, alloc: float = 0.0) -> dict[str, Any]:
    return {
        "frames": frames,
        "inuse_bytes": float(inuse),
        "inuse_count": max(1.0, abs(inuse) // 1000),
        "alloc_bytes": float(alloc),
        "alloc_count": max(0.0, alloc // 1000),
    }


def profile(
    stacks: list[dict[str, Any]],
    *,
    kind: str = "inuse",
    sampler: str = "tracemalloc",
    truncated: int = 0,
    extra_inuse: float = 0.0,
    since_mark: str | None = None,
) -> dict[str, Any]:
    """A profile of `stacks`; its totals are their sums plus `extra_inuse` held by the
    `truncated` stacks left out."""
    key = "alloc_bytes" if kind == "allocated" else "inuse_bytes"
    ordered = sorted(stacks, key=lambda s: s[key], reverse=True)
    return {
        "format": "memlens.heap",
        "version": 1,
        "kind": kind,
        "sampler": sampler,
        "interval_bytes": 0 if sampler == "tracemalloc" else 524288,
        "max_frames": 128,
        "pid": 4242,
        "time": T0 + 600,
        "start": T0,
        "since": T0 + 300 if since_mark else T0,
        "since_mark": since_mark,
        "inuse_bytes": sum(s["inuse_bytes"] for s in stacks) + extra_inuse,
        "inuse_count": sum(s["inuse_count"] for s in stacks),
        "alloc_bytes": sum(s["alloc_bytes"] for s in stacks),
        "alloc_count": sum(s["alloc_count"] for s in stacks),
        "samples": 0 if sampler == "tracemalloc" else len(stacks) * 3,
        "stacks": ordered,
        "truncated": truncated,
    }


def service_profile(**kwargs: Any) -> dict[str, Any]:
    """main → handle → (load_rows 6 MB | build_cache → fill 3 MB) plus parse 1 MB, and
    one allocation with no Python frame (512 KB): 10.5 MB in all."""
    main = frame("main", APP, 5)
    handle = frame("handle", APP, 20)
    stacks = [
        stack([main, handle, frame("load_rows", APP, 31)], 6 * 2**20, 8 * 2**20),
        stack([main, handle, frame("build_cache", CACHE, 12), frame("fill", CACHE, 40)], 3 * 2**20),
        stack([main, frame("parse", APP, 50)], 2**20),
        stack([], 2**19),
    ]
    return profile(stacks, **kwargs)


def big_profile(stacks: int = 2000, depth: int = 50, seed: int = 7) -> dict[str, Any]:
    """`stacks` stacks of `depth` frames over a few hundred functions in a dozen files."""
    rng = random.Random(seed)
    files = [f"/srv/app/mod{i}.py" for i in range(12)]
    names = [(f"fn_{i}", files[i % len(files)], 10 + i) for i in range(300)]
    out = []
    for _ in range(stacks):
        chosen = [frame("main", APP, 1)]
        for level in range(depth - 1):
            name, file, line = names[rng.randrange(0, 20 if level < 5 else len(names))]
            chosen.append(frame(name, file, line))
        out.append(stack(chosen, rng.randrange(1, 5000) * 1024))
    return profile(out, sampler="sampling")
