"""The memory a process may use before something stops it: the nearest known limit.

Three can apply, and the smallest wins: the cgroup v2 `memory.max` of the process's
group or of any group above it (what a container or a systemd unit sets; the OOM killer
acts on it), its `RLIMIT_AS` (address space, so compared against VMS by the kernel but
still a ceiling for RSS), and the machine's physical memory. The leak detector uses it
for the time until the limit is hit.
"""

from __future__ import annotations

import contextlib
import os
import resource
import sys
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class MemoryLimit:
    bytes: int
    source: str  # "cgroup memory.max (/system.slice/x)", "RLIMIT_AS", "physical memory"


def physical_memory() -> int | None:
    with contextlib.suppress(ValueError, OSError, AttributeError):
        pages = os.sysconf("SC_PHYS_PAGES")
        size = os.sysconf("SC_PAGE_SIZE")
        if pages > 0 and size > 0:
            return int(pages * size)
    with contextlib.suppress(Exception):  # non-POSIX systems
        import psutil

        return int(psutil.virtual_memory().total)
    return None


def cgroup_limit(pid: int, root: Path = CGROUP_ROOT) -> MemoryLimit | None:
    """The smallest `memory.max` on the way from the process's cgroup (v2) to the root;
    None outside Linux, on cgroup v1, or where every level says "max"."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        text = Path(f"/proc/{pid}/cgroup").read_text()
    except OSError:
        return None
    group = None
    for line in text.splitlines():
        if line.startswith("0::"):
            group = line[3:].strip()
    if group is None:
        return None
    best: MemoryLimit | None = None
    path = Path(group)
    for level in (path, *path.parents):
        relative = str(level).lstrip("/")
        try:
            raw = (root / relative / "memory.max").read_text().strip()
        except OSError:
            continue
        if raw == "max":
            continue
        try:
            value = int(raw)
        except ValueError:
            continue
        if best is None or value < best.bytes:
            best = MemoryLimit(value, f"cgroup memory.max ({level})")
    return best


def address_space_limit(pid: int) -> MemoryLimit | None:
    """RLIMIT_AS of the process (Linux reads another process's limits with prlimit, when
    allowed); None when unlimited or unreadable."""
    try:
        if pid == os.getpid() or not hasattr(resource, "prlimit"):
            soft, _ = resource.getrlimit(resource.RLIMIT_AS) if pid == os.getpid() else (-1, -1)
        else:
            soft, _ = resource.prlimit(pid, resource.RLIMIT_AS)
    except (OSError, ValueError):
        return None
    if soft < 0 or soft == resource.RLIM_INFINITY:
        return None
    return MemoryLimit(int(soft), "RLIMIT_AS")


def memory_limit(pid: int) -> MemoryLimit | None:
    """The smallest of the limits that apply to `pid`, with where it comes from."""
    found = [cgroup_limit(pid), address_space_limit(pid)]
    physical = physical_memory()
    if physical is not None:
        found.append(MemoryLimit(physical, "physical memory"))
    known = [limit for limit in found if limit is not None]
    return min(known, key=lambda limit: limit.bytes, default=None)
