"""The agent's own side of discovery: its private directory and its one entry there.

This is what a starting agent needs and no more, in plain strings and calls of `posix`,
the C module under `os` (`os` itself, with `stat` and `posixpath`, is some 600 objects that
a bare host's garbage collector would walk for ever). The entry is written by a small JSON
writer of its own for the same reason: `json` brings `re` and `enum`. The viewer's side
(listing agents, judging entries stale, `pathlib` paths) is `registry`, which the agent
never loads. See `registry` for what the directory and entries are.
"""

from __future__ import annotations

import sys

from memlens.agent._redact import redact_argv

if sys.platform == "win32":  # no agent runs there, but the viewer's side imports this
    import os as posix
else:
    import posix

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from typing import Any


# The file-type bits of a mode, as fixed by POSIX (`stat.S_IFMT`, `stat.S_IFDIR`).
_S_IFMT = 0o170000
_S_IFDIR = 0o040000

# JSON escapes for the characters a JSON string may not hold as they are, and for DEL;
# json_string writes the rest outside ASCII as \uXXXX, as json.dumps does.
_ESCAPES = {i: f"\\u{i:04x}" for i in range(0x20)}
_ESCAPES.update({0x7F: "\\u007f", 0x22: '\\"', 0x5C: "\\\\", 0x08: "\\b", 0x09: "\\t"})
_ESCAPES.update({0x0A: "\\n", 0x0C: "\\f", 0x0D: "\\r"})


class RuntimeDirError(OSError):
    """The runtime directory is missing and cannot be made, or is not private to us."""


# The directory `memlens attach` named: the attaching viewer's, which may differ from the
# one this process's environment names (a service started without XDG_RUNTIME_DIR).
_chosen_dir: str | None = None


def use_runtime_dir(path: str) -> None:
    """Registers in `path` from now on (it must be private to this user, as any)."""
    global _chosen_dir
    if not path.startswith("/"):
        raise ValueError("the runtime directory must be an absolute path")
    _chosen_dir = path


def runtime_dir(create: bool = True) -> str:
    """The per-user directory of entries and sockets, made private when created."""
    xdg = environ("XDG_RUNTIME_DIR")
    if _chosen_dir is not None:
        path = _chosen_dir
    elif xdg.startswith("/") and _owned_dir(xdg):
        path = _join(xdg, "memlens")
    else:
        path = f"/tmp/memlens-{posix.getuid()}"
    if create:
        try:  # noqa: SIM105 (no contextlib in the host)
            posix.mkdir(path, 0o700)
        except FileExistsError:
            pass
    _check_private(path)
    return path


def environ(name: str) -> str:
    """An environment variable ('' when unset): from `os.environ` when the host has loaded
    `os` (it may have changed it since), else as the process started with it."""
    os = sys.modules.get("os")
    if os is not None:
        return str(os.environ.get(name, ""))
    raw = posix.environ.get(name.encode())
    if raw is None:
        return ""
    return raw.decode(sys.getfilesystemencoding(), sys.getfilesystemencodeerrors())


def in_dir(directory: str, name: str) -> str:
    """`os.path.join(directory, name)` for a plain file name."""
    return directory + name if directory.endswith("/") else f"{directory}/{name}"


def _join(directory: str, name: str) -> str:
    """`directory/name` spelled as `pathlib` spells it (no empty or `.` parts), so that
    paths written here and paths listed by the viewer's side compare equal."""
    parts = [p for p in directory.split("/") if p and p != "."]
    return "/" + "/".join([*parts, name])


def _owned_dir(path: str) -> bool:
    try:
        st = posix.stat(path)
    except OSError:
        return False
    return st.st_mode & _S_IFMT == _S_IFDIR and st.st_uid == posix.getuid()


