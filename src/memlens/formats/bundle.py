"""A recording (`memlens.store.recording.Recording`) to plain data and back.

Every writer takes a `Recording` and every reader of an export file gives one back, so
the formats differ only in their bytes. Files to import are untrusted input: decoding one
goes through `recording_from_parts`, which checks every field's type and refuses what the
store would silently change (duplicate or unordered times, events naming unknown
targets), so an import either reproduces the recording exactly or stops with one line.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from memlens.errors import CorruptRecording, NewerSchema
from memlens.formats.limits import check_text, is_int64, is_size, is_time
from memlens.model import SAMPLE_FIELDS, Target
from memlens.store import EVENT_KINDS, Event, Recording, RecordingInfo
from memlens.store.recording import Series

COLUMNS: tuple[str, ...] = ("t", *SAMPLE_FIELDS)
INFO_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(RecordingInfo))
TARGET_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Target))


# -- to plain data (JSON-ready) -------------------------------------------------------------


def info_to_dict(info: RecordingInfo) -> dict[str, Any]:
    return {name: getattr(info, name) for name in INFO_FIELDS}


def event_to_dict(event: Event) -> dict[str, Any]:
    """Without ids: they belong to the file the event lives in, not to the event."""
    return {"t": event.t, "kind": event.kind, "target_key": event.target_key, "data": event.data}


# -- from plain data (untrusted) --------------------------------------------------------------


class _Check:
    """Type checks that name the file and the place of the first bad value."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, what: str) -> CorruptRecording:
        return CorruptRecording(f"{self.source} is a damaged memlens export: {where} {what}")

    def obj(self, value: object, where: str) -> dict[str, Any]:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise self.fail(where, "is not an object")
        return value

    def array(self, value: object, where: str) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(where, "is not an array")
        return value

    def text(self, value: object, where: str, *, optional: bool = False) -> Any:
        if isinstance(value, str):
            return check_text(value, where, self.source)
        if optional and value is None:
            return value
        raise self.fail(where, "is not a string")

    def integer(self, value: object, where: str, *, optional: bool = False) -> Any:
        if optional and value is None:
            return value
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.fail(where, "is not an integer")
        if not is_int64(value):
            raise self.fail(where, f"is {value}, beyond 64 bits")
        return value

    def number(self, value: object, where: str, *, optional: bool = False) -> Any:
        """A finite number that SQLite stores as it is (an integer within 64 bits)."""
        if optional and value is None:
            return value
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise self.fail(where, "is not a number")
        if isinstance(value, int) and not is_int64(value):
            raise self.fail(where, f"is {value}, beyond 64 bits")
        if not math.isfinite(value):
            raise self.fail(where, f"is {value}, not a finite number")
        return value

    def time(self, value: object, where: str, *, optional: bool = False) -> Any:
        t = self.number(value, where, optional=optional)
        if t is not None and not is_time(t):
            raise self.fail(where, f"is {t!r}, not a time from 1970 to 9999")
        return t

    def size(self, value: object, where: str) -> Any:
        """A sample's value (bytes, a count, CPU percent): unknown, or 0 to 2**63."""
        v = self.number(value, where, optional=True)
        if v is not None and not is_size(v):
            raise self.fail(where, f"holds {v!r}, not a value from 0 to 2**63")
        return v

    def data(self, value: object, where: str) -> dict[str, Any]:
        """An event's free-form data: an object whose every string, key or value at any
        depth (already bounded by the parser), SQLite can store."""
        d = self.obj(value, where)
        pending: list[object] = [d]
        while pending:
            item = pending.pop()
            if isinstance(item, str):
                check_text(item, where, self.source)
            elif isinstance(item, dict):
                pending.extend(item.keys())
                pending.extend(item.values())
            elif isinstance(item, list):
                pending.extend(item)
        return d

    def keys(self, value: dict[str, Any], expected: tuple[str, ...], where: str) -> None:
        missing = [k for k in expected if k not in value]
        if missing:
            raise self.fail(where, f"lacks {', '.join(missing)}")


def recording_from_parts(
    source: str,
    info: object,
    targets: object,
    series: Mapping[str, object],
    events: object,
) -> Recording:
    """A Recording from decoded (untrusted) parts, or CorruptRecording/NewerSchema."""
    c = _Check(source)
    checked = _targets(c, targets)
    keys = [t.key for t in checked]
    return Recording(
        _info(c, info), checked, _series(c, series, keys), _events(c, events, set(keys))
    )


