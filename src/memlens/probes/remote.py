"""A process read through its agent's socket instead of /proc: one on another machine (a
TCP address, usually through a tunnel) or one whose agent is named by its Unix socket.

It offers what the local probes offer (`identity`, `name`, `cmdline`, `read()`,
`close()`), so the sampler treats it like any other process. Everything comes from the
agent's `stats`: what the agent cannot see (shared pages, swap, CPU) is left unknown.
"""

from __future__ import annotations

import time
from typing import Any

from memlens.errors import AgentMisbehaved, AgentUnavailable, TargetGone
from memlens.model import ProcessIdentity, Reading
from memlens.probes.python import PythonProbe, fields_of

_MICROSECONDS = 1_000_000
_PYTHON_FIELDS = ("py_heap", "py_heap_peak", "py_blocks", "gc_collections", "gc_uncollectable")


def looks_like_address(text: str) -> bool:
    """Whether a target argument names an agent (`HOST:PORT`, `[V6]:PORT`, `:PORT`,
    `unix:PATH`) rather than a PID; a bare number stays a PID."""
    return text.startswith("unix:") or ":" in text


class RemoteAgentProbe:
    """A kept connection to one agent; `read()` asks it for `stats`.

    `python` is the agent's viewer-side probe: the sampler links it like a local
    process's agent (tracing, allocation sites), but its fields come with each `read()`.
    """

    def __init__(self, address: str, *, token: str | None = None) -> None:
        self.address = address
        self.python = PythonProbe(address, token)
        try:
            hello = self.python.agent
            stats = self.python.stats()
        except BaseException:
            self.python.close()
            raise
        # The PID is in the PID space of the agent's machine (or container); with the
        # start time it still names one process there, but not one on this machine.
        pid = int(hello.get("pid") or 0)
        uptime = _number(stats.get("uptime_s"))
        started = _number(hello.get("started"))
        # When the process started, on this machine's clock: the agent's own uptime, so a
        # skewed clock on the other machine does not shift the series. The agent starts
        # with the program when it is started without a code change; else this is later.
        start_time = time.time() - uptime if uptime is not None else (started or time.time())
        ticks = hello.get("start_ticks")
        if isinstance(ticks, int) and not isinstance(ticks, bool):
            start_ticks = ticks  # clock ticks since the other machine booted
        else:
            start_ticks = round((started or start_time) * _MICROSECONDS)
        self.identity = ProcessIdentity(pid, start_ticks, start_time)
        self.name = str(hello.get("name") or f"agent at {address}")
        argv = hello.get("argv")
        self.cmdline = [str(a) for a in argv] if isinstance(argv, list) and argv else [self.name]
        self.owner_uid: int | None = None  # a user of the other machine, if any
        self._first: dict[str, Any] | None = stats

    def read(self, full: bool = True) -> Reading:
        """One `stats` round trip; `full` makes no difference, every field comes at once."""
        stats, self._first = self._first, None
        if stats is None:
            try:
                stats = self.python.stats()
            except AgentMisbehaved as e:
                raise TargetGone(f"{e}; no longer read") from None
            except AgentUnavailable as e:
                raise TargetGone(f"the agent at {self.address} went away ({e})") from None
        return reading_from_stats(stats, self.python)

    def close(self) -> None:
        self.python.close()


def reading_from_stats(stats: dict[str, Any], python: PythonProbe | None = None) -> Reading:
    """A Reading from an agent's `stats` answer; what the agent cannot see (shared pages,
    swap, CPU) is unknown, and the Python fields are there where Reading has them."""
    values: dict[str, Any] = {
        "rss": _int(stats.get("rss_bytes")) or 0,
        "vms": _int(stats.get("vms_bytes")) or 0,
        "shared": 0,
        "swap": None,
        "threads": _int(stats.get("threads")) or 0,
        "fds": _int(stats.get("fds")) or 0,
        "cpu": None,
        **dict(zip(_PYTHON_FIELDS, fields_of(stats, python), strict=True)),
    }
    return Reading(**{name: values[name] for name in Reading._fields if name in values})


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)
