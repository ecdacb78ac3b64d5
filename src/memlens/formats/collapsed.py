"""Brendan Gregg's folded ("collapsed") stacks: the text that flamegraph.pl, speedscope,
inferno and most flame-graph tools read.

One line per stack: its frames ROOT FIRST joined by `;`, one space, and an integer (the
stack's bytes, rounded). Each frame is `function (file:line)`, e.g.
`handle (app.py:42)`. The rules (docs/formats.md, "Heap profiles"):

- The value is the in-use bytes; for kind `allocated` the allocated bytes; for kind
  `growth` the growth, and only stacks that grew. Stacks that round to 0 or less are
  left out. Lines run from the largest value down. Each stack is one line: two
  stacks print alike only when their frames are the same, and those are summed.
- `file` is shortened, the same way for every frame of a profile: a library's file is
  its path after the last `site-packages/`, `dist-packages/` or `lib/pythonX.Y/`
  (`json/decoder.py`, `requests/models.py`); every other absolute path is relative to
  the longest directory all of them share (`app.py`, `lib/db.py`), so a profile of one
  file shows its basename. Only the stacks written count. A path that is not absolute (`<string>`,
  `<frozen importlib._bootstrap>`) stays as it is, and two files that would shorten to
  the same name keep their full paths.
- Names come from the profiled process, so they are escaped: `%`, `;`, every
  whitespace character (space, tab, newline, the Unicode separators) and every
  character that does not stand for itself on a screen (controls, bidi and other format
  characters) are written as percent-encoded UTF-8 (`%3B`, `%20`, `%0A`, `%E2%80%AE`).
  A line is then one line, `;` only ever separates frames, and the only space in a
  frame is the one before `(`. `read_collapsed` and `parse_frame` undo it exactly.
- A stack with no Python frame is the one frame `[no Python frame]` (a real function of
  that name would be written `[no%20Python%20frame]`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote

from memlens.errors import BadHeapProfile
from memlens.formats.heap_profile import (
    MAX_LINE,
    MAX_STACK_FRAMES,
    MAX_STACKS,
    NO_PYTHON_FRAME,
    Frame,
    HeapProfile,
    stack_value,
)
from memlens.outside.visible import hidden

FolderStack = tuple[tuple[str, ...], int]

# Where an installed library's own path starts.
_LIBRARY = re.compile(r".*[/\\](?:site-packages|dist-packages|lib[/\\]python\d+\.\d+)[/\\]")
_SEPARATORS = re.compile(r"[/\\]")
_LINE = re.compile(r"^(.*) (-?[0-9]+)$", re.DOTALL)
# A line of a collapsed file: 128 frames of two 4,096-character names, escaped (x9).
_MAX_LINE_CHARS = MAX_STACK_FRAMES * (2 * 4096 * 9 + 32)


def write_collapsed(profile: HeapProfile) -> str:
    """The profile as folded stacks (one line each, newline-terminated). Files are
    shortened over the stacks written only, so a stack left out changes no name."""
    totals: dict[tuple[Frame, ...], float] = {}
    for stack in profile.stacks:
        totals[stack.frames] = totals.get(stack.frames, 0.0) + stack_value(stack, profile.kind)
    rows = [(frames, round(value)) for frames, value in totals.items()]
    rows = sorted((r for r in rows if r[1] > 0), key=lambda r: -r[1])
    short = short_files(f.file for frames, _ in rows for f in frames)
    lines = []
    for frames, value in rows:
        labels = [frame_label(f, short[f.file]) for f in frames] or [NO_PYTHON_FRAME]
        lines.append(f"{';'.join(labels)} {value}\n")
    return "".join(lines)


def frame_label(frame: Frame, short_file: str | None = None) -> str:
    """`function (file:line)`, escaped; `short_file` is the file as `short_files` shows it."""
    file = frame.file if short_file is None else short_file
    return f"{escape(frame.function)} ({escape(file)}:{frame.line})"


def parse_frame(label: str) -> Frame | None:
    """The frame a label names, unescaped (its file as the label shows it); None for
    `[no Python frame]`; BadHeapProfile when it is not a label."""
    if label == NO_PYTHON_FRAME:
        return None
    function, sep, rest = label.partition(" (")
    file, colon, line = rest[:-1].rpartition(":")
    if not sep or not rest.endswith(")") or not colon or not _is_line(line):
        raise BadHeapProfile(f"{label[:200]!r} is not a frame (function (file:line))")
    return Frame(unescape(function), unescape(file), int(line))


def read_collapsed(
    text: str, source: str = "the collapsed stacks", *, max_lines: int = MAX_STACKS
) -> list[FolderStack]:
    """The (frames, value) of each line of a collapsed file, frames root first and
    still escaped (parse_frame reads one). Blank lines are skipped; anything else that
    is not `frame;frame value` is BadHeapProfile naming the line."""
    rows: list[FolderStack] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if len(rows) >= max_lines:
            raise BadHeapProfile(f"{source} holds more than {max_lines:,} stacks")
        if len(line) > _MAX_LINE_CHARS:
            raise BadHeapProfile(f"{source}, line {number}: too long")
        m = _LINE.match(line)
        if m is None:
            raise BadHeapProfile(f"{source}, line {number}: no ' VALUE' at its end")
        frames = tuple(m.group(1).split(";"))
        if len(frames) > MAX_STACK_FRAMES or not all(frames):
            raise BadHeapProfile(
                f"{source}, line {number}: an empty frame or more than {MAX_STACK_FRAMES} frames"
            )
        rows.append((frames, int(m.group(2))))
    return rows


def short_files(files: Iterable[str]) -> dict[str, str]:
    """Each file's shortened name (the rules in the module's docstring)."""
    unique = set(files)
    short: dict[str, str] = {}
    local: list[str] = []
    for file in unique:
        m = _LIBRARY.match(file)
        if m is not None and m.end() < len(file):
            short[file] = file[m.end() :]
        elif file.startswith("/") or re.match(r"^[A-Za-z]:[/\\]", file):
            local.append(file)
        else:
            short[file] = file
    if local:
        parts = [_SEPARATORS.split(f) for f in local]
        common = 0
        shortest = min(len(p) for p in parts) - 1  # the file name itself always stays
        while common < shortest and all(p[common] == parts[0][common] for p in parts):
            common += 1
        for file, split in zip(local, parts, strict=True):
            # A path that is all directory ("/") would shorten to nothing: it stays whole.
            short[file] = "/".join(split[common:]) or file
    seen: dict[str, int] = {}
    for name in short.values():
        seen[name] = seen.get(name, 0) + 1
    return {f: (name if seen[name] == 1 else f) for f, name in short.items()}


def escape(name: str) -> str:
    """`name` with `%`, `;`, whitespace and hidden characters percent-encoded."""
    if name.isprintable() and not any(ch in name for ch in "%; "):
        return name
    return "".join(_quote(ch) if _special(ch) else ch for ch in name)


def unescape(name: str) -> str:
    try:
        return unquote(name, errors="strict")
    except UnicodeDecodeError:
        raise BadHeapProfile(f"{name[:200]!r} holds a percent escape that is not UTF-8") from None


def _special(ch: str) -> bool:
    return ch in "%;" or ch.isspace() or hidden(ch)


def _quote(ch: str) -> str:
    return "".join(f"%{b:02X}" for b in ch.encode("utf-8", "surrogatepass"))


def _is_line(text: str) -> bool:
    return text.isascii() and text.isdigit() and int(text) <= MAX_LINE
