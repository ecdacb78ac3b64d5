"""The stacks a leak grew in, as words: a frame as 'remember (app/cache.py:12)' and its
callers as 'serve < main', cut to a width. One wording for the alert's text, the
reports and `memlens top`.

The stacks come from the alert's `heap_growth` field (docs/protocol.md), made by
memlens.watch.heap_history from the heap profiler's in-use profiles. Their text is the
profiled process's own: these functions return it raw, and the caller makes it safe for
where it is shown (`memlens.outside.visible`, HTML escaping). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

# One frame as (function, file, line); a stack runs root first, the allocating frame last.
Frame = tuple[str, str, int]
Stack = tuple[Frame, ...]

NO_FRAME = "[no Python frame]"
MAX_NAME = 200  # characters kept of a function's name when read from a stack
MAX_PATH = 400  # characters kept of a file's path


def short_path(path: str) -> str:
    """The last two parts of a path: enough to find the file, short enough to fit."""
    return "/".join(path.replace("\\", "/").split("/")[-2:])


def frame_text(function: object, file: object, line: object) -> str:
    """'grow (app/leaky.py:12)', or '[no Python frame]'."""
    if function is None and file is None:
        return NO_FRAME
    where = short_path(str(file or "?"))
    return f"{function or '?'} ({where}:{line if line is not None else '?'})"


def stack_text(entry: Mapping[str, Any]) -> str:
    """The allocating frame of one of `heap_growth`'s stacks."""
    return frame_text(entry.get("function"), entry.get("file"), entry.get("line"))


def frames_of(entry: Mapping[str, Any]) -> Stack:
    """The frames of one of `heap_growth`'s stacks as tuples."""
    raw = entry.get("frames")
    listed = raw if isinstance(raw, list) else []
    return tuple(_frame(f) for f in listed if isinstance(f, Mapping))


def callers_text(frames: Sequence[Frame], depth: int, width: int) -> str:
    """The callers of the allocating frame (the last), nearest first, joined by ' < '
    and cut to about `width` characters ('…' where cut, or where the stack was deeper
    than its frames kept): 'handle < serve < main'."""
    names = [function for function, _, _ in reversed(frames[:-1])]
    if depth > len(frames):
        names.append("…")
    out = ""
    for name in names:
        piece = name if not out else f"{out} < {name}"
        if len(piece) > width:
            return f"{out} < …" if out else "…"
        out = piece
    return out


def _frame(raw: Mapping[str, Any]) -> Frame:
    line = raw.get("line")
    return (
        str(raw.get("function") or "?")[:MAX_NAME],
        str(raw.get("file") or "?")[:MAX_PATH],
        line if isinstance(line, int) and not isinstance(line, bool) else 0,
    )
