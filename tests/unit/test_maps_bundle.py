"""An export's memory-map readings are untrusted: each field is checked and bounded."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from memlens.errors import CorruptRecording
from memlens.formats.maps_bundle import maps_from_plain
from memlens.model import MAP_TOP, MapSample

GOOD: dict[str, Any] = {
    "t": 1_700_000_000.0,
    "categories": {"anon": {"rss": 4096, "pss": 4096, "uss": 4096, "swap": 0}},
    "thread_stacks": 2,
    "mappings": 40,
    "top": [
        {
            "start": "0x7f0000000000",
            "perms": "rw-p",
            "label": "evil\x1b[31m",
            "category": "anon",
            "role": "",
            "size": 8192,
            "rss": 4096,
        }
    ],
    "runtimes": [{"name": "Go", "what": "heap", "count": 1, "size": 8192, "rss": 4096}],
}


def test_a_good_reading_reads_back_as_sent() -> None:
    (sample,) = maps_from_plain("f.json", {"1-1": [GOOD]}, ["1-1"])["1-1"]
    assert isinstance(sample, MapSample)
    expected = copy.deepcopy(GOOD)
    for c in ("heap", "file", "stack", "shmem", "other"):
        expected["categories"][c] = {"rss": 0, "pss": 0, "uss": 0, "swap": 0}
    assert sample.to_dict() == expected
    assert maps_from_plain("f.json", None, ["1-1"]) == {}


def _with(path: tuple[Any, ...], value: object) -> dict[str, Any]:
    bad = copy.deepcopy(GOOD)
    at: Any = bad
    for step in path[:-1]:
        at = at[step]
    at[path[-1]] = value
    return bad


@pytest.mark.parametrize(
    ("readings", "keys", "says"),
    [
        ({"9-9": [GOOD]}, ["1-1"], "names no listed target"),
        ({"1-1": [GOOD, GOOD]}, ["1-1"], "out of order"),
        ({"1-1": [_with(("t",), "soon")]}, ["1-1"], "is not a number"),
        ({"1-1": [_with(("categories", "anon", "rss"), -1)]}, ["1-1"], "below 0"),
        ({"1-1": [_with(("categories", "anon", "rss"), 2**70)]}, ["1-1"], "beyond 64 bits"),
        ({"1-1": [_with(("top", 0, "category"), "elsewhere")]}, ["1-1"], "not a category"),
        ({"1-1": [_with(("top", 0, "label"), 7)]}, ["1-1"], "is not a string"),
        ({"1-1": [_with(("top",), GOOD["top"] * (MAP_TOP + 1))]}, ["1-1"], "more than"),
        ({"1-1": [_with(("runtimes", 0, "count"), 1.5)]}, ["1-1"], "is not an integer"),
        ({"1-1": "all of them"}, ["1-1"], "is not an array"),
    ],
)
def test_bad_readings_are_refused_naming_the_place(
    readings: object, keys: list[str], says: str
) -> None:
    with pytest.raises(CorruptRecording, match=says):
        maps_from_plain("f.json", readings, keys)
