"""Discovery: each running agent leaves one small file that says where it listens.

The files live in a directory only their owner can enter (`$XDG_RUNTIME_DIR/memlens`, else
`/tmp/memlens-UID`), which is also what keeps other users away from the agents' sockets.
A process is known by (pid, start time), never by PID alone: an entry whose PID now
names another process is as stale as one whose process died, and both are removed by
whoever lists the agents next. The token is never written here.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import socket
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from memlens.agent._redact import redact_argv

_ENTRY = re.compile(r"^(\d+)\.json$")
_SOCKET = re.compile(r"^(\d+)-[0-9a-f]+\.sock$")


class RuntimeDirError(OSError):
    """The runtime directory is missing and cannot be made, or is not private to us."""


@dataclass(frozen=True)
class AgentEntry:
    """What one agent wrote about itself."""

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

    @property
    def address(self) -> str:
        """Where a client connects: the Unix socket when there is one, else the TCP address."""
        if self.socket:
            return f"unix:{self.socket}"
        return self.tcp or ""


def runtime_dir(create: bool = True) -> Path:
    """The per-user directory of entries and sockets, made private when created."""
    xdg = os.environ.get("XDG_RUNTIME_DIR", "")
    if xdg and os.path.isabs(xdg) and _owned_dir(Path(xdg)):
        path = Path(xdg) / "memlens"
    else:
        path = Path("/tmp") / f"memlens-{os.getuid()}"
    if create:
        with contextlib.suppress(FileExistsError):
            os.mkdir(path, 0o700)
    _check_private(path)
    return path


def _owned_dir(path: Path) -> bool:
    try:
        st = path.stat()
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid()


def _check_private(path: Path) -> None:
    """Refuses a directory that another user owns or can enter: they could plant entries
    or sockets there, or reach ours."""
    try:
        st = os.lstat(path)
    except OSError as exc:
        raise RuntimeDirError(f"no agent directory at {path}: {exc.strerror}") from None
    if not stat.S_ISDIR(st.st_mode):
        raise RuntimeDirError(f"{path} is not a directory")
    if st.st_uid != os.getuid():
        raise RuntimeDirError(f"{path} belongs to another user")
    if st.st_mode & 0o077:
        raise RuntimeDirError(f"{path} is open to other users (mode {st.st_mode & 0o777:o})")


def process_start_ticks(pid: int) -> int | None:
    """When the process started, in clock ticks since boot (/proc/PID/stat field 22).

    None where /proc is not there; the process is then known by its PID alone."""
    fields = _proc_stat(pid)
    try:
        return int(fields[19]) if fields else None
    except (ValueError, IndexError):
        return None


def _proc_stat(pid: int) -> list[bytes] | None:
    """/proc/PID/stat from field 3 (the state) on, or None where it cannot be read."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
        # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
        return data[data.rindex(b")") + 2 :].split()
    except (OSError, ValueError):
        return None


def entry_path(pid: int, directory: Path | None = None) -> Path:
    return (directory or runtime_dir()) / f"{pid}.json"


def write_entry(fields: dict[str, Any], directory: Path | None = None) -> Path:
    """Writes this process's entry atomically (a reader sees the old file or the new one)."""
    directory = directory or runtime_dir()
    target = entry_path(int(fields["pid"]), directory)
    tmp = directory / f".{target.name}.{secrets.token_hex(4)}.tmp"
    data = json.dumps(fields, indent=1).encode("utf-8")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return target


def remove_entry(pid: int, directory: Path | None = None, socket: str | None = None) -> None:
    """Removes the entry of `pid`, but only if it is still the one that names `socket`
    (a later process with the same PID may have written its own)."""
    with contextlib.suppress(OSError, RuntimeDirError):
        path = entry_path(pid, directory)
        if socket is not None:
            current = _read(path)
            if current is not None and current.socket != socket:
                return
        os.unlink(path)


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


def identity() -> dict[str, Any]:
    """The fields of this process that an entry and the hello answer share."""
    argv = list(getattr(sys, "orig_argv", sys.argv))
    return {
        "pid": os.getpid(),
        "ppid": os.getppid(),
        "start_ticks": process_start_ticks(os.getpid()),
        "name": _name(argv),
        "python": ".".join(str(v) for v in sys.version_info[:3]),
        "implementation": sys.implementation.name,
        "executable": sys.executable,
        "argv": redact_argv(argv),
    }


def _name(argv: list[str]) -> str:
    """What a person calls the program: the script, the `-m` module, or the interpreter."""
    script = sys.argv[0] if sys.argv else ""
    if not script or script == "-c":
        return os.path.basename(sys.executable or "python")
    # Under -m, sys.argv[0] is the module's file, which the command line does not show.
    if script not in argv and "-m" in argv[:-1]:
        return argv[argv.index("-m") + 1]
    return os.path.basename(script)
