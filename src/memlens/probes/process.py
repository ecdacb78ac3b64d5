"""The one front for reading a process: picks the Linux /proc fast path or psutil.

Both backends expose the same names (`open`, and a probe with `identity`, `name`,
`cmdline`, `owner_uid`, `read()`, `close()`), as psutil does with its per-OS files.
"""

from __future__ import annotations

import os
import sys
from typing import Protocol

from memlens.errors import ForeignTarget, TargetNotFound
from memlens.model import ProcessIdentity, Reading


class ProcessProbe(Protocol):
    """A kept handle on one process; `read()` raises TargetGone once it has ended."""

    identity: ProcessIdentity
    name: str
    cmdline: list[str]
    owner_uid: int | None

    def read(self, full: bool = True) -> Reading:
        """Read the process; `full=False` may repeat the slower fields from the last
        full reading (threads, fds, swap, CPU) and reads memory only."""
        ...

    def close(self) -> None: ...


def probe_backends() -> list[str]:
    """The backends usable here, fastest first."""
    names = ["psutil"]
    if sys.platform.startswith("linux") and os.path.isdir("/proc/self"):
        names.insert(0, "linux")
    return names


def open_process(
    pid: int, *, detail: bool = False, backend: str | None = None, own_only: bool = True
) -> ProcessProbe:
    """Open a kept handle on `pid`.

    `own_only` refuses another user's process (unless memlens runs as root): memory
    figures of a foreign process are partly hidden by the OS and watching it is almost
    always a mistaken PID.
    """
    if pid <= 0:
        raise TargetNotFound(f"{pid} is not a valid PID (PIDs are positive integers)")
    chosen = backend or probe_backends()[0]
    probe: ProcessProbe
    if chosen == "linux":
        from memlens.probes import _linux

        probe = _linux.LinuxProcessProbe(pid, detail=detail)
    elif chosen == "psutil":
        from memlens.probes import _portable

        probe = _portable.PsutilProcessProbe(pid, detail=detail)
    else:
        raise ValueError(f"unknown probe backend {chosen!r}")
    if own_only and probe.owner_uid is not None and hasattr(os, "geteuid"):
        me = os.geteuid()
        if me not in (0, probe.owner_uid):
            probe.close()
            raise ForeignTarget(
                f"PID {pid} belongs to {_user_name(probe.owner_uid)}, not to you; "
                "memlens watches your own processes (run it as that user, or as root)"
            )
    return probe


def _user_name(uid: int) -> str:
    try:
        import pwd

        return f"user {pwd.getpwuid(uid).pw_name!r}"
    except (ImportError, KeyError):
        return f"uid {uid}"
