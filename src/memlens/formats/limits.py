"""Bounds on what a file from outside may make memlens do, checked before the work.

An export or a CSV comes from anywhere (mailed, downloaded, written by another tool), so
every size in it is a claim, not a fact: the file's length, how far it inflates, how deep
its JSON nests, how many values a header says follow. Each is checked against a fixed
ceiling, or against what the bytes actually present can hold, before memory is spent on
it; going past one is a `CorruptRecording` naming the file (exit 2), never a
MemoryError, a RecursionError or a traceback. docs/formats.md lists the ceilings.
"""

from __future__ import annotations

import math
import os
import re
import zlib
from pathlib import Path
from typing import BinaryIO

from memlens.errors import CorruptRecording

MAX_INPUT_BYTES = 1 << 30  # a file to import or analyze: 1 GiB (a month at 1 Hz is ~30 MB)
MAX_INFLATED_BYTES = 1 << 30  # a binary export's inflated body: 1 GiB
MAX_HEADER_BYTES = 64 << 20  # a binary export's JSON header: 64 MiB
MAX_DEPTH = 64  # JSON nesting: an export needs 4 levels plus what an event's data holds
MAX_TEXT = 1 << 20  # one string: 1 MiB (a command line is at most 2 MiB on Linux)
MAX_TIME = 253_402_300_799.0  # 9999-12-31T23:59:59Z, the last second datetime can show
MAX_BYTES_VALUE = float(1 << 63)  # a memory size, a count: SQLite's signed 64-bit range
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1

_CHUNK = 1 << 16
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_OPEN, _CLOSE = frozenset(b"[{"), frozenset(b"]}")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def read_bounded(path: Path, f: BinaryIO, limit: int = MAX_INPUT_BYTES) -> bytes:
    """The whole of an open file, refused before reading when larger than `limit`."""
    size = os.fstat(f.fileno()).st_size
    if size > limit:
        raise CorruptRecording(f"{path} is {size:,} bytes, over the {limit:,}-byte limit")
    # Read what fstat said plus one byte, not `limit + 1`: `read(n)` sets aside n bytes
    # before it reads, and a 1 GiB reservation for a 1 KB file fails under a memory
    # limit. A file that grew since fstat (or a pipe) is read on, up to the limit.
    chunks = [f.read(size + 1)]
    total = len(chunks[0])
    while total > size and total <= limit:
        chunk = f.read(min(1 << 20, limit + 1 - total))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    if total > limit:
        raise CorruptRecording(f"{path} is over the {limit:,}-byte limit")
    return b"".join(chunks) if len(chunks) > 1 else chunks[0]


def check_depth(data: bytes | str, source: str, limit: int = MAX_DEPTH) -> None:
    """Refuse JSON that nests deeper than `limit`, before `json.loads` recurses into it.
    Strings are cut out first so that brackets inside them do not count; what is left
    is then only the brackets, which a file of numbers has few of."""
    if too_deep(data, limit):
        raise CorruptRecording(
            f"{source} nests JSON deeper than {limit} levels; a memlens export does not"
        )


def too_deep(data: bytes | str, limit: int = MAX_DEPTH) -> bool:
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS)
    depth = 0
    for byte in brackets:
        if byte in _OPEN:
            depth += 1
            if depth > limit:
                return True
        elif byte in _CLOSE:
            depth -= 1
    return False


def check_text(value: str, where: str, source: str, limit: int = MAX_TEXT) -> str:
    """A string that SQLite and a terminal can take: bounded, and no lone surrogate
    (which JSON's `\\udc80` escape can carry but UTF-8 cannot encode)."""
    if len(value) > limit:
        raise CorruptRecording(
            f"{source} is a damaged memlens export: {where} is longer than {limit:,} characters"
        )
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise CorruptRecording(
            f"{source} is a damaged memlens export: {where} holds a lone surrogate "
            "(not a character)"
        ) from None
    return value


def is_int64(value: int) -> bool:
    return INT64_MIN <= value <= INT64_MAX


def is_size(value: float) -> bool:
    """A memory size or a count: finite, not negative, within 64 bits."""
    return math.isfinite(value) and 0 <= value < MAX_BYTES_VALUE


def is_time(value: float) -> bool:
    """A time in seconds (Unix, or from a file's start): not negative, and one that a
    date can show."""
    return math.isfinite(value) and 0 <= value <= MAX_TIME


class Inflater:
    """A zlib stream read a piece at a time: nothing is inflated before it is asked
    for, and never more than `limit` bytes in all, so a small file that claims to hold
    gigabytes costs only what is really read from it."""

    def __init__(self, data: bytes | memoryview, source: str, limit: int = MAX_INFLATED_BYTES):
        self._source = source
        self._limit = limit
        self._z = zlib.decompressobj()
        self._input = memoryview(data)
        self._at = 0  # of the input fed so far
        self._buffer = bytearray()
        self.produced = 0  # bytes inflated so far

    def read(self, n: int) -> bytes:
        """Exactly the next `n` inflated bytes; CorruptRecording when the stream ends
        first or `n` would take it past the limit."""
        if n < 0 or self.produced + n - len(self._buffer) > self._limit:
            raise self._fail(f"it inflates past the {self._limit:,}-byte limit")
        while len(self._buffer) < n:
            if not self._more(n - len(self._buffer)):
                raise self._fail("the data ends early")
        out = bytes(self._buffer[:n])
        del self._buffer[:n]
        return out

    def finish(self) -> None:
        """Refuse anything after what was read: more inflated bytes, or bytes after the
        stream's end."""
        if self._buffer or self._more(1):
            raise self._fail("bytes follow the last column")
        if not self._z.eof:
            raise self._fail("the compressed stream does not end")
        if self._z.unused_data or self._at < len(self._input):
            raise self._fail("bytes follow the compressed stream")

    def _more(self, want: int) -> bool:
        """Inflate up to `want` more bytes into the buffer; False when none came."""
        try:
            while True:
                tail: bytes | memoryview = self._z.unconsumed_tail
                if not tail:
                    if self._z.eof or self._at >= len(self._input):
                        return False
                    tail = self._input[self._at : self._at + _CHUNK]
                    self._at += len(tail)
                got = self._z.decompress(tail, want)
                if got:
                    self.produced += len(got)
                    self._buffer += got
                    return True
        except zlib.error as e:
            raise self._fail(str(e)) from None

    def _fail(self, why: str) -> CorruptRecording:
        return CorruptRecording(f"{self._source} is a damaged memlens binary export ({why})")
