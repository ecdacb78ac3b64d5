"""A tracker's data as a file: JSON, a compact binary form, or an HTML page.

All three start from one document (`tracker_document`), so they hold the same things:
the binary form is that document with its events stored column by column, and
`load_tracker_binary` gives back exactly what `json.loads` gives for the JSON export
(floats bit for bit). The tracker's events are not a recording (a recording is samples
of processes over time, what `memlens import` and `serve` read), so they have a
container of their own, `MLTRK`, built from the recording format's column codec; the
layout is in docs/formats.md.
"""

from __future__ import annotations

import json
import struct
import time
import zlib
from pathlib import Path
from typing import Any, Protocol

from memlens._version import __version__
from memlens.api.sampling import SamplingConfig
from memlens.api.tracker_types import AnalysisReport, TrackerStats, TrackEvent
from memlens.errors import CorruptRecording, NewerSchema, NotARecording, OutputUnwritable
from memlens.formats.codec import CodecError, decode_column, encode_column


class Exportable(Protocol):
    """What an export reads of a tracker (`memlens.api.tracker.Tracker` is one); named
    by shape so that this module and the tracker need not import each other."""

    started: float
    sampling: SamplingConfig

    def events(self) -> list[TrackEvent]: ...

    def analyze(self) -> AnalysisReport: ...

    def stats(self) -> TrackerStats: ...


FORMAT = "memlens-tracker"
VERSION = 1
MAGIC = b"MLTRK"
_LENGTH = struct.Struct("<I")

# The event columns of the binary form, in order. Strings are indices into the header's
# `strings`; `stack` and `system` index its `stacks` and `system` lists.
COLUMNS = (
    "t",
    "id",
    "kind",
    "name",
    "name_note",
    "type_name",
    "size",
    "size_nodes",
    "flags",
    "file",
    "line",
    "function",
    "thread_id",
    "thread_name",
    "current_bytes",
    "stack",
    "system",
)
_KINDS = ("track", "end")
_LIFETIMES = ("untracked", "tracked")
FLAG_NAME_CAPTURED = 1
FLAG_SIZE_TRUNCATED = 2
FLAG_LIFETIME_TRACKED = 4
_STRING_COLUMNS = ("name", "name_note", "type_name", "file", "function", "thread_name")


def tracker_document(tracker: Exportable) -> dict[str, Any]:
    """Everything the tracker holds, JSON-ready (the JSON export's content)."""
    events = tracker.events()
    report = tracker.analyze()
    stats = tracker.stats()
    # System readings by identity: events point at them by index, and a reading that has
    # left the snapshot window but is still named by an event is kept too.
    system = list(report.system_snapshots)
    index = {id(r): i for i, r in enumerate(system)}
    for e in events:
        if e.system is not None and id(e.system) not in index:
            index[id(e.system)] = len(system)
            system.append(e.system)
    summary = report.to_dict()
    hotspots, threads = summary.pop("hotspots"), summary.pop("threads")
    summary.update(
        unnamed=stats.unnamed,
        truncated_sizes=stats.truncated_sizes,
        events_kept=len(events),
        events_dropped=stats.events_dropped,
    )
    return {
        "format": FORMAT,
        "version": VERSION,
        "memlens_version": __version__,
        "started": tracker.started,
        "exported": time.time(),
        "sampling": tracker.sampling.to_dict(),
        "summary": summary,
        "hotspots": hotspots,
        "threads": threads,
        "system": [r.to_dict() for r in system],
        "events": [
            {
                "kind": e.kind,
                "id": e.id,
                "t": e.t,
                "name": e.name,
                "name_captured": e.name_captured,
                "name_note": e.name_note,
                "type_name": e.type_name,
                "size": e.size,
                "size_nodes": e.size_nodes,
                "size_truncated": e.size_truncated,
                "lifetime": e.lifetime,
                "file": e.file,
                "line": e.line,
                "function": e.function,
                "thread_id": e.thread_id,
                "thread_name": e.thread_name,
                "current_bytes": e.current_bytes,
                "stack": None
                if e.stack is None
                else [[f.file, f.line, f.function] for f in e.stack],
                "system": None if e.system is None else index[id(e.system)],
            }
            for e in events
        ],
    }


