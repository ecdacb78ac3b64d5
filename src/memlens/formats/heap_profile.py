"""The heap profile as typed, checked data: what `heap.profile` answers, what
`--format json` writes, what every other heap format is rendered from.

A profile comes from another process (an agent's answer) or a file, so `from_dict`
trusts nothing in it: each field's type, every number finite and in range, at most
20,000 stacks of at most 128 frames (plus the `[more frames]` that stands, at the root
of a stack cut short, for the frames past the agent's limit), strings of at most 4,096
characters (and no lone surrogate, which JSON can carry but UTF-8 cannot encode).
Anything else is one `BadHeapProfile` naming the field, never a KeyError or a
TypeError. Keys the model does not know are ignored, so a newer agent may add fields.
docs/formats.md has the schema.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import cast

from memlens.errors import BadHeapProfile, CorruptRecording, NotARecording
from memlens.formats.limits import MAX_BYTES_VALUE, check_depth, is_time, read_bounded
from memlens.model import (
    HEAP_FORMAT,
    HEAP_VERSION,
    Frame,
    HeapKind,
    HeapProfile,
    HeapSampler,
    Stack,
    sorted_stacks,
    stack_value,
)
from memlens.store.files import open_regular

# The plain types live in model.py, below every layer that reads them; named here too.
FORMAT = HEAP_FORMAT
VERSION = HEAP_VERSION
Kind = HeapKind
Sampler = HeapSampler
KINDS: tuple[Kind, ...] = ("inuse", "allocated", "growth")
SAMPLERS: tuple[Sampler, ...] = ("sampling", "tracemalloc")

MAX_STACKS = 20_000
MAX_FRAMES = 128
# A stack cut at max_frames starts with the agent's "[more frames]": one more.
MAX_STACK_FRAMES = MAX_FRAMES + 1
MORE_FRAMES = "[more frames]"
MAX_STRING = 4096
MAX_MARK_NAME = 64
MAX_INTERVAL_BYTES = 1 << 30
MAX_LINE = (1 << 31) - 1
MAX_PID = (1 << 31) - 1
# A JSON profile file: 20,000 stacks of 128 frames of ~100 bytes each is ~256 MB.
MAX_FILE_BYTES = 256 << 20
# {profile: {stacks: [{frames: [{frame}]}]}} is 5 levels deep.
MAX_FILE_DEPTH = 8

NO_PYTHON_FRAME = "[no Python frame]"

__all__ = [
    "FORMAT",
    "KINDS",
    "MAX_FRAMES",
    "MAX_STACKS",
    "MORE_FRAMES",
    "NO_PYTHON_FRAME",
    "SAMPLERS",
    "VERSION",
    "Frame",
    "HeapProfile",
    "Kind",
    "Sampler",
    "Stack",
    "dump_json",
    "from_dict",
    "load_json",
    "read_profile",
    "sorted_stacks",
    "stack_value",
]


def dump_json(profile: HeapProfile) -> bytes:
    """The `--format json` file: the spec's object, compact, one line."""
    return json.dumps(profile.to_dict(), separators=(",", ":"), allow_nan=False).encode() + b"\n"


def read_profile(path: str | Path) -> HeapProfile:
    """A JSON profile file, read within MAX_FILE_BYTES and MAX_FILE_DEPTH and checked:
    a hostile file is one line (BadHeapProfile, CorruptRecording or NotARecording)."""
    path = Path(path)
    try:
        with open_regular(path) as f:  # a FIFO would block
            data = read_bounded(path, f, MAX_FILE_BYTES)
    except IsADirectoryError:
        raise NotARecording(f"{path} is a directory, not a heap profile") from None
    except FileNotFoundError:
        raise NotARecording(f"{path} does not exist") from None
    except OSError as e:
        raise NotARecording(f"{path} cannot be read: {e.strerror or e}") from None
    return load_json(data, str(path))


def load_json(data: bytes, source: str) -> HeapProfile:
    """The profile in the bytes of a JSON file (see read_profile)."""
    check_depth(data, source, MAX_FILE_DEPTH)
    try:
        obj = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as e:
        raise CorruptRecording(f"{source} is not valid JSON ({e})") from None
    return from_dict(obj, source)


def from_dict(obj: object, source: str = "the heap profile") -> HeapProfile:
    """The profile in `obj` (parsed JSON from an agent or a file), every field checked;
    BadHeapProfile naming the first field that is wrong."""
    return _Reader(source).profile(obj)


# -- checking ------------------------------------------------------------------------------


