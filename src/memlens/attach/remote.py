"""Starting the agent inside a running CPython 3.14+ through `sys.remote_exec` (PEP 768).

The interpreter itself runs the script at its next safe point, on the main thread, with
no debugger stopping the process: memlens writes the fixed bootstrap to a file in its
private runtime directory (0700, the process's user's, since memlens attaches only to its
own user's processes), asks for it to be run, and removes the file once the agent has
answered or the wait is over. Both Pythons must be 3.14 or later; memlens on an older
Python uses gdb instead.

Not run by this project's tests: no Python 3.14 was at hand where they were written.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
from pathlib import Path

from memlens.agent import registry
from memlens.attach import bootstrap
from memlens.errors import AttachBlocked, AttachUnsupported, TargetGone

DISABLED = (
    "remote debugging is switched off in PID {pid} (PYTHON_DISABLE_REMOTE_DEBUG=1, "
    "-X disable-remote-debug, or a build --without-remote-debug); restart it without that "
    "setting, or start the agent with `memlens run --agent`"
)


def available() -> bool:
    return hasattr(sys, "remote_exec")


def write_script(heap_interval: int) -> Path:
    """The bootstrap as a file only this user can read, in the private runtime directory."""
    directory = registry.runtime_dir()
    path = directory / f"attach-{secrets.token_hex(8)}.py"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(bootstrap.body(heap_interval, runtime=str(directory)))
    return path


def inject(pid: int, script: Path) -> None:
    """Asks `pid` to run `script` at its next safe point; the caller waits for the agent
    and removes the script afterwards."""
    remote_exec = getattr(sys, "remote_exec", None)
    if remote_exec is None:  # pragma: no cover (the caller checks `available`)
        raise AttachUnsupported("this Python has no sys.remote_exec (3.14 and later have it)")
    try:
        remote_exec(pid, os.fspath(script))
    except ProcessLookupError:
        raise TargetGone(f"PID {pid} exited during the attach") from None
    except PermissionError as exc:
        raise AttachBlocked(
            f"the kernel refused to let memlens read PID {pid}'s memory ({exc.strerror or exc}); "
            "see kernel.yama.ptrace_scope, or CAP_SYS_PTRACE in a container"
        ) from None
    except (RuntimeError, OSError) as exc:
        text = str(exc)
        if "disabled" in text.lower() or "not enabled" in text.lower():
            raise AttachUnsupported(DISABLED.format(pid=pid)) from None
        raise AttachUnsupported(f"sys.remote_exec could not reach PID {pid}: {text}") from None


def remove_script(script: Path) -> None:
    with contextlib.suppress(OSError):
        script.unlink()
