"""The heap profile as pprof's profile.proto, gzipped: what `go tool pprof`, Pyroscope,
Grafana and speedscope open.

A hand-written encoder of the few messages a heap profile needs (profile.proto from
github.com/google/pprof, proto3: varints, length-delimited fields, packed repeated
integers), so memlens needs no protobuf package. What goes in (docs/formats.md):

- sample types alloc_objects/count, alloc_space/bytes, inuse_objects/count,
  inuse_space/bytes, in the order Go's heap profile uses; the default sample type is
  inuse_space, or alloc_space for kind `allocated` (as Go's `allocs` profile);
- period_type space/bytes, period = the sampling interval (0 for the exact tracemalloc
  profile); time_nanos = the window's start, duration_nanos = the window's length;
- one Mapping, `python`, flagged as having functions, files and line numbers (so pprof
  does not try to symbolize addresses; there are none);
- one Function per (name, file) with its full path, one Location per (function, line)
  holding one Line; a sample's locations run LEAF FIRST, as pprof requires (the
  profile's frames run root first). A stack with no Python frame gets the one
  function `[no Python frame]`;
- values are integers: each estimate rounded. In a growth profile the inuse values are
  signed (pprof reads negative values as shrinkage, as in its -diff_base).
"""

from __future__ import annotations

import gzip

from memlens.formats.heap_profile import NO_PYTHON_FRAME, HeapProfile, Stack

SAMPLE_TYPES = (
    ("alloc_objects", "count"),
    ("alloc_space", "bytes"),
    ("inuse_objects", "count"),
    ("inuse_space", "bytes"),
)
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
_U64 = (1 << 64) - 1

# Field numbers of profile.proto.
_PROFILE_SAMPLE_TYPE = 1
_PROFILE_SAMPLE = 2
_PROFILE_MAPPING = 3
_PROFILE_LOCATION = 4
_PROFILE_FUNCTION = 5
_PROFILE_STRING_TABLE = 6
_PROFILE_TIME_NANOS = 9
_PROFILE_DURATION_NANOS = 10
_PROFILE_PERIOD_TYPE = 11
_PROFILE_PERIOD = 12
_PROFILE_COMMENT = 13
_PROFILE_DEFAULT_SAMPLE_TYPE = 14
_VALUE_TYPE_TYPE, _VALUE_TYPE_UNIT = 1, 2
_SAMPLE_LOCATION_ID, _SAMPLE_VALUE = 1, 2
_LOCATION_ID, _LOCATION_MAPPING_ID, _LOCATION_LINE = 1, 2, 4
_MAPPING_ID, _MAPPING_FILENAME = 1, 5
_MAPPING_HAS_FUNCTIONS, _MAPPING_HAS_FILENAMES, _MAPPING_HAS_LINE_NUMBERS = 7, 8, 9
_MAPPING = 1  # the one mapping: the Python program, already symbolized
_LINE_FUNCTION_ID, _LINE_LINE = 1, 2
_FUNCTION_ID, _FUNCTION_NAME, _FUNCTION_SYSTEM_NAME, _FUNCTION_FILENAME = 1, 2, 3, 4

_VARINT, _LEN = 0, 2


def dump_pprof(profile: HeapProfile) -> bytes:
    """The gzipped profile.proto of `profile` (deterministic: no time in the gzip header)."""
    return gzip.compress(encode_profile(profile), compresslevel=6, mtime=0)


def encode_profile(profile: HeapProfile) -> bytes:
    """The profile.proto message, not compressed."""
    table = _Table()
    out = bytearray()
    for name, unit in SAMPLE_TYPES:
        _message(out, _PROFILE_SAMPLE_TYPE, _value_type(table, name, unit))
    for stack in profile.stacks:
        values = _values(stack)
        if any(values):
            sample = bytearray()
            ids = [table.location(f.function, f.file, f.line) for f in reversed(stack.frames)]
            _packed(sample, _SAMPLE_LOCATION_ID, ids or [table.location(NO_PYTHON_FRAME, "", 0)])
            _packed(sample, _SAMPLE_VALUE, values)
            _message(out, _PROFILE_SAMPLE, sample)
    _message(out, _PROFILE_MAPPING, _mapping(table))
    for location in table.locations:
        _message(out, _PROFILE_LOCATION, location)
    for function in table.functions:
        _message(out, _PROFILE_FUNCTION, function)
    _int(out, _PROFILE_TIME_NANOS, _nanos(profile.since))
    _int(out, _PROFILE_DURATION_NANOS, _nanos(profile.duration))
    _message(out, _PROFILE_PERIOD_TYPE, _value_type(table, "space", "bytes"))
    _int(out, _PROFILE_PERIOD, profile.interval_bytes)
    for comment in _comments(profile):
        _int(out, _PROFILE_COMMENT, table.string(comment), always=True)
    default = "alloc_space" if profile.kind == "allocated" else "inuse_space"
    _int(out, _PROFILE_DEFAULT_SAMPLE_TYPE, table.string(default))
    for text in table.strings:  # last: every other part has added its strings
        _bytes(out, _PROFILE_STRING_TABLE, text.encode("utf-8"))
    return bytes(out)


