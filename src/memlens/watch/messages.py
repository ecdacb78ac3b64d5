"""The stream's messages (docs/protocol.md), built and serialised in one place."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from memlens._version import __version__
from memlens.analysis.groups import DEFAULT_GROUP_BY
from memlens.model import (
    SAMPLE_FIELDS,
    SYSTEM_FIELDS,
    Column,
    MapSample,
    Reading,
    SystemReading,
    Target,
    Tick,
)

PROTOCOL_VERSION = 1
UNITS = {"memory": "bytes", "time": "seconds", "cpu": "percent"}


def dumps(obj: object) -> str:
    """Compact JSON; NaN is never emitted (unknown values are null)."""
    return json.dumps(obj, separators=(",", ":"), allow_nan=False)


def hello(
    targets: Iterable[Target],
    *,
    interval: float,
    history_capacity: int,
    mode: str = "live",
    recording: Mapping[str, object] | None = None,
    system: bool = False,
    group_by: str = DEFAULT_GROUP_BY,
) -> dict[str, object]:
    """`system`: whether the machine's figures come with the ticks and the backfill
    (`system_fields` lists them; empty when they do not); `group_by`: what the targets'
    `group` labels were made from (analysis/groups.py)."""
    return {
        "type": "hello",
        "protocol": PROTOCOL_VERSION,
        "version": __version__,
        "mode": mode,
        "recording": recording,
        "interval": interval,
        "units": UNITS,
        "fields": list(SAMPLE_FIELDS),
        "system_fields": list(SYSTEM_FIELDS) if system else [],
        "targets": [t.to_dict() for t in targets],
        "history_capacity": history_capacity,
        "group_by": group_by,
        "server_time": time.time(),
    }


def backfill(
    seq: int,
    series: Mapping[str, Mapping[str, Column]],
    bucketed: Mapping[str, int] | None = None,
    alerts: Sequence[Mapping[str, object]] = (),
    python: Sequence[Mapping[str, object]] = (),
    *,
    system: Mapping[str, Sequence[object]] | None = None,
    maps: Sequence[Mapping[str, object]] = (),
    marks: Sequence[Mapping[str, object]] = (),
) -> dict[str, object]:
    return {
        "type": "backfill",
        "maps": list(maps),
        "marks": list(marks),
        "seq": seq,
        "series": series,
        "bucketed": bucketed or {},
        "alerts": list(alerts),
        "python": list(python),
        "system": system,
    }


def mark(key: str | None, t: float, text: str, source: str) -> dict[str, object]:
    """A mark ("batch 2 starts") on a target's chart: memlens.mark or `memlens mark`."""
    return {"type": "mark", "key": key, "t": t, "text": text, "source": source}


def tick(
    seq: int, t: float, samples: Mapping[str, Reading], system: SystemReading | None = None
) -> dict[str, object]:
    return {
        "type": "tick",
        "seq": seq,
        "t": t,
        "samples": {key: reading.values() for key, reading in samples.items()},
        "system": None if system is None else system_values(system),
    }


def system_values(reading: SystemReading) -> dict[str, Any]:
    """A reading as a tick carries it: its figures and GPUs, without its own time (the
    tick's `t` stands for it; between two reads a tick repeats the last one)."""
    values = reading.to_dict()
    del values["t"]
    return values


def maps_message(key: str, sample: MapSample) -> dict[str, object]:
    """A reading of a target's memory map (docs/protocol.md, "maps")."""
    return {"type": "maps", "key": key, **sample.to_dict()}


def target_added(target: Target) -> dict[str, object]:
    return {"type": "target", "target": target.to_dict()}


def target_exited(target: Target) -> dict[str, object]:
    return {
        "type": "exit",
        "key": target.key,
        "pid": target.pid,
        "time": target.exit_time,
        "exit_code": target.exit_code,
        "reason": target.exit_reason,
    }


def encode_tick(t: Tick) -> list[str]:
    """The serialised messages for one tick, in the order clients must see them."""
    out = [dumps(target_added(target)) for target in t.new_targets]
    out.append(dumps(tick(t.seq, t.time, t.samples, t.system)))
    out.extend(dumps(target_exited(target)) for target in t.exits)
    return out
