"""A heap profile's JSON as the store keeps it: compressed with zlib, and inflated back
only up to a bound, so a damaged or hostile file cannot make a reader inflate a
gigabyte from a few kilobytes."""

from __future__ import annotations

import zlib

from memlens.errors import CorruptRecording

MAX_JSON = 64 << 20  # bytes of one profile's JSON read back (a compact one is < 1 MB)
LEVEL = 6


def pack(data: bytes) -> bytes:
    return zlib.compress(data, LEVEL)


def unpack(blob: bytes, where: str) -> bytes:
    """The JSON of a stored profile; CorruptRecording when it is not zlib data or
    inflates past MAX_JSON."""
    inflater = zlib.decompressobj()
    try:
        data = inflater.decompress(blob, MAX_JSON)
    except zlib.error as e:
        raise CorruptRecording(f"{where}: a heap profile is damaged ({e})") from None
    if inflater.unconsumed_tail or not inflater.eof:
        raise CorruptRecording(f"{where}: a heap profile is damaged or too large")
    return data