class _Table:
    """The string table ("" first, as profile.proto requires), functions and locations,
    each numbered in order of first use (ids from 1)."""

    def __init__(self) -> None:
        self.strings: list[str] = [""]
        self._string_ids: dict[str, int] = {"": 0}
        self.functions: list[bytes] = []
        self._function_ids: dict[tuple[str, str], int] = {}
        self.locations: list[bytes] = []
        self._location_ids: dict[tuple[int, int], int] = {}

    def string(self, text: str) -> int:
        found = self._string_ids.get(text)
        if found is None:
            found = self._string_ids[text] = len(self.strings)
            self.strings.append(text)
        return found

    def function(self, name: str, file: str) -> int:
        found = self._function_ids.get((name, file))
        if found is None:
            found = self._function_ids[(name, file)] = len(self.functions) + 1
            message = bytearray()
            _int(message, _FUNCTION_ID, found)
            _int(message, _FUNCTION_NAME, self.string(name))
            _int(message, _FUNCTION_SYSTEM_NAME, self.string(name))
            _int(message, _FUNCTION_FILENAME, self.string(file))
            self.functions.append(bytes(message))
        return found

    def location(self, name: str, file: str, line: int) -> int:
        function = self.function(name, file)
        found = self._location_ids.get((function, line))
        if found is None:
            found = self._location_ids[(function, line)] = len(self.locations) + 1
            entry = bytearray()
            _int(entry, _LINE_FUNCTION_ID, function)
            _int(entry, _LINE_LINE, line)
            message = bytearray()
            _int(message, _LOCATION_ID, found)
            _int(message, _LOCATION_MAPPING_ID, _MAPPING)
            _message(message, _LOCATION_LINE, entry)
            self.locations.append(bytes(message))
        return found


def _values(stack: Stack) -> list[int]:
    """The sample's values in SAMPLE_TYPES order, rounded to int64."""
    raw = (stack.alloc_count, stack.alloc_bytes, stack.inuse_count, stack.inuse_bytes)
    return [min(_INT64_MAX, max(_INT64_MIN, round(v))) for v in raw]


def _comments(profile: HeapProfile) -> list[str]:
    words = [f"memlens heap profile, kind {profile.kind}, sampler {profile.sampler}"]
    words.append(f"pid {profile.pid}")
    if profile.since_mark is not None:
        words.append(f"since mark {profile.since_mark}")
    if profile.truncated:
        words.append(f"{profile.truncated} stacks left out")
    return words


def _nanos(seconds: float) -> int:
    return min(_INT64_MAX, max(0, round(seconds * 1e9)))


def _mapping(table: _Table) -> bytes:
    """One mapping that says its functions, files and lines are known, so that pprof
    does not look for a binary to symbolize the addresses (there are none)."""
    message = bytearray()
    _int(message, _MAPPING_ID, _MAPPING)
    _int(message, _MAPPING_FILENAME, table.string("python"))
    for flag in (_MAPPING_HAS_FUNCTIONS, _MAPPING_HAS_FILENAMES, _MAPPING_HAS_LINE_NUMBERS):
        _int(message, flag, 1)
    return bytes(message)


def _value_type(table: _Table, name: str, unit: str) -> bytes:
    message = bytearray()
    _int(message, _VALUE_TYPE_TYPE, table.string(name))
    _int(message, _VALUE_TYPE_UNIT, table.string(unit))
    return bytes(message)


# -- protobuf wire format ---------------------------------------------------------------


def _varint(out: bytearray, value: int) -> None:
    """A base-128 varint; a negative int64 as its 64-bit two's complement (10 bytes)."""
    value &= _U64
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def _int(out: bytearray, field: int, value: int, *, always: bool = False) -> None:
    """An integer field; proto3 leaves a zero out (its default) unless `always` (an
    element of a repeated field, which has no default)."""
    if value or always:
        _varint(out, field << 3 | _VARINT)
        _varint(out, value)


def _bytes(out: bytearray, field: int, data: bytes | bytearray) -> None:
    _varint(out, field << 3 | _LEN)
    _varint(out, len(data))
    out += data


def _message(out: bytearray, field: int, message: bytes | bytearray) -> None:
    _bytes(out, field, message)


def _packed(out: bytearray, field: int, values: list[int]) -> None:
    body = bytearray()
    for value in values:
        _varint(body, value)
    _bytes(out, field, body)