def _check_private(path: str) -> None:
    """Refuses a directory that another user owns or can enter: they could plant entries
    or sockets there, or reach ours."""
    try:
        st = posix.lstat(path)
    except OSError as exc:
        raise RuntimeDirError(f"no agent directory at {path}: {exc.strerror}") from None
    if st.st_mode & _S_IFMT != _S_IFDIR:
        raise RuntimeDirError(f"{path} is not a directory")
    if st.st_uid != posix.getuid():
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
    return in_dir(directory or runtime_dir(), f"{pid}.json")


def write_entry(fields: dict[str, Any], directory: str | None = None) -> str:
    """Writes this process's entry atomically (a reader sees the old file or the new one)."""
    directory = directory or runtime_dir()
    target = entry_path(int(fields["pid"]), directory)
    tmp = in_dir(directory, f".{int(fields['pid'])}.json.{posix.urandom(4).hex()}.tmp")
    data = json_object(fields).encode("ascii")
    fd = posix.open(tmp, posix.O_WRONLY | posix.O_CREAT | posix.O_EXCL, 0o600)
    try:
        try:
            while data:
                data = data[posix.write(fd, data) :]
        finally:
            posix.close(fd)
        posix.replace(tmp, target)
    except BaseException:
        try:  # noqa: SIM105 (no contextlib in the host)
            posix.unlink(tmp)
        except OSError:
            pass
        raise
    return target


def remove_entry(pid: int, directory: str | None = None, socket: str | None = None) -> None:
    """Removes the entry of `pid`, but only if it is still the one that names `socket`
    (a later process with the same PID may have written its own)."""
    try:
        path = entry_path(pid, directory)
        if socket is not None:
            named = _socket_named(path)
            if named is not _UNREADABLE and named != socket:
                return
        posix.unlink(path)
    except OSError:  # RuntimeDirError included
        return


_UNREADABLE = object()


def _socket_named(path: str) -> object:
    """The socket an entry names (None for none), or _UNREADABLE."""
    from memlens.agent.protocol import ProtocolError, decode

    try:
        with open(path, "rb") as f:
            raw = decode(f.read())
        int(raw["pid"])
        return raw.get("socket") or None
    except (OSError, ProtocolError, ValueError, KeyError, TypeError, AttributeError):
        return _UNREADABLE


def identity() -> dict[str, Any]:
    """The fields of this process that an entry and the hello answer share."""
    argv = list(getattr(sys, "orig_argv", sys.argv))
    return {
        "pid": posix.getpid(),
        "ppid": posix.getppid(),
        "start_ticks": process_start_ticks(posix.getpid()),
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
        return (sys.executable or "python").rpartition("/")[2]
    # Under -m, sys.argv[0] is the module's file, which the command line does not show.
    if script not in argv and "-m" in argv[:-1]:
        return argv[argv.index("-m") + 1]
    return script.rpartition("/")[2]


def json_object(fields: dict[str, Any]) -> str:
    """`fields` as a JSON object, one field a line, for an entry's flat values: strings,
    numbers, booleans, None and lists of them. The text is ASCII, as json.dumps writes it."""
    lines = [f" {json_string(str(key))}: {_json_value(value)}" for key, value in fields.items()]
    return "{\n" + ",\n".join(lines) + "\n}\n"


def _json_value(value: object) -> str:
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        if not -float("inf") < value < float("inf"):  # NaN fails both
            raise ValueError(f"{value!r} is not JSON")
        return float.__repr__(value)
    if isinstance(value, str):
        return json_string(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(map(_json_value, value)) + "]"
    raise TypeError(f"an entry holds no {type(value).__name__}")


def json_string(text: str) -> str:
    """`text` as a JSON string in ASCII: quotes, backslashes and control characters
    escaped, everything beyond ASCII as \\uXXXX (a surrogate pair beyond the BMP; a lone
    surrogate, as `surrogateescape` leaves in undecodable arguments, as itself)."""
    text = text.translate(_ESCAPES)
    if not text.isascii():
        text = "".join(ch if ch.isascii() else _u_escape(ord(ch)) for ch in text)
    return f'"{text}"'


def _u_escape(code: int) -> str:
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 | code >> 10:04x}\\u{0xDC00 | code & 0x3FF:04x}"
