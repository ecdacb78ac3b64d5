"""The marks a program sets (`memlens.mark("batch 2")`) while its agent runs, kept for a
viewer to read: a bounded ring, numbered, so that memlens's poller asks only for those
it has not seen (the `marks` op) when the `stats` it polls says there are new ones.

The agent stays scrape-only: the program writes here, a viewer reads; nothing a viewer
sends is run. Only C modules are used (`_thread`, `time`), so importing this from the
host costs it nothing it would not have.
"""

from __future__ import annotations

import _thread
import time

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from typing import Any

MAX_MARKS = 64  # kept; a viewer that polls less often than they come loses the oldest
MAX_TEXT = 1000  # characters of one mark's text
MAX_PATH = 4096  # characters of the path of the store a mark is already written to
MAX_PATH = 4096  # characters of the path of the store a mark is already written to

_lock = _thread.allocate_lock()
_ring: list[dict[str, Any]] = []
_last = 0  # the number of the newest mark; 0 before the first


def add(text: str, when: float | None = None, recorded_in: str | None = None) -> int:
    """Keep a mark; its number (1, 2, ...). `recorded_in`: the store it is already
    written to (the one `memlens run` names in MEMLENS_RECORDING_DB), or None."""
    global _last
    entry: dict[str, Any] = {"time": time.time() if when is None else when}
    entry["text"] = str(text)[:MAX_TEXT]
    if recorded_in is not None:
        entry["recorded_in"] = str(recorded_in)[:MAX_PATH]
    with _lock:
        _last += 1
        entry["seq"] = _last
        _ring.append(entry)
        if len(_ring) > MAX_MARKS:
            del _ring[: len(_ring) - MAX_MARKS]
        return _last


def last() -> int:
    """The number of the newest mark (what `stats` reports as `marks.last`)."""
    return _last


def since(after: int) -> dict[str, Any]:
    """The marks kept whose number is above `after`, oldest first."""
    with _lock:
        return {"last": _last, "marks": [dict(m) for m in _ring if m["seq"] > after]}


def clear() -> None:
    """Forget every mark; for tests."""
    global _last
    with _lock:
        del _ring[:]
        _last = 0


def after_fork_in_child() -> None:
    """A forked child starts with no marks, and a lock no thread of its own holds."""
    global _lock, _last
    _lock = _thread.allocate_lock()
    del _ring[:]
    _last = 0
