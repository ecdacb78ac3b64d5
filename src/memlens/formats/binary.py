"""The binary export: a whole recording, lossless, an order of magnitude smaller than JSON.

Why a columnar layout of our own rather than a compressed msgpack document: msgpack
would still write every sample's values in full (an RSS of 200 MB costs 5 bytes each
time), and zlib finds little to share between neighbouring values that differ in their
low bytes. Stored as differences and byte-transposed (see `codec`), a day of one target
at 1 Hz is mostly zero bytes before compression, and the format needs no dependency
beyond the standard library. The small, irregular parts (the recording's row, targets,
events) stay a JSON header, where flexibility matters more than bytes.

Layout (docs/formats.md has it byte by byte):

    b"MLREC"  format version (u8)  zlib stream of:
        meta length (u32 LE)  meta (UTF-8 JSON)
        for each target in meta["targets"] order, for each name in meta["columns"]:
            one column record (`codec.encode_column`)
    CRC-32 of everything before it (u32 LE; version 2 on, absent in version 1)

The file is untrusted: the checksum is checked before anything is inflated, and the
stream is inflated a column at a time against the sizes the header declares (see
`limits.Inflater`), so a file cannot make memlens hold more than its real content.
"""

from __future__ import annotations

import dataclasses
import json
import struct
import zlib
from typing import Any

from memlens._version import __version__
from memlens.errors import CorruptRecording, NewerSchema, NotARecording
from memlens.formats.bundle import COLUMNS, event_to_dict, info_to_dict, recording_from_parts
from memlens.formats.codec import (
    COLUMN_HEADER,
    CodecError,
    Value,
    decode_column,
    encode_column,
    max_payload,
)
from memlens.formats.judging_bundle import judging_from_plain, judging_to_plain
from memlens.formats.limits import MAX_HEADER_BYTES, Inflater, check_depth
from memlens.formats.maps_bundle import maps_from_plain, maps_to_plain
from memlens.store import Recording

MAGIC = b"MLREC"
VERSION = 2
_CHECKSUMMED = 2  # the first version that ends with a CRC-32
_LENGTH = struct.Struct("<I")
_CRC = struct.Struct("<I")
_MAX_COUNT = 1 << 32  # samples of one target: a century at 1 Hz is 3.2e9


def dump_binary(recording: Recording) -> bytes:
    meta = {
        "memlens_version": __version__,
        "recording": info_to_dict(recording.info),
        "targets": [t.to_dict() for t in recording.targets],
        "events": [event_to_dict(e) for e in recording.events],
        "columns": list(COLUMNS),
        "counts": [len(recording.series[t.key]["t"]) for t in recording.targets],
        "maps": maps_to_plain(recording),
        "judged_with": judging_to_plain(recording),
    }
    head = json.dumps(meta, separators=(",", ":")).encode()
    parts = [_LENGTH.pack(len(head)), head]
    for target in recording.targets:
        series = recording.series[target.key]
        parts.extend(encode_column(series[name]) for name in COLUMNS)
    data = MAGIC + bytes([VERSION]) + zlib.compress(b"".join(parts), 9)
    return data + _CRC.pack(zlib.crc32(data))


def is_binary(data: bytes) -> bool:
    return data.startswith(MAGIC)


def load_binary(data: bytes, source: str) -> Recording:
    """The recording in a binary export; NotARecording, NewerSchema or CorruptRecording
    naming `source` when it cannot be read whole."""
    if not is_binary(data):
        raise NotARecording(f"{source} is not a memlens binary export")
    if len(data) <= len(MAGIC):
        raise CorruptRecording(f"{source} is a truncated memlens binary export")
    version = data[len(MAGIC)]
    if version > VERSION:
        raise NewerSchema(
            f"{source} is a binary export of format version {version}, written by a newer "
            f"memlens; this memlens {__version__} reads versions 1 to {VERSION}: upgrade memlens"
        )
    if version < 1:
        raise CorruptRecording(f"{source} is a damaged memlens binary export (version 0)")
    stream = memoryview(data)[len(MAGIC) + 1 :]
    if version >= _CHECKSUMMED:
        if len(stream) < _CRC.size:
            raise CorruptRecording(f"{source} is a truncated memlens binary export")
        stream, (crc,) = stream[: -_CRC.size], _CRC.unpack(data[-_CRC.size :])
        if zlib.crc32(memoryview(data)[: -_CRC.size]) != crc:
            raise CorruptRecording(
                f"{source} is a damaged memlens binary export (its checksum does not match)"
            )
    try:
        return _parse(Inflater(stream, source), source)
    except (CodecError, struct.error, ValueError, KeyError, TypeError) as e:
        raise CorruptRecording(f"{source} is a damaged memlens binary export ({e})") from None


def _parse(body: Inflater, source: str) -> Recording:
    (size,) = _LENGTH.unpack(body.read(_LENGTH.size))
    if size > MAX_HEADER_BYTES:
        raise CodecError(f"the header claims {size:,} bytes, over the {MAX_HEADER_BYTES:,} limit")
    head = body.read(size)
    check_depth(head, source)
    meta: Any = json.loads(head)
    if not isinstance(meta, dict):
        raise CodecError("the header is not an object")
    columns, counts, targets = meta["columns"], meta["counts"], meta["targets"]
    if not (isinstance(columns, list) and all(isinstance(c, str) for c in columns)):
        raise CodecError("the column list is not a list of names")
    if not columns or columns[0] != "t" or len(set(columns)) != len(columns):
        raise CodecError("the column list does not start with t, or repeats a name")
    if not (isinstance(counts, list) and isinstance(targets, list)):
        raise CodecError("the header's targets or counts are not lists")
    if len(counts) != len(targets):
        raise CodecError("the header does not have one sample count per target")
    series: dict[str, object] = {}
    for target, count in zip(targets, counts, strict=True):
        if not (isinstance(count, int) and 0 <= count < _MAX_COUNT and isinstance(target, dict)):
            raise CodecError("a target or its sample count is malformed")
        values: dict[str, object] = {}
        for name in columns:
            values[name] = _column(body, count, times=name == "t")
        series[str(target.get("key"))] = values
    body.finish()
    recording = recording_from_parts(source, meta["recording"], targets, series, meta["events"])
    keys = [t.key for t in recording.targets]
    maps = maps_from_plain(source, meta.get("maps"), keys)
    judged, limits = judging_from_plain(source, meta.get("judged_with"), keys)
    return dataclasses.replace(recording, maps=maps, judged_with=judged, limits=limits)


def _column(body: Inflater, count: int, *, times: bool) -> list[Value]:
    """One column record, its payload's length checked against what `count` values can
    take before it is inflated. The times column comes first and must hold every value,
    so a count no bytes stand behind fails there, before any list of that length."""
    head = body.read(COLUMN_HEADER.size)
    kind_flags, size = COLUMN_HEADER.unpack(head)
    if size > max_payload(kind_flags, count):
        raise CodecError(f"a column of {count:,} values claims {size:,} bytes")
    if times and count and size < count:
        raise CodecError(f"the times of {count:,} samples take only {size:,} bytes")
    values, _ = decode_column(head + body.read(size), 0, count)
    return values
