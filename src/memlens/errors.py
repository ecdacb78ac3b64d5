"""memlens errors, each kind carrying the exit code the CLI uses for it.

The CLI maps errors to exit codes in exactly one place (`memlens.cli.main`), reading
`exit_code` from here: 0 ok, 1 a check failed, 2 bad usage or bad input, 3 the target
could not be read.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREADABLE = 3


class MemlensError(Exception):
    """Base of every error memlens raises on purpose; its message is one readable line."""

    exit_code: int = EXIT_USAGE


class UsageError(MemlensError):
    """The command line or a setting is wrong."""

    exit_code = EXIT_USAGE


class TargetNotFound(MemlensError):
    """No process has that PID (or it is not a valid PID at all)."""

    exit_code = EXIT_USAGE


class ForeignTarget(MemlensError):
    """The process belongs to another user; memlens watches only its own user's processes."""

    exit_code = EXIT_USAGE


class AccessDenied(MemlensError):
    """The process exists but the OS refuses to let memlens read its memory."""

    exit_code = EXIT_UNREADABLE


class TargetGone(MemlensError):
    """The process ended (or its PID now names a different process) while being read."""

    exit_code = EXIT_UNREADABLE


class MapUnreadable(MemlensError):
    """A process's memory map could not be read whole: an I/O error, or a layout this
    memlens does not know (docs/maps.md)."""

    exit_code = EXIT_UNREADABLE


class PortInUse(MemlensError):
    """The address the server should listen on is taken."""

    exit_code = EXIT_USAGE


class NotARecording(MemlensError):
    """The file is not SQLite at all, or another application's SQLite database."""

    exit_code = EXIT_USAGE


class NewerSchema(MemlensError):
    """The recording was written by a newer memlens whose schema this one cannot read."""

    exit_code = EXIT_USAGE


class CorruptRecording(MemlensError):
    """The recording is truncated or damaged, so SQLite cannot read it."""

    exit_code = EXIT_USAGE


class StoreUnwritable(MemlensError):
    """The recording cannot be created or written: a read-only place, no permission, no
    space, or a writer that could not keep up."""

    exit_code = EXIT_USAGE


class OutputUnwritable(MemlensError):
    """A file memlens was asked to write (an export) cannot be written there."""

    exit_code = EXIT_USAGE


class BadHeapProfile(MemlensError, ValueError):
    """A heap profile (an agent's answer, a JSON or collapsed file) that is not one: the
    wrong type, a number that is not finite, a list or a string past its bound. Also a
    ValueError, so that code that parses without knowing memlens can catch it."""

    exit_code = EXIT_USAGE


class AgentUnavailable(MemlensError):
    """A process's in-process agent cannot be reached: none listens there, it stopped
    answering, or it is busy with another costly request."""

    exit_code = EXIT_UNREADABLE


class AgentBusy(AgentUnavailable):
    """The agent runs another costly request, or rests after one; ask again later."""

    def __init__(self, message: str, retry_after_s: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class AgentMisbehaved(AgentUnavailable):
    """The agent answered something memlens cannot use: a field of the wrong type or out
    of bounds. Its process is read as if it had no agent."""


class AgentRefused(MemlensError):
    """The agent turned the viewer away: a missing or wrong token, or a protocol version
    it does not speak."""

    exit_code = EXIT_USAGE


class AgentRequestFailed(MemlensError):
    """The agent answered a request with an error (bad arguments, tracing is off, ...)."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.code = code


class AttachUnsupported(MemlensError):
    """The process cannot be attached to as it is: not CPython, a Python older than 3.10,
    or no tool to attach with (gdb); the message says what would make it possible."""

    exit_code = EXIT_USAGE


class AttachBlocked(AccessDenied):
    """The OS refuses to let memlens trace the process (ptrace): kernel.yama.ptrace_scope,
    a container without CAP_SYS_PTRACE; the message names what blocks it and the fix."""


class AttachFailed(MemlensError):
    """The attach was tried and did not start the agent: the process stayed busy past the
    timeout, or the start-up inside it failed. The process is left running."""

    exit_code = EXIT_UNREADABLE