class _Reader:
    """Checks one profile; frames seen before are shared, as stacks repeat them."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.frames: dict[tuple[str, str, int], Frame] = {}

    def fail(self, where: str, why: str) -> BadHeapProfile:
        return BadHeapProfile(f"{self.source} is not a valid heap profile: {where} {why}")

    def profile(self, obj: object) -> HeapProfile:
        d = self.mapping(obj, "it")
        fmt = d.get("format")
        if fmt != FORMAT:
            raise self.fail("format", f"is not {FORMAT!r}")
        version = self.integer(d, "version", 1, 1 << 31)
        if version > VERSION:
            raise self.fail(
                "version", f"is {version}, from a newer memlens (this one reads {VERSION})"
            )
        kind = cast(Kind, self.choice(d, "kind", KINDS))
        signed = kind == "growth"
        since_mark = d.get("since_mark")
        if since_mark is not None:
            since_mark = self.string(since_mark, "since_mark", MAX_MARK_NAME)
            if not since_mark:
                raise self.fail("since_mark", "is empty")
        stacks = d.get("stacks")
        if not isinstance(stacks, list):
            raise self.fail("stacks", "is not a list")
        if len(stacks) > MAX_STACKS:
            raise self.fail("stacks", f"holds {len(stacks):,} stacks, over {MAX_STACKS:,}")
        return HeapProfile(
            kind=kind,
            sampler=cast(Sampler, self.choice(d, "sampler", SAMPLERS)),
            interval_bytes=self.integer(d, "interval_bytes", 0, MAX_INTERVAL_BYTES),
            max_frames=self.integer(d, "max_frames", 1, MAX_FRAMES),
            pid=self.integer(d, "pid", 1, MAX_PID),
            time=self.time(d, "time"),
            start=self.time(d, "start"),
            since=self.time(d, "since"),
            since_mark=since_mark,
            inuse_bytes=self.number(d, "inuse_bytes", signed),
            inuse_count=self.number(d, "inuse_count", signed),
            alloc_bytes=self.number(d, "alloc_bytes", False),
            alloc_count=self.number(d, "alloc_count", False),
            samples=self.integer(d, "samples", 0, 1 << 62),
            stacks=tuple(self.stack(s, f"stacks[{i}]", signed) for i, s in enumerate(stacks)),
            truncated=self.integer(d, "truncated", 0, 1 << 62),
        )

    def stack(self, obj: object, where: str, signed: bool) -> Stack:
        d = self.mapping(obj, where)
        frames = d.get("frames")
        if not isinstance(frames, list):
            raise self.fail(f"{where}.frames", "is not a list")
        if len(frames) > MAX_STACK_FRAMES:
            raise self.fail(
                f"{where}.frames", f"holds {len(frames)} frames, over {MAX_STACK_FRAMES}"
            )
        return Stack(
            frames=tuple(self.frame(f, f"{where}.frames[{i}]") for i, f in enumerate(frames)),
            inuse_bytes=self.number(d, "inuse_bytes", signed, where),
            inuse_count=self.number(d, "inuse_count", signed, where),
            alloc_bytes=self.number(d, "alloc_bytes", False, where),
            alloc_count=self.number(d, "alloc_count", False, where),
        )

    def frame(self, obj: object, where: str) -> Frame:
        d = self.mapping(obj, where)
        function = self.string(d.get("function"), f"{where}.function", MAX_STRING)
        file = self.string(d.get("file"), f"{where}.file", MAX_STRING)
        line = self.integer(d, "line", 0, MAX_LINE, where)
        key = (function, file, line)
        found = self.frames.get(key)
        if found is None:
            found = self.frames[key] = Frame(function, file, line)
        return found

    # -- one value each

    def mapping(self, obj: object, where: str) -> Mapping[str, object]:
        if not isinstance(obj, dict):
            raise self.fail(where, f"is {_kind_of(obj)}, not an object")
        return obj

    def string(self, value: object, where: str, limit: int) -> str:
        if not isinstance(value, str):
            raise self.fail(where, f"is {_kind_of(value)}, not a string")
        if len(value) > limit:
            raise self.fail(where, f"is longer than {limit:,} characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise self.fail(where, "holds a lone surrogate (not a character)") from None
        return value

    def choice(self, d: Mapping[str, object], key: str, allowed: tuple[str, ...]) -> str:
        value = d.get(key)
        if not isinstance(value, str) or value not in allowed:
            raise self.fail(key, f"is not one of {', '.join(allowed)}")
        return value

    def integer(
        self, d: Mapping[str, object], key: str, low: int, high: int, where: str = ""
    ) -> int:
        value = d.get(key)
        name = f"{where}.{key}" if where else key
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.fail(name, f"is {_kind_of(value)}, not an integer")
        if not low <= value <= high:
            raise self.fail(name, f"is {value}, outside {low}..{high}")
        return value

    def number(self, d: Mapping[str, object], key: str, signed: bool, where: str = "") -> float:
        value = d.get(key)
        name = f"{where}.{key}" if where else key
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise self.fail(name, f"is {_kind_of(value)}, not a number")
        number = float(value) if abs(value) < MAX_BYTES_VALUE else math.inf
        if not math.isfinite(number) or abs(number) >= MAX_BYTES_VALUE:
            raise self.fail(name, "is not a finite number within 64 bits")
        if number < 0 and not signed:
            raise self.fail(name, "is negative")
        return number

    def time(self, d: Mapping[str, object], key: str) -> float:
        value = d.get(key)
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise self.fail(key, f"is {_kind_of(value)}, not a time")
        if not is_time(float(value) if abs(value) < MAX_BYTES_VALUE else math.inf):
            raise self.fail(key, "is not a time (finite, from 1970 to 9999)")
        return float(value)


def _kind_of(value: object) -> str:
    if value is None:
        return "missing or null"
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
    names.update({list: "a list", dict: "an object"})
    return names.get(type(value), "not JSON")
