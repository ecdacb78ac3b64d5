"""The fixed, short Python statement that an attach runs inside the target.

It carries no text from outside as code: memlens's install directory travels as hex
digits of its bytes and the heap interval as an integer, so no path (with quotes,
backslashes, newlines or anything else) can change what runs, at any of the three levels
it passes through (gdb's C string, Python's source, the directory name). The statement
is `exec`uted in a fresh namespace, so the program's `__main__` gains no names.
"""

from __future__ import annotations

import os
import string
from pathlib import Path

# The directory that holds the memlens package (src/ of a checkout, or site-packages).
MEMLENS_HOME = Path(__file__).resolve().parents[2]

_BODY = """\
import sys
home = bytes.fromhex('{home_hex}').decode(sys.getfilesystemencoding(), 'surrogateescape')
added = home not in sys.path
if added:
    sys.path.insert(0, home)
try:
    from memlens.agent import _attached
finally:
    if added and home in sys.path:
        sys.path.remove(home)
runtime = bytes.fromhex('{runtime_hex}').decode(sys.getfilesystemencoding(), 'surrogateescape')
_attached.run({heap_interval}, runtime or None)
"""
# What the statement may contain: anything else means a bug here, not an input.
_ALLOWED = frozenset(string.ascii_letters + string.digits + "_.(),'{}: ")


def body(
    heap_interval: int = 0, home: Path | str = MEMLENS_HOME, runtime: Path | str | None = None
) -> str:
    """The start-up code itself (what sys.remote_exec runs from a file). `runtime` is the
    directory the agent registers in: the attaching viewer's, so that it finds the agent
    even where the process's environment names another (or none)."""
    if not isinstance(heap_interval, int) or isinstance(heap_interval, bool) or heap_interval < 0:
        raise ValueError("heap_interval is a number of bytes, 0 for none")
    runtime_hex = os.fsencode(str(runtime)).hex() if runtime is not None else ""
    return _BODY.format(
        home_hex=os.fsencode(str(home)).hex(),
        heap_interval=int(heap_interval),
        runtime_hex=runtime_hex,
    )


def statement(
    heap_interval: int = 0, home: Path | str = MEMLENS_HOME, runtime: Path | str | None = None
) -> str:
    """One line for PyRun_SimpleString: exec of `body` from hex, in a namespace of its
    own. Builtins are reached through `__import__('builtins')`, not by name, in case the
    program's `__main__` rebinds `exec` or `bytes`."""
    code = body(heap_interval, home, runtime).encode("utf-8").hex()
    line = (
        "__import__('builtins').exec(__import__('builtins').bytes.fromhex('"
        + code
        + "'),{'__name__':'memlens_attach'})"
    )
    if not set(line) <= _ALLOWED:  # pragma: no cover (a bug, never an input)
        raise AssertionError("the attach statement holds a character it must not")
    return line
