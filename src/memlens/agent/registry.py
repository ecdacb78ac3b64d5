"""Discovery: each running agent leaves one small file that says where it listens.

The files live in a directory only their owner can enter (`$XDG_RUNTIME_DIR/memlens`, else
`/tmp/memlens-UID`), which is also what keeps other users away from the agents' sockets.
A process is known by (pid, start time), never by PID alone: an entry whose PID now
names another process is as stale as one whose process died, and both are removed by
whoever lists the agents next. The token is never written here.

This is the viewers' side; an agent writes and removes its own entry through `_entry`,
which this module re-exports as `pathlib` paths, and never loads this one.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import stat
from pathlib import Path

from memlens.agent import _entry
from memlens.agent._entry import (
    RuntimeDirError,
    identity,
    process_start_ticks,
)
from memlens.agent._entry import proc_stat as _proc_stat
from memlens.agent._record import Record

__all__ = [
    "AgentEntry",
    "RuntimeDirError",
    "entry_path",
    "find_agent",
    "identity",
    "list_agents",
    "process_start_ticks",
    "remove_entry",
    "runtime_dir",
    "write_entry",
]

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from typing import Any

_ENTRY = re.compile(r"^(\d+)\.json$")
_SOCKET = re.compile(r"^(\d+)-[0-9a-f]+\.sock$")


class AgentEntry(Record):
    """What one agent wrote about itself."""

    __slots__ = (
        "argv",
        "name",
        "path",
        "pid",
        "ppid",
        "protocol",
        "python",
        "socket",
        "start_ticks",
        "started",
        "tcp",
        "token_required",
    )
    pid: int
    ppid: int
    start_ticks: int | None
    name: str
    python: str
    argv: list[str]
    socket: str | None
    tcp: str | None
    token_required: bool
    protocol: int
    started: float
    path: Path

    def __init__(  # noqa: PLR0917 (positional too, as the dataclass it replaces took them)
        self,
        pid: int,
        ppid: int,
        start_ticks: int | None,
        name: str,
        python: str,
        argv: list[str],
        socket: str | None,
        tcp: str | None,
        token_required: bool,
        protocol: int,
        started: float,
        path: Path,
    ) -> None:
        self._set(
            pid=pid,
            ppid=ppid,
            start_ticks=start_ticks,
            name=name,
            python=python,
            argv=argv,
            socket=socket,
            tcp=tcp,
            token_required=token_required,
            protocol=protocol,
            started=started,
            path=path,
        )

    @property
    def address(self) -> str:
        """Where a client connects: the Unix socket when there is one, else the TCP address."""
        if self.socket:
            return f"unix:{self.socket}"
        return self.tcp or ""


def runtime_dir(create: bool = True) -> Path:
    """The per-user directory of entries and sockets, made private when created."""
    return Path(_entry.runtime_dir(create))


def entry_path(pid: int, directory: Path | None = None) -> Path:
    return Path(_entry.entry_path(pid, None if directory is None else str(directory)))


def write_entry(fields: dict[str, Any], directory: Path | None = None) -> Path:
    """Writes this process's entry atomically (a reader sees the old file or the new one)."""
    return Path(_entry.write_entry(fields, None if directory is None else str(directory)))


def remove_entry(pid: int, directory: Path | None = None, socket: str | None = None) -> None:
    """Removes the entry of `pid`, but only if it is still the one that names `socket`
    (a later process with the same PID may have written its own)."""
    _entry.remove_entry(pid, None if directory is None else str(directory), socket)


def list_agents(cleanup: bool = True) -> list[AgentEntry]:
    """The live agents of this user, oldest first; stale entries and sockets are removed."""
    try:
        directory = runtime_dir(create=False)
    except RuntimeDirError:
        return []
    live: list[AgentEntry] = []
    live_sockets: set[str] = set()
    for path in sorted(directory.iterdir()):
        m = _ENTRY.match(path.name)
        if not m:
            continue
        entry = _read(path)
        if entry is not None and entry.pid == int(m.group(1)) and _is_live(entry):
            live.append(entry)
            if entry.socket:
                live_sockets.add(entry.socket)
        elif cleanup:
            _remove_stale(path, entry)
    if cleanup:
        _remove_orphan_sockets(directory, live_sockets)
    return sorted(live, key=lambda e: (e.started, e.pid))


def find_agent(pid: int) -> AgentEntry | None:
    """The live agent of process `pid`, if it has one."""
    return next((e for e in list_agents() if e.pid == pid), None)


def _read(path: Path) -> AgentEntry | None:
    try:
        raw = json.loads(path.read_bytes())
        return AgentEntry(
            pid=int(raw["pid"]),
            ppid=int(raw.get("ppid", 0)),
            start_ticks=None if raw.get("start_ticks") is None else int(raw["start_ticks"]),
            name=str(raw.get("name", "")),
            python=str(raw.get("python", "")),
            argv=[str(a) for a in raw.get("argv", [])],
            socket=raw.get("socket") or None,
            tcp=raw.get("tcp") or None,
            token_required=bool(raw.get("token_required", False)),
            protocol=int(raw.get("protocol", 0)),
            started=float(raw.get("started", 0.0)),
            path=path,
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    fields = _proc_stat(pid)
    # A zombie (exited, not yet reaped by its parent) still answers kill(0).
    return not (fields and fields[0] in (b"Z", b"X"))


def _is_live(entry: AgentEntry) -> bool:
    if entry.pid <= 0 or not _pid_alive(entry.pid):
        return False
    if entry.start_ticks is not None and process_start_ticks(entry.pid) != entry.start_ticks:
        return False  # the PID was reused by another process
    return not entry.socket or _listening(entry.socket)


def _listening(path: str) -> bool:
    """Whether something listens on the socket. A forked child that exec()s keeps its PID
    and start time but loses the agent it had started, leaving a socket nobody serves.

    Connecting and hanging up at once costs the agent one short-lived thread."""
    try:
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            return False
    except OSError:
        return False
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(path)
    except (ConnectionRefusedError, FileNotFoundError):
        return False
    except OSError:
        return True  # a full backlog or a slow peer: alive, just busy
    finally:
        probe.close()
    return True


def _remove_stale(path: Path, entry: AgentEntry | None) -> None:
    with contextlib.suppress(OSError):
        if entry is not None:
            again = _read(path)
            if again is not None and again != entry:
                return  # rewritten meanwhile by a live process
        os.unlink(path)
    if entry is not None and entry.socket and Path(entry.socket).parent == path.parent:
        with contextlib.suppress(OSError):
            os.unlink(entry.socket)


def _remove_orphan_sockets(directory: Path, live: set[str]) -> None:
    """Sockets left by agents that died without cleaning up (kill -9, os._exit)."""
    for path in directory.iterdir():
        m = _SOCKET.match(path.name)
        if m and str(path) not in live and not _pid_alive(int(m.group(1))):
            with contextlib.suppress(OSError):
                os.unlink(path)