def dump_json(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


# -- binary ---------------------------------------------------------------------------------


def dump_binary(document: dict[str, Any]) -> bytes:
    events: list[dict[str, Any]] = document["events"]
    strings: dict[str, int] = {}
    stacks: dict[str, int] = {}

    def string(value: str | None) -> int | None:
        return None if value is None else strings.setdefault(value, len(strings))

    def stack(value: list[list[Any]] | None) -> int | None:
        if value is None:
            return None
        return stacks.setdefault(json.dumps(value, separators=(",", ":")), len(stacks))

    columns: dict[str, list[Any]] = {name: [] for name in COLUMNS}
    for e in events:
        for name in COLUMNS:
            if name in _STRING_COLUMNS:
                value: Any = string(e[name])
            elif name == "kind":
                value = _KINDS.index(e["kind"])
            elif name == "flags":
                value = (
                    FLAG_NAME_CAPTURED * e["name_captured"]
                    | FLAG_SIZE_TRUNCATED * e["size_truncated"]
                    | FLAG_LIFETIME_TRACKED * (e["lifetime"] == "tracked")
                )
            elif name == "stack":
                value = stack(e["stack"])
            else:
                value = e[name]
            columns[name].append(value)
    header = {key: value for key, value in document.items() if key != "events"}
    header.update(
        columns=list(COLUMNS),
        count=len(events),
        strings=list(strings),
        stacks=[json.loads(s) for s in stacks],
    )
    head = json.dumps(header, separators=(",", ":")).encode()
    parts = [_LENGTH.pack(len(head)), head]
    parts.extend(encode_column(columns[name]) for name in COLUMNS)
    return MAGIC + bytes([VERSION]) + zlib.compress(b"".join(parts), 9)


def load_tracker_binary(data: bytes, source: str = "the data") -> dict[str, Any]:
    """The document in a binary tracker export, as the JSON export would hold it."""
    if not data.startswith(MAGIC):
        raise NotARecording(f"{source} is not a memlens tracker export")
    if len(data) <= len(MAGIC):
        raise CorruptRecording(f"{source} is a truncated memlens tracker export")
    version = data[len(MAGIC)]
    if version > VERSION:
        raise NewerSchema(
            f"{source} is a tracker export of format version {version}, written by a newer "
            f"memlens; this memlens {__version__} reads version {VERSION}: upgrade memlens"
        )
    try:
        return _parse(zlib.decompress(data[len(MAGIC) + 1 :]))
    except (zlib.error, CodecError, struct.error, ValueError, KeyError, TypeError) as e:
        raise CorruptRecording(f"{source} is a damaged memlens tracker export ({e})") from None


def _parse(body: bytes) -> dict[str, Any]:
    (size,) = _LENGTH.unpack_from(body, 0)
    offset = _LENGTH.size + size
    if offset > len(body):
        raise CodecError("the data ends inside the header")
    header: dict[str, Any] = json.loads(body[_LENGTH.size : offset])
    names, count = header.pop("columns"), header.pop("count")
    strings, stacks = header.pop("strings"), header.pop("stacks")
    if not isinstance(count, int) or count < 0:
        raise CodecError("the event count is not a count")
    view = memoryview(body)
    columns: dict[str, list[Any]] = {}
    for name in names:
        columns[name], offset = decode_column(view, offset, count)
    if offset != len(body):
        raise CodecError(f"{len(body) - offset} bytes follow the last column")
    missing = [name for name in COLUMNS if name not in columns]
    if missing:
        raise CodecError(f"the columns {', '.join(missing)} are missing")
    events = []
    for i in range(count):
        flags = columns["flags"][i]
        event: dict[str, Any] = {}
        for name in COLUMNS:
            value = columns[name][i]
            if name in _STRING_COLUMNS:
                event[name] = None if value is None else strings[value]
            elif name == "kind":
                event["kind"] = _KINDS[value]
            elif name == "flags":
                event["name_captured"] = bool(flags & FLAG_NAME_CAPTURED)
                event["size_truncated"] = bool(flags & FLAG_SIZE_TRUNCATED)
                event["lifetime"] = _LIFETIMES[bool(flags & FLAG_LIFETIME_TRACKED)]
            elif name == "stack":
                event["stack"] = None if value is None else stacks[value]
            else:
                event[name] = value
        events.append({key: event[key] for key in _EVENT_KEYS})
    header["events"] = events
    return header


_EVENT_KEYS = (
    "kind",
    "id",
    "t",
    "name",
    "name_captured",
    "name_note",
    "type_name",
    "size",
    "size_nodes",
    "size_truncated",
    "lifetime",
    "file",
    "line",
    "function",
    "thread_id",
    "thread_name",
    "current_bytes",
    "stack",
    "system",
)


def read_tracker_export(path: str | Path) -> dict[str, Any]:
    """A JSON or binary tracker export, as a document."""
    data = Path(path).read_bytes()
    if data.startswith(MAGIC):
        return load_tracker_binary(data, str(path))
    try:
        document = json.loads(data)
    except ValueError:
        raise NotARecording(f"{path} is not a memlens tracker export") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise NotARecording(f"{path} is not a memlens tracker export")
    if not isinstance(document.get("version"), int) or document["version"] > VERSION:
        raise NewerSchema(f"{path} is a tracker export of a newer format: upgrade memlens")
    return document


# -- writing ----------------------------------------------------------------------------------


FORMATS = ("json", "html", "binary")


def format_for(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".json":
        return "json"
    if suffix in (".html", ".htm"):
        return "html"
    return "binary"


def write_export(tracker: Exportable, path: Path, format: str | None = None) -> Path:
    chosen = format or format_for(path)
    if chosen not in FORMATS:
        raise ValueError(f"unknown tracker export format {chosen!r}: one of {', '.join(FORMATS)}")
    document = tracker_document(tracker)
    if chosen == "json":
        data = dump_json(document)
    elif chosen == "binary":
        data = dump_binary(document)
    else:
        from memlens.api.tracker_html import render_tracker_html

        data = render_tracker_html(document).encode()
    try:
        path.write_bytes(data)
    except OSError as e:
        raise OutputUnwritable(f"cannot write {path}: {e.strerror or e}") from None
    return path
