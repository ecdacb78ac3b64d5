"""A recording's memory-map readings (docs/maps.md) to plain data and back, for the
JSON and binary exports: by target key, each reading as the stream carries it
(`MapSample.to_dict`).

Read back from a file, they are untrusted like the rest of an export: every field is
type-checked and bounded before it reaches the store (at most MAP_TOP mappings and
MAX_RUNTIMES runtimes a reading, times in order, only listed targets).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

from memlens.formats.bundle import _Check
from memlens.model import MAP_CATEGORIES, MAP_FIGURES, MAP_TOP, MAP_TOP_FIELDS, MapSample
from memlens.store import Recording

MAX_RUNTIMES = 16
_TEXT_FIELDS = ("start", "perms", "label", "category", "role")
_RUNTIME_TEXT = ("name", "what")
_RUNTIME_NUMBERS = ("count", "size", "rss")


def maps_to_plain(recording: Recording) -> dict[str, list[dict[str, Any]]]:
    return {key: [m.to_dict() for m in found] for key, found in recording.maps.items()}


def maps_from_plain(source: str, value: object, keys: Iterable[str]) -> dict[str, list[MapSample]]:
    """The readings of an export's `maps` (absent: none), or CorruptRecording."""
    if value is None:
        return {}
    c = _Check(source)
    known = set(keys)
    out: dict[str, list[MapSample]] = {}
    for key, readings in c.obj(value, "maps").items():
        if key not in known:
            raise c.fail(f"maps[{key!r}]", "names no listed target")
        found = [
            _sample(c, r, f"maps[{key!r}][{i}]")
            for i, r in enumerate(c.array(readings, f"maps[{key!r}]"))
        ]
        if any(b.t <= a.t for a, b in itertools.pairwise(found)):
            raise c.fail(f"maps[{key!r}]", "has times out of order")
        if found:
            out[key] = found
    return out


def _sample(c: _Check, value: object, where: str) -> MapSample:
    d = c.obj(value, where)
    c.keys(d, ("t", "categories"), where)
    categories = c.obj(d["categories"], f"{where}.categories")
    figures: dict[str, tuple[int, int, int, int]] = {}
    for category in MAP_CATEGORIES:
        one = c.obj(categories.get(category, {}), f"{where}.categories.{category}")
        values = [
            _whole(c, one.get(f, 0), f"{where}.categories.{category}.{f}") for f in MAP_FIGURES
        ]
        figures[category] = (values[0], values[1], values[2], values[3])
    top = c.array(d.get("top", []), f"{where}.top")
    runtimes = c.array(d.get("runtimes", []), f"{where}.runtimes")
    if len(top) > MAP_TOP or len(runtimes) > MAX_RUNTIMES:
        raise c.fail(where, f"holds more than {MAP_TOP} mappings or {MAX_RUNTIMES} runtimes")
    return MapSample(
        c.time(d["t"], f"{where}.t"),
        figures,
        _whole(c, d.get("thread_stacks", 0), f"{where}.thread_stacks"),
        _whole(c, d.get("mappings", 0), f"{where}.mappings"),
        tuple(_mapping(c, m, f"{where}.top[{i}]") for i, m in enumerate(top)),
        tuple(_runtime(c, r, f"{where}.runtimes[{i}]") for i, r in enumerate(runtimes)),
    )


def _whole(c: _Check, value: object, where: str) -> int:
    n = c.integer(value, where)
    if n < 0:
        raise c.fail(where, f"is {n}, below 0")
    return int(n)


def _mapping(c: _Check, value: object, where: str) -> dict[str, Any]:
    d = c.obj(value, where)
    c.keys(d, MAP_TOP_FIELDS, where)
    out: dict[str, Any] = {f: c.text(d[f], f"{where}.{f}") for f in _TEXT_FIELDS}
    if out["category"] not in MAP_CATEGORIES:
        raise c.fail(f"{where}.category", f"is {out['category']!r}, not a category")
    out["size"] = _whole(c, d["size"], f"{where}.size")
    out["rss"] = _whole(c, d["rss"], f"{where}.rss")
    return {f: out[f] for f in MAP_TOP_FIELDS}


def _runtime(c: _Check, value: object, where: str) -> dict[str, Any]:
    d = c.obj(value, where)
    out: dict[str, Any] = {f: c.text(d.get(f, ""), f"{where}.{f}") for f in _RUNTIME_TEXT}
    for f in _RUNTIME_NUMBERS:
        out[f] = _whole(c, d.get(f, 0), f"{where}.{f}")
    return out


__all__ = ["maps_from_plain", "maps_to_plain"]
