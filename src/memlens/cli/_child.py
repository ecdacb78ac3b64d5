"""Starting a command as memlens's child, passing signals on to it, and recording it:
what `memlens run` and `memlens check` share.

Signals: the child stays in memlens's process group, so Ctrl-C at a terminal reaches it
directly, from the kernel, at the same moment as memlens; memlens then keeps recording
while the child shuts down. A signal sent to memlens alone (`kill -INT PID`, a service
manager stopping it) is passed on to the child. Everything memlens does meanwhile runs on
threads that have those signals blocked, and the main thread takes them synchronously
with `sigtimedwait`, which also says where each came from.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from memlens.cli._summary import short_name
from memlens.config import Settings
from memlens.errors import MemlensError, UsageError
from memlens.outside.redact import redact_cmdline
from memlens.probes import ProcessProbe, open_process
from memlens.store.files import existing_file
from memlens.watch.recorder import Recorder
from memlens.watch.sampler import SamplerConfig
from memlens.watch.session import Session

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)
SI_KERNEL = 0x80  # si_code of a signal the kernel sent (a terminal's Ctrl-C, Ctrl-\)
STOP_GRACE_S = 5.0  # how long a command stopped by SIGTERM or SIGHUP has to end


def start_child(command: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """The command, started (in `env`, else memlens's own environment); one that cannot
    start (not found, not executable) is a UsageError naming it."""
    try:
        return subprocess.Popen(command, env=env)
    except OSError as e:
        raise UsageError(f"cannot start {command[0]!r}: {e.strerror}") from None


@contextlib.contextmanager
def signals_held(child: subprocess.Popen[bytes]) -> Iterator[None]:
    """From here on, signals wait for the main thread's `wait_for`; threads started in
    the block inherit the blocked mask, the child (already started) does not. On the
    way out a child still running is killed, so memlens never leaves one behind."""
    signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)
    try:
        yield
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED)


def wait_for(child: subprocess.Popen[bytes], grace: float = STOP_GRACE_S) -> int:
    """Wait for the child, passing on signals that were meant for memlens alone.

    A SIGTERM or SIGHUP sent to memlens (a service manager stopping it) gives the child
    `grace` seconds to end after it is passed on; a child still running then is killed,
    so memlens itself ends, with the child's exit recorded, before the manager's own
    SIGKILL (`docker stop` waits 10 s) takes memlens down without an end to its recording.
    """
    deadline: float | None = None
    while True:
        code = child.poll()
        if code is not None:
            return code
        if deadline is not None and time.monotonic() >= deadline:
            child.kill()
            return child.wait()
        info = signal.sigtimedwait(FORWARDED, 0.1)
        if info is not None and info.si_code != SI_KERNEL:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.pid, info.si_signo)
            if info.si_signo in (signal.SIGTERM, signal.SIGHUP) and deadline is None:
                deadline = time.monotonic() + grace


def open_child(child: subprocess.Popen[bytes], **options: Any) -> ProcessProbe | None:
    """The probe of the command memlens started, or None when it has already ended (a
    command quicker than memlens's start, like `true`): its exit is still recorded, as
    the recording's, and memlens still exits with its code."""
    try:
        return open_process(child.pid, **options)
    except MemlensError:
        if child.poll() is None:
            raise
        return None


def marks_env(path: Path, env: dict[str, str] | None = None) -> dict[str, str]:
    """The command's environment naming the store it is recorded into, so that
    `memlens.mark(text)` in it reaches its recording (memlens.api.marks)."""
    out = dict(os.environ if env is None else env)
    out["MEMLENS_RECORDING_DB"] = str(path.resolve())
    return out


def shell_status(code: int) -> int:
    """A Popen return code as a shell reports it: 128 + N for a child killed by signal N."""
    return code if code >= 0 else 128 - code


def record_command(
    command: list[str], path: Path, *, interval: float, settings: Settings | None = None
) -> tuple[int, int]:
    """Run the command to its end, recording it and its descendants (with a summed
    series) into `path`. Returns (the Popen return code, the recording's id)."""
    existing_file(path, writing=True)  # a FIFO or a directory, before the command starts
    child = start_child(command, marks_env(path))
    with signals_held(child):
        shown = redact_cmdline(command)
        probe = open_child(child)
        recorder = Recorder.start(
            path, name=short_name(shown), command=shown, interval=interval, settings=settings
        )
        session = Session(
            SamplerConfig(interval=interval, children=True, final_round=True),
            [probe] if probe is not None else [],
            children_of_memlens=[child],
            recorder=recorder,
        )
        try:
            session.start()
            code = wait_for(child)
        except BaseException:
            session.stop()
            raise
        session.stop(exit_code=code)  # stopping runs the last round, which records the exit
        return code, recorder.recording_id