def _info(c: _Check, value: object) -> RecordingInfo:
    d = c.obj(value, "recording")
    c.keys(d, ("name", "started", "host", "interval"), "recording")
    return RecordingInfo(
        id=c.integer(d.get("id", 0), "recording.id"),
        name=c.text(d["name"], "recording.name"),
        started=c.time(d["started"], "recording.started"),
        ended=c.time(d.get("ended"), "recording.ended", optional=True),
        command=c.text(d.get("command"), "recording.command", optional=True),
        host=c.text(d["host"], "recording.host"),
        interval=c.size(c.number(d["interval"], "recording.interval"), "recording.interval"),
        exit_code=c.integer(d.get("exit_code"), "recording.exit_code", optional=True),
        target_count=c.integer(d.get("target_count", 0), "recording.target_count"),
        sample_count=c.integer(d.get("sample_count", 0), "recording.sample_count"),
        memlens_version=c.text(d.get("memlens_version", ""), "recording.memlens_version"),
    )


def _targets(c: _Check, value: object) -> list[Target]:
    out: list[Target] = []
    seen: set[str] = set()
    for i, item in enumerate(c.array(value, "targets")):
        where = f"targets[{i}]"
        d = c.obj(item, where)
        c.keys(d, ("key", "kind", "pid", "start_time", "name", "cmdline"), where)
        members = c.array(d.get("members", []), f"{where}.members")
        target = Target(
            key=c.text(d["key"], f"{where}.key"),
            kind=c.text(d["kind"], f"{where}.kind"),
            pid=c.integer(d["pid"], f"{where}.pid"),
            start_time=c.time(d["start_time"], f"{where}.start_time"),
            name=c.text(d["name"], f"{where}.name"),
            cmdline=c.text(d["cmdline"], f"{where}.cmdline"),
            parent=c.text(d.get("parent"), f"{where}.parent", optional=True),
            members=[c.text(m, f"{where}.members") for m in members],
            state=c.text(d.get("state", "running"), f"{where}.state"),
            exit_time=c.time(d.get("exit_time"), f"{where}.exit_time", optional=True),
            exit_code=c.integer(d.get("exit_code"), f"{where}.exit_code", optional=True),
            exit_reason=c.text(d.get("exit_reason"), f"{where}.exit_reason", optional=True),
            ppid=c.integer(d.get("ppid"), f"{where}.ppid", optional=True),
            group=c.text(d.get("group", ""), f"{where}.group"),
        )
        if target.key in seen:
            raise c.fail(where, f"repeats the key {target.key!r}")
        seen.add(target.key)
        out.append(target)
    return out


def _series(c: _Check, value: Mapping[str, object], keys: list[str]) -> dict[str, Series]:
    unknown_targets = [k for k in value if k not in keys]
    if unknown_targets:
        raise c.fail("series", f"names targets that are not listed: {unknown_targets[0]!r}")
    out: dict[str, Series] = {}
    for key in keys:
        where = f"series[{key!r}]"
        raw = c.obj(value.get(key, {}), where)
        extra = [name for name in raw if name not in COLUMNS]
        if extra:
            raise NewerSchema(
                f"{c.source} holds sample fields this memlens does not know "
                f"({', '.join(extra)}): it was written by a newer memlens; upgrade memlens"
            )
        ts = [c.time(v, f"{where}.t") for v in c.array(raw.get("t", []), f"{where}.t")]
        for i in range(1, len(ts)):
            if not ts[i - 1] < ts[i]:
                raise c.fail(f"{where}.t", f"is not strictly increasing at index {i}")
        series: Series = {"t": ts}
        for name in SAMPLE_FIELDS:
            if name not in raw:  # an older export without this field: unknown throughout
                series[name] = [None] * len(ts)
                continue
            column = c.array(raw[name], f"{where}.{name}")
            if len(column) != len(ts):
                raise c.fail(f"{where}.{name}", f"has {len(column)} values for {len(ts)} times")
            series[name] = [c.size(v, f"{where}.{name}") for v in column]
        out[key] = series
    return out


def _events(c: _Check, value: object, keys: set[str]) -> list[Event]:
    out: list[Event] = []
    for i, item in enumerate(c.array(value, "events")):
        where = f"events[{i}]"
        d = c.obj(item, where)
        c.keys(d, ("t", "kind"), where)
        kind = c.text(d["kind"], f"{where}.kind")
        if kind not in EVENT_KINDS:
            raise c.fail(f"{where}.kind", f"is {kind!r}, not one of {', '.join(EVENT_KINDS)}")
        target_key = c.text(d.get("target_key"), f"{where}.target_key", optional=True)
        if target_key is not None and target_key not in keys:
            raise c.fail(f"{where}.target_key", f"names no listed target ({target_key!r})")
        t = c.time(d["t"], f"{where}.t")
        data = c.data(d.get("data", {}), f"{where}.data")
        out.append(Event(0, 0, target_key, t, kind, data))
    return out
