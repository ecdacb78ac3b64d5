"""Importing an export: recognise the file by its content, write it as a new recording.

The file's kind is read from its first bytes, not its name, because exports get renamed
and mailed around. Everything is decoded and checked before the store is touched, so a
damaged file adds nothing. Writing goes through the ordinary `Store` API, one tick per
distinct sample time, so an imported recording is indistinguishable from a recorded one
except for its new id and `memlens_version` (the importing memlens's; the exporting one
stays in the file).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from memlens.errors import CorruptRecording, NotARecording
from memlens.formats.binary import is_binary, load_binary
from memlens.formats.json_export import load_json, looks_like_json
from memlens.formats.limits import read_bounded
from memlens.model import SAMPLE_FIELDS, Reading, Tick
from memlens.store import Recording, Store
from memlens.store.files import SQLITE_MAGIC, open_regular


def read_export(path: str | Path) -> Recording:
    """The recording in a JSON or binary export file."""
    path = Path(path)
    try:
        with open_regular(path) as f:  # a FIFO would block
            data = read_bounded(path, f)
    except IsADirectoryError:
        raise NotARecording(f"{path} is a directory, not a memlens export") from None
    except FileNotFoundError:
        raise NotARecording(f"{path} does not exist") from None
    except OSError as e:
        raise NotARecording(f"{path} cannot be read: {e.strerror or e}") from None
    return parse_export(data, str(path))


def parse_export(data: bytes, source: str) -> Recording:
    if is_binary(data):
        return load_binary(data, source)
    if looks_like_json(data):
        return load_json(data, source)
    if data.startswith(SQLITE_MAGIC):
        raise NotARecording(
            f"{source} is a recording store, not an export: name it directly where a "
            f"recording is asked for (memlens export {source} ...)"
        )
    if not data:
        raise CorruptRecording(f"{source} is empty")
    if data.startswith(b"time,target,"):
        raise NotARecording(
            f"{source} is a CSV export, which cannot be imported (it lacks the targets and "
            "events): export the recording as json or binary to import it"
        )
    raise NotARecording(f"{source} is not a memlens export (neither JSON nor binary)")


def write_recording(store: Store, recording: Recording, *, timeout: float = 60.0) -> int:
    """Add `recording` to `store` as a new recording; returns its id."""
    info = recording.info
    rid = store.begin_recording(
        name=info.name,
        command=info.command,
        interval=info.interval,
        host=info.host,
        started=info.started,
        judged_with=recording.judged_with,
    )
    for target in recording.targets:  # first, in order: their ids keep the original order
        store.add_target(rid, target)
    for target in recording.targets:
        limit = recording.limits.get(target.key)
        if limit is not None:
            store.set_memory_limit(rid, target.key, target.start_time, limit)
    for seq, (t, samples) in enumerate(_rounds(recording), start=1):
        store.add_tick(rid, Tick(seq, t, samples))
    for event in recording.events:
        store.add_event(rid, event.kind, event.t, event.data, event.target_key)
    for key, readings in recording.maps.items():
        for reading in readings:
            store.add_maps(rid, key, reading)
    if info.ended is not None:
        store.end_recording(rid, ended=info.ended, exit_code=info.exit_code)
    store.flush(timeout)
    return rid


def import_file(path: str | Path, db: str | Path) -> tuple[int, Recording]:
    """Read the export at `path` and add it to the store at `db`: (new id, recording)."""
    recording = read_export(path)
    store = Store.open(db)
    try:
        rid = write_recording(store, recording)
    finally:
        store.close()
    return rid, recording


def _rounds(recording: Recording) -> list[tuple[float, dict[str, Reading]]]:
    """Samples grouped by time across targets, in time order (how the sampler made them)."""
    rounds: dict[float, dict[str, Reading]] = {}
    for target in recording.targets:
        series = recording.series[target.key]
        columns = [series[name] for name in SAMPLE_FIELDS]
        for i, t in enumerate(series["t"]):
            assert t is not None  # checked when the file was read
            rounds.setdefault(t, {})[target.key] = _reading([c[i] for c in columns])
    return sorted(rounds.items())


def _reading(values: list[float | int | None]) -> Reading:
    """A Reading holding exactly the file's values. The store writes what a reading
    holds, so a field the sampler always knows but this file does not stays unknown
    instead of being invented; hence the cast past Reading's narrower types."""
    return Reading(*cast(list[Any], values))
