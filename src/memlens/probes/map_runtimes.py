"""The runtimes and thread stacks a process's mappings show plainly (docs/maps.md).

Given the mappings of one smaps reading, in address order, with a category each, these
rules mark the mappings they recognise with a role ("malloc arena", "thread stack", "Go
heap", "Java heap"), move thread stacks from anon to stack, and name the runtimes:
glibc's malloc arenas, the Go heap, a JVM's heap (from its -Xmx), V8 (by the executable
only). Where the mappings do not make a runtime plain, nothing is said. Pure functions
over parsed rows: reading and summing is `maps.py`'s.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from memlens.probes.maps import Usage

MAX_GUARD = 1024 * 1024  # the inaccessible pages below a thread's stack
ARENA = 64 * 1024 * 1024  # glibc's HEAP_MAX_SIZE on 64-bit: each non-main heap's size
GO_HEAP_START = 0x00C0_0000_0000  # Go's first arena hint on 64-bit Linux
GO_HEAP_SPAN = 1 << 40
_XMX = re.compile(r"^-Xmx(\d+)([kKmMgGtT]?)$")


class Row(NamedTuple):
    """One mapping as parsed: its addresses, permissions, inode, path and usage."""

    start: int
    end: int
    perms: str
    inode: int
    path: str
    usage: Usage


@dataclass(frozen=True)
class Runtime:
    """A runtime whose memory the mappings show plainly: its name, what was found
    (`what`, a phrase), how many regions, their size and resident bytes."""

    name: str
    what: str
    count: int = 0
    size: int = 0
    rss: int = 0


def recognise(
    rows: list[Row],
    categories: list[str],
    roles: list[str],
    cmdline: Callable[[], list[str]] | None,
) -> tuple[list[Runtime], list[int]]:
    """The runtimes named, and the thread stacks found (their `rw-p` rows); `roles` and
    `categories` are updated in place. `cmdline` is asked only when a JVM is mapped."""
    runtimes: list[Runtime] = []
    found = arenas(rows, categories, roles) if any(is_glibc(r.path) for r in rows) else []
    if found:
        runtimes.append(runtime_of("glibc malloc", rows, found, "arenas beyond the main heap"))
    go = go_heap(rows, categories, roles)
    if go:
        runtimes.append(runtime_of("Go", rows, go, "heap from 0xc000000000"))
    if any(r.path.endswith("/libjvm.so") for r in rows):
        jvm = jvm_heap(rows, categories, roles, cmdline() if cmdline else [])
        if jvm:
            runtimes.append(runtime_of("JVM", rows, jvm, "heap reservation (-Xmx)"))
        else:
            runtimes.append(Runtime("JVM", "its heap is not told apart (no -Xmx)"))
    if any(is_node(r.path) for r in rows):
        runtimes.append(Runtime("V8", "its spaces are among the anonymous mappings"))
    return runtimes, thread_stacks(rows, categories, roles)


def is_glibc(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return name == "libc.so.6" or (name.startswith("libc-2.") and name.endswith(".so"))


def is_node(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return name == "node" or name.startswith(("libnode.so", "libv8.so"))


def private_anon(row: Row, category: str) -> bool:
    return category == "anon" and not row.path and row.perms[3] == "p"


def arenas(rows: list[Row], categories: list[str], roles: list[str]) -> list[int]:
    """glibc's non-main heaps: a `rw-p` anonymous mapping at a 64 MiB boundary,
    alone 64 MiB long or followed by a `---p` one that ends exactly 64 MiB after it
    (glibc reserves each heap whole and aligned, and opens it from the bottom)."""
    found: list[int] = []
    i = 0
    while i < len(rows):
        row = rows[i]
        if row.perms == "rw-p" and private_anon(row, categories[i]) and row.start % ARENA == 0:
            if row.end - row.start == ARENA:
                found.append(i)
            elif i + 1 < len(rows):
                nxt = rows[i + 1]
                if (
                    nxt.perms == "---p"
                    and private_anon(nxt, categories[i + 1])
                    and nxt.start == row.end
                    and nxt.end == row.start + ARENA
                ):
                    found.extend((i, i + 1))
                    i += 1
        i += 1
    for i in found:
        roles[i] = "malloc arena"
    return found


def thread_stacks(rows: list[Row], categories: list[str], roles: list[str]) -> list[int]:
    """The guard-page pattern: an inaccessible anonymous mapping of at most MAX_GUARD
    directly below an anonymous `rw-p` one; both count as stack."""
    found: list[int] = []
    for i in range(len(rows) - 1):
        guard, stack = rows[i], rows[i + 1]
        if (
            guard.perms == "---p"
            and stack.perms == "rw-p"
            and not roles[i]
            and not roles[i + 1]
            and private_anon(guard, categories[i])
            and private_anon(stack, categories[i + 1])
            and guard.end == stack.start
            and guard.end - guard.start <= MAX_GUARD
        ):
            found.append(i + 1)
            for j in (i, i + 1):
                categories[j] = "stack"
                roles[j] = "thread stack"
    return found


def go_heap(rows: list[Row], categories: list[str], roles: list[str]) -> list[int]:
    """Go reserves its heap from its first arena hint upward: plain only when an
    anonymous mapping starts exactly there."""
    if not any(
        r.start == GO_HEAP_START and private_anon(r, c)
        for r, c in zip(rows, categories, strict=True)
    ):
        return []
    found = [
        i
        for i, r in enumerate(rows)
        if GO_HEAP_START <= r.start < GO_HEAP_START + GO_HEAP_SPAN
        and private_anon(r, categories[i])
    ]
    for i in found:
        roles[i] = "Go heap"
    return found


def xmx_bytes(cmdline: Iterable[str]) -> int | None:
    """The -Xmx of a java command line, in bytes (the last one wins, as in java)."""
    found = None
    units = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    for arg in cmdline:
        m = _XMX.match(arg)
        if m:
            found = int(m.group(1)) * units[m.group(2).lower()]
    return found


def jvm_heap(
    rows: list[Row], categories: list[str], roles: list[str], cmdline: list[str]
) -> list[int]:
    """The Java heap is one reservation of exactly -Xmx: a run of adjacent mappings,
    from the start of an anonymous one to the end of another, of that size. A mapping
    of a file may sit inside it (HotSpot maps its class-data archive's heap objects,
    classes.jsa, into the heap's top) and keeps its category."""
    size = xmx_bytes(cmdline)
    if not size:
        return []
    for i, first in enumerate(rows):
        if not private_anon(first, categories[i]) or roles[i]:
            continue
        j, end = i, first.end
        while end - first.start < size and j + 1 < len(rows):
            nxt = rows[j + 1]
            if nxt.start != end or roles[j + 1] or categories[j + 1] not in ("anon", "file"):
                break
            j, end = j + 1, nxt.end
        if end - first.start == size:
            found = list(range(i, j + 1))
            for k in found:
                roles[k] = "Java heap"
            return found
    return []


def runtime_of(name: str, rows: list[Row], indices: list[int], what: str) -> Runtime:
    starts = {rows[i].start for i in indices}
    return Runtime(
        name,
        what,
        count=len(starts)
        if name != "glibc malloc"
        else sum(rows[i].perms == "rw-p" for i in indices),
        size=sum(rows[i].end - rows[i].start for i in indices),
        rss=sum(rows[i].usage.rss for i in indices),
    )
