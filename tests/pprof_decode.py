"""A small reader of gzipped profile.proto, written from the .proto's field numbers, for
checking what memlens writes field by field (go tool pprof checks it as a whole)."""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field


@dataclass
class Decoded:
    strings: list[str] = field(default_factory=list)
    sample_types: list[tuple[int, int]] = field(default_factory=list)
    samples: list[tuple[list[int], list[int]]] = field(default_factory=list)
    locations: dict[int, list[tuple[int, int]]] = field(default_factory=dict)  # id: lines
    location_mappings: dict[int, int] = field(default_factory=dict)
    functions: dict[int, tuple[int, int, int]] = field(default_factory=dict)  # name, sys, file
    mappings: list[dict[int, int]] = field(default_factory=list)
    time_nanos: int = 0
    duration_nanos: int = 0
    period_type: tuple[int, int] = (0, 0)
    period: int = 0
    comments: list[int] = field(default_factory=list)
    default_sample_type: int = 0

    def s(self, index: int) -> str:
        return self.strings[index]

    def type_names(self) -> list[tuple[str, str]]:
        return [(self.s(t), self.s(u)) for t, u in self.sample_types]

    def stacks(self) -> list[tuple[list[tuple[str, str, int]], list[int]]]:
        """Each sample's frames LEAF FIRST as (function, file, line), and its values."""
        out = []
        for ids, values in self.samples:
            frames = []
            for location in ids:
                ((function, line),) = self.locations[location]
                name, _, file = self.functions[function]
                frames.append((self.s(name), self.s(file), line))
            out.append((frames, values))
        return out


def _varint(data: bytes, at: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, at


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _fields(data: bytes) -> list[tuple[int, int, int | bytes]]:
    """(field, wire type, value) of each field of one message."""
    out: list[tuple[int, int, int | bytes]] = []
    at = 0
    while at < len(data):
        key, at = _varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = _varint(data, at)
            out.append((number, wire, value))
        elif wire == 2:
            length, at = _varint(data, at)
            out.append((number, wire, data[at : at + length]))
            at += length
        else:
            raise ValueError(f"wire type {wire} is not used by profile.proto's heap fields")
    return out


def _ints(wire: int, value: int | bytes) -> list[int]:
    """A repeated integer field's values, packed or not."""
    if wire == 0:
        assert isinstance(value, int)
        return [_signed(value)]
    assert isinstance(value, bytes)
    out, at = [], 0
    while at < len(value):
        v, at = _varint(value, at)
        out.append(_signed(v))
    return out


def _message(value: int | bytes) -> dict[int, list[tuple[int, int | bytes]]]:
    assert isinstance(value, bytes)
    found: dict[int, list[tuple[int, int | bytes]]] = {}
    for number, wire, v in _fields(value):
        found.setdefault(number, []).append((wire, v))
    return found


def _one(message: dict[int, list[tuple[int, int | bytes]]], number: int) -> int:
    values = message.get(number)
    if not values:
        return 0
    (wire, value), *_ = values
    assert wire == 0
    assert isinstance(value, int)
    return _signed(value)


def decode(gzipped: bytes) -> Decoded:
    data = gzip.decompress(gzipped)
    d = Decoded()
    for number, wire, value in _fields(data):
        if number == 1:
            m = _message(value)
            d.sample_types.append((_one(m, 1), _one(m, 2)))
        elif number == 2:
            m = _message(value)
            ids = [i for w, v in m.get(1, []) for i in _ints(w, v)]
            values = [i for w, v in m.get(2, []) for i in _ints(w, v)]
            d.samples.append((ids, values))
        elif number == 3:
            m = _message(value)
            d.mappings.append({n: _one(m, n) for n in (1, 5, 7, 8, 9)})
        elif number == 4:
            m = _message(value)
            lines = []
            for _, line in m.get(4, []):
                lm = _message(line)
                lines.append((_one(lm, 1), _one(lm, 2)))
            d.locations[_one(m, 1)] = lines
            d.location_mappings[_one(m, 1)] = _one(m, 2)
        elif number == 5:
            m = _message(value)
            d.functions[_one(m, 1)] = (_one(m, 2), _one(m, 3), _one(m, 4))
        elif number == 6:
            assert isinstance(value, bytes)
            d.strings.append(value.decode("utf-8"))
        elif number == 9:
            d.time_nanos = _ints(wire, value)[0]
        elif number == 10:
            d.duration_nanos = _ints(wire, value)[0]
        elif number == 11:
            m = _message(value)
            d.period_type = (_one(m, 1), _one(m, 2))
        elif number == 12:
            d.period = _ints(wire, value)[0]
        elif number == 13:
            d.comments += _ints(wire, value)
        elif number == 14:
            d.default_sample_type = _ints(wire, value)[0]
    return d
