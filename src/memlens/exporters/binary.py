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
"""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any

from memlens import __version__
from memlens.errors import CorruptRecording, NewerSchema, NotARecording
from memlens.exporters.bundle import (
    COLUMNS,
    Recording,
    event_to_dict,
    info_to_dict,
    recording_from_parts,
)
from memlens.exporters.codec import CodecError, decode_column, encode_column

MAGIC = b"MLREC"
VERSION = 1
_LENGTH = struct.Struct("<I")


def dump_binary(recording: Recording) -> bytes:
    meta = {
        "memlens_version": __version__,
        "recording": info_to_dict(recording.info),
        "targets": [t.to_dict() for t in recording.targets],
        "events": [event_to_dict(e) for e in recording.events],
        "columns": list(COLUMNS),
        "counts": [len(recording.series[t.key]["t"]) for t in recording.targets],
    }
    head = json.dumps(meta, separators=(",", ":")).encode()
    parts = [_LENGTH.pack(len(head)), head]
    for target in recording.targets:
        series = recording.series[target.key]
        parts.extend(encode_column(series[name]) for name in COLUMNS)
    return MAGIC + bytes([VERSION]) + zlib.compress(b"".join(parts), 9)


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
            f"memlens; this memlens {__version__} reads version {VERSION}: upgrade memlens"
        )
    if version < 1:
        raise CorruptRecording(f"{source} is a damaged memlens binary export (version 0)")
    try:
        body = zlib.decompress(data[len(MAGIC) + 1 :])
    except zlib.error as e:
        raise CorruptRecording(f"{source} is a damaged memlens binary export ({e})") from None
    try:
        return _parse(body, source)
    except (CodecError, struct.error, ValueError, KeyError, TypeError) as e:
        raise CorruptRecording(f"{source} is a damaged memlens binary export ({e})") from None


def _parse(body: bytes, source: str) -> Recording:
    (size,) = _LENGTH.unpack_from(body, 0)
    offset = _LENGTH.size + size
    if offset > len(body):
        raise CodecError("the data ends inside the header")
    meta: Any = json.loads(body[_LENGTH.size : offset])
    if not isinstance(meta, dict):
        raise CodecError("the header is not an object")
    columns, counts, targets = meta["columns"], meta["counts"], meta["targets"]
    if not (isinstance(columns, list) and all(isinstance(c, str) for c in columns)):
        raise CodecError("the column list is not a list of names")
    if not (isinstance(counts, list) and isinstance(targets, list)):
        raise CodecError("the header's targets or counts are not lists")
    if len(counts) != len(targets):
        raise CodecError("the header does not have one sample count per target")
    view = memoryview(body)
    series: dict[str, object] = {}
    for target, count in zip(targets, counts, strict=True):
        if not (isinstance(count, int) and count >= 0 and isinstance(target, dict)):
            raise CodecError("a target or its sample count is malformed")
        values: dict[str, object] = {}
        for name in columns:
            values[name], offset = decode_column(view, offset, count)
        series[str(target.get("key"))] = values
    if offset != len(body):
        raise CodecError(f"{len(body) - offset} bytes follow the last column")
    return recording_from_parts(source, meta["recording"], targets, series, meta["events"])
