"""How a memory map reads to a person: one sentence on where most of the memory lives,
and the words for a category that grew (the leak advice's).

Pure: it takes the sums by category (bytes) and the runtimes a probe recognised, and
returns text. Nothing here reads /proc.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from memlens.probes.maps import Runtime
from memlens.units import human_bytes

NAMES = {
    "heap": "the brk heap",
    "anon": "anonymous memory",
    "file": "file-backed memory",
    "stack": "thread stacks",
    "shmem": "shared memory",
    "other": "kernel and device mappings",
}
WHAT = {
    "heap": "malloc's main arena",
    "anon": "malloc arenas or a runtime's heap",
    "file": "code and mapped files, which the kernel can drop and read again",
    "stack": "one per thread",
    "shmem": "/dev/shm, memfd or System V segments, counted in every process that maps them",
    "other": "the vDSO and device memory",
}
# What a category that grew during a leak means (the report's and the alert's advice).
GREW = {
    "heap": "a native heap leak (malloc's main arena)",
    "anon": "a native heap leak",
    "file": "mapped files are not unmapped",
    "stack": "threads are not joined",
    "shmem": "shared memory segments are not released",
    "other": "device or kernel mappings grow",
}
# A category is named as the cause of a leak when it carries at least this share of it.
CAUSE_SHARE = 0.5


def reading(rss: Mapping[str, int], runtimes: Sequence[Runtime] = ()) -> str:
    """'most of it (82%) is anonymous memory: malloc arenas or a runtime's heap'."""
    total = sum(rss.values())
    if total <= 0:
        return "nothing is resident"
    category, top = max(rss.items(), key=lambda kv: kv[1])
    share = top / total
    lead = "most of it" if share > 0.5 else "the largest part"
    what = WHAT[category]
    if category == "anon":
        named = [r for r in runtimes if r.rss and r.name != "V8"]
        if any(r.name == "V8" for r in runtimes):
            what = "malloc arenas or V8's heap"
        if named:
            what += "; " + ", ".join(_runtime_phrase(r) for r in named)
    return f"{lead} ({share:.0%}) is {NAMES[category]}: {what}"


def _runtime_phrase(runtime: Runtime) -> str:
    if runtime.name == "glibc malloc":
        return f"{runtime.count} malloc arenas hold {human_bytes(runtime.rss)}"
    return f"the {runtime.name} heap holds {human_bytes(runtime.rss)}"


def growth_cause(grew: Mapping[str, int]) -> str | None:
    """The advice for a leak when one category carries most of the growth:
    'anonymous memory grew 300 MB over the leak: a native heap leak'. None when no
    category grew, or none carries CAUSE_SHARE of it."""
    total = sum(v for v in grew.values() if v > 0)
    if total <= 0:
        return None
    category, most = max(grew.items(), key=lambda kv: kv[1])
    if most < CAUSE_SHARE * total:
        return None
    return f"{NAMES[category]} grew {human_bytes(most)} over the leak: {GREW[category]}"


__all__ = ["GREW", "NAMES", "growth_cause", "reading"]
