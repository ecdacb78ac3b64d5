"""The agent's own side of discovery: its private directory and its one entry there.

This is what a starting agent needs and no more, in plain strings and `os` calls: the
viewer's side (listing agents, judging entries stale, `pathlib` paths) is `registry`,
which the agent never loads. See `registry` for what the directory and entries are.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import sys

from memlens.agent._redact import redact_argv

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from typing import Any


class RuntimeDirError(OSError):
    """The runtime directory is missing and cannot be made, or is not private to us."""


def runtime_dir(create: bool = True) -> str:
    """The per-user directory of entries and sockets, made private when created."""
    xdg = os.environ.get("XDG_RUNTIME_DIR", "")
    if xdg and os.path.isabs(xdg) and _owned_dir(xdg):
        path = _join(xdg, "memlens")
    else:
        path = f"/tmp/memlens-{os.getuid()}"
    if create:
        with contextlib.suppress(FileExistsError):
            os.mkdir(path, 0o700)
    _check_private(path)
    return path


def _join(directory: str, name: str) -> str:
    """`directory/name` spelled as `pathlib` spells it (no empty or `.` parts), so that
    paths written here and paths listed by the viewer's side compare equal."""
    parts = [p for p in directory.split("/") if p and p != "."]
    return "/" + "/".join([*parts, name])


def _owned_dir(path: str) -> bool:
    try:
        st = os.stat(path)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid()


def _check_private(path: str) -> None:
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
    fields = proc_stat(pid)
    try:
        return int(fields[19]) if fields else None
    except (ValueError, IndexError):
        return None


def proc_stat(pid: int) -> list[bytes] | None:
    """/proc/PID/stat from field 3 (the state) on, or None where it cannot be read."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
        # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
        return data[data.rindex(b")") + 2 :].split()
    except (OSError, ValueError):
        return None


def entry_path(pid: int, directory: str | None = None) -> str:
    return os.path.join(directory or runtime_dir(), f"{pid}.json")


def write_entry(fields: dict[str, Any], directory: str | None = None) -> str:
    """Writes this process's entry atomically (a reader sees the old file or the new one)."""
    directory = directory or runtime_dir()
    target = entry_path(int(fields["pid"]), directory)
    tmp = os.path.join(directory, f".{os.path.basename(target)}.{os.urandom(4).hex()}.tmp")
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


def remove_entry(pid: int, directory: str | None = None, socket: str | None = None) -> None:
    """Removes the entry of `pid`, but only if it is still the one that names `socket`
    (a later process with the same PID may have written its own)."""
    with contextlib.suppress(OSError, RuntimeDirError):
        path = entry_path(pid, directory)
        if socket is not None:
            named = _socket_named(path)
            if named is not _UNREADABLE and named != socket:
                return
        os.unlink(path)


_UNREADABLE = object()


def _socket_named(path: str) -> object:
    """The socket an entry names (None for none), or _UNREADABLE."""
    try:
        with open(path, "rb") as f:
            raw = json.loads(f.read())
        int(raw["pid"])
        return raw.get("socket") or None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return _UNREADABLE


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
