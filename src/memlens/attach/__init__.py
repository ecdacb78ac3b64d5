"""Attaching to a running Python process: its agent started with no restart and no change
to its code (`memlens attach`), and stopped again (`memlens detach`).

The checks come first and touch nothing: the process is ours, it runs CPython 3.10 or
later, and the kernel lets us trace it. Then the agent is started by the fixed bootstrap
(`bootstrap`), through `sys.remote_exec` where both Pythons are 3.14 or later (`remote`),
else through gdb (`gdb`), and memlens waits for the agent's registry entry. docs/attach.md
says what the process goes through.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from memlens.agent._entry import proc_stat
from memlens.agent.registry import AgentEntry, find_agent, process_start_ticks, runtime_dir
from memlens.attach import gdb, remote
from memlens.attach.target import (
    REMOTE_EXEC_VERSION,
    PythonTarget,
    check_owner,
    check_ptrace,
    python_target,
)
from memlens.errors import (
    AgentRequestFailed,
    AgentUnavailable,
    AttachFailed,
    TargetGone,
)

DEFAULT_TIMEOUT_S = 10.0
ENTRY_WAIT_S = 5.0  # for the registry entry, once the bootstrap ran (or was queued)


@dataclass
class Attached:
    """What `attach` did: the agent's entry, and whether it was running already."""

    entry: AgentEntry
    already: bool
    method: str  # "running", "gdb:pending-call", "gdb:direct" or "remote_exec"
    stopped_s: float | None  # how long the process was stopped (gdb), where known
    target: PythonTarget | None


def attach(
    pid: int,
    *,
    heap_interval: int = 0,
    timeout: float = DEFAULT_TIMEOUT_S,
    token: str | None = None,
) -> Attached:
    """Starts the agent in `pid` (and the heap profiler when `heap_interval` is not 0), or
    finds the one it runs. Raises a MemlensError that says what stands in the way."""
    check_owner(pid)
    existing = find_agent(pid)
    if existing is not None:
        if heap_interval:
            _start_heap(existing, heap_interval, token)
        return Attached(existing, True, "running", None, None)
    target = python_target(pid)
    check_ptrace(pid)
    ticks = process_start_ticks(pid)
    if target.version >= REMOTE_EXEC_VERSION and remote.available():
        script = remote.write_script(heap_interval)
        try:
            remote.inject(pid, script)
            entry = wait_for_entry(pid, ticks, time.monotonic() + max(timeout, ENTRY_WAIT_S))
        finally:
            remote.remove_script(script)
        return Attached(entry, False, "remote_exec", None, target)
    runtime = str(runtime_dir())  # where this viewer looks, whatever the process's env says
    try:
        injection = gdb.inject(pid, heap_interval, timeout, runtime)
    except AttachFailed:
        # gdb may time out or end because the process went away under it: say that.
        if _ended(pid, ticks):
            raise TargetGone(f"PID {pid} exited during the attach") from None
        raise
    entry = wait_for_entry(pid, ticks, time.monotonic() + ENTRY_WAIT_S)
    return Attached(entry, False, f"gdb:{injection.path}", injection.stopped_s, target)


def _ended(pid: int, ticks: int | None) -> bool:
    """The process is gone, a zombie its parent has not reaped yet, or its PID names
    another process now."""
    fields = proc_stat(pid)
    return not fields or fields[0] == b"Z" or process_start_ticks(pid) != ticks


def wait_for_entry(pid: int, ticks: int | None, deadline: float) -> AgentEntry:
    """The agent's registry entry, once it is there; TargetGone when the process ended
    (or its PID now names another), AttachFailed when no entry came in time."""
    while True:
        if process_start_ticks(pid) != ticks:
            raise TargetGone(f"PID {pid} exited during the attach")
        entry = find_agent(pid)
        if entry is not None:
            return entry
        if time.monotonic() >= deadline:
            raise AttachFailed(
                f"the agent did not appear in PID {pid}'s registry entry in time (its stderr "
                "may say why); the process goes on running"
            )
        time.sleep(0.05)


def detach(pid: int, *, token: str | None = None, timeout: float = DEFAULT_TIMEOUT_S) -> bool:
    """Stops the agent (and its heap profiler) in `pid`: False when none ran. The process
    goes on; the agent's socket and registry entry are gone when this returns."""
    from memlens.agent.client import AgentClient

    check_owner(pid)
    entry = find_agent(pid)
    if entry is None:
        return False
    if entry.socket is None:
        raise AgentRequestFailed(f"PID {pid}'s agent has no Unix socket to be stopped through")
    client = AgentClient.connect(entry.socket, token=token, timeout=timeout)
    client.stop_agent()
    deadline = time.monotonic() + timeout
    while find_agent(pid) is not None:
        if time.monotonic() >= deadline:
            raise AttachFailed(f"PID {pid}'s agent said it would stop but is still listed")
        time.sleep(0.05)
    return True


def _start_heap(entry: AgentEntry, interval: int, token: str | None) -> None:
    from memlens.agent.client import AgentClient

    try:
        with AgentClient.connect(entry.address, token=token) as client:
            client.heap_start(interval_bytes=interval)
    except AgentUnavailable as exc:
        raise AttachFailed(f"the agent runs but the heap profiler did not start: {exc}") from None


__all__ = ["Attached", "attach", "detach", "wait_for_entry"]
