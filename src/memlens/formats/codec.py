"""Column codecs of the binary export: lossless, and shaped for zlib to find the runs.

A sample column is mostly a slow walk (RSS moves by pages, thread and fd counts rarely
move, times step by the interval), so each value is stored as the difference from the
previous one, zigzag-mapped to an unsigned 64-bit number and written little-endian with
its bytes transposed ("shuffled": every value's byte 0, then every byte 1, ...). The high
bytes of small differences are zero, so the shuffled block is long runs of zeros that
zlib squeezes to almost nothing. Floats take the same path through their IEEE 754 bit
patterns, so a float comes back bit for bit (-0.0 and NaN included), which JSON cannot
promise. Layout details are in docs/formats.md.
"""

from __future__ import annotations

import json
import struct
import sys
from array import array
from collections.abc import Sequence

from memlens.formats.limits import too_deep

Value = float | int | None

KIND_NONE = 0  # every value unknown: no payload
KIND_INT = 1  # signed 64-bit integers
KIND_FLOAT = 2  # 64-bit floats
KIND_JSON = 3  # anything else (integers beyond 64 bits, ints and floats mixed): a JSON array
FLAG_NULLS = 0x80  # the payload starts with one byte per value, 1 where it is unknown

_MASK = (1 << 64) - 1
_SIGN = 1 << 63
COLUMN_HEADER = struct.Struct("<BI")  # kind | flags, payload length
_JSON_VALUE = 48  # the longest JSON number or null a column holds, with its comma


class CodecError(ValueError):
    """A column that cannot be decoded; the caller names the file."""


def max_payload(kind_flags: int, count: int) -> int:
    """The most bytes a column record of `count` values can rightly hold: a file that
    claims more is damaged, and is refused before the claim is inflated."""
    kind = kind_flags & ~FLAG_NULLS
    if kind == KIND_NONE:
        return 0
    if kind in (KIND_INT, KIND_FLOAT):
        return 9 * count if kind_flags & FLAG_NULLS else 8 * count
    return _JSON_VALUE * count + 2 if kind == KIND_JSON else 0


def encode_column(values: Sequence[Value]) -> bytes:
    """One column record: kind byte, payload length (u32 LE), payload."""
    known = [v for v in values if v is not None]
    has_nulls = len(known) != len(values)
    if not known:
        return COLUMN_HEADER.pack(KIND_NONE, 0)
    ints = [v for v in known if isinstance(v, int) and not isinstance(v, bool)]
    floats = [v for v in known if isinstance(v, float)]
    if len(ints) == len(known) and all(-_SIGN <= v < _SIGN for v in ints):
        kind, patterns = KIND_INT, [v & _MASK for v in ints]
    elif len(floats) == len(known):
        kind, patterns = KIND_FLOAT, _float_bits(floats)
    else:
        payload = json.dumps(list(values), allow_nan=True).encode()
        return COLUMN_HEADER.pack(KIND_JSON, len(payload)) + payload
    body = _shuffle(_delta_zigzag(patterns))
    if has_nulls:
        body = bytes(v is None for v in values) + body
        kind |= FLAG_NULLS
    return COLUMN_HEADER.pack(kind, len(body)) + body


def decode_column(data: bytes | memoryview, offset: int, count: int) -> tuple[list[Value], int]:
    """The column of `count` values at `offset`, and the offset after it."""
    if offset + COLUMN_HEADER.size > len(data):
        raise CodecError("the data ends inside a column header")
    kind_flags, size = COLUMN_HEADER.unpack_from(data, offset)
    start = offset + COLUMN_HEADER.size
    end = start + size
    if end > len(data):
        raise CodecError("the data ends inside a column")
    payload = bytes(data[start:end])
    kind, has_nulls = kind_flags & ~FLAG_NULLS, bool(kind_flags & FLAG_NULLS)
    if kind == KIND_NONE:
        if size:
            raise CodecError("an empty column has a payload")
        return [None] * count, end
    if kind == KIND_JSON:
        if size < 2 * count:  # "[]" or "1," per value at the least: before json.loads
            raise CodecError("a JSON column is too short for its values")
        if too_deep(payload):
            raise CodecError("a JSON column nests too deeply")
        try:
            values = json.loads(payload)
        except ValueError as e:
            raise CodecError(f"a JSON column is not JSON ({e})") from None
        if not isinstance(values, list) or len(values) != count:
            raise CodecError("a JSON column does not hold one value per sample")
        return values, end
    if kind not in (KIND_INT, KIND_FLOAT):
        raise CodecError(f"unknown column kind {kind}")
    mask = b""
    if has_nulls:
        mask, payload = payload[:count], payload[count:]
        if len(mask) != count:
            raise CodecError("a column's mask is cut short")
        if mask.translate(None, b"\x00\x01"):
            raise CodecError("a column's mask holds bytes other than 0 and 1")
    known = count - sum(mask)
    if len(payload) != 8 * known:
        raise CodecError(f"a column holds {len(payload)} bytes for {known} values")
    patterns = _undelta_zigzag(_unshuffle(payload, known))
    present: list[int] | list[float]
    if kind == KIND_INT:
        present = [p - (1 << 64) if p & _SIGN else p for p in patterns]
    else:
        present = _bits_float(patterns)
    if not has_nulls:
        return list(present), end
    it = iter(present)
    return [None if flag else next(it) for flag in mask], end


def _float_bits(values: list[float]) -> list[int]:
    return list(array("Q", array("d", values).tobytes()))


def _bits_float(patterns: list[int]) -> list[float]:
    return list(array("d", array("Q", patterns).tobytes()))


def _delta_zigzag(patterns: list[int]) -> array[int]:
    out = array("Q")
    prev = 0
    for p in patterns:
        d = (p - prev) & _MASK
        prev = p
        # As a signed difference s, zigzag is 2s for s >= 0 and -2s - 1 below: small
        # steps either way become small numbers.
        out.append(((d << 1) & _MASK) ^ (_MASK if d & _SIGN else 0))
    return out


def _undelta_zigzag(zigzags: array[int]) -> list[int]:
    out: list[int] = []
    prev = 0
    for z in zigzags:
        prev = (prev + ((z >> 1) ^ -(z & 1))) & _MASK
        out.append(prev)
    return out


def _shuffle(values: array[int]) -> bytes:
    if sys.byteorder == "big":
        values.byteswap()
    raw = values.tobytes()
    return b"".join(raw[i::8] for i in range(8))


def _unshuffle(payload: bytes, count: int) -> array[int]:
    raw = bytearray(8 * count)
    for i in range(8):
        raw[i::8] = payload[i * count : (i + 1) * count]
    values = array("Q", bytes(raw))
    if sys.byteorder == "big":
        values.byteswap()
    return values
