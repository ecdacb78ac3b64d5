"""The heap profile's model: a valid profile survives from_dict/to_dict exactly; anything
else (the wrong type anywhere, a number that is not finite, a list or a string past its
bound) is one BadHeapProfile naming the field, never another exception; a JSON file is
read within bounds."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heap_fixtures import HANDLE, MAIN, profile, profiles, stack
from memlens.errors import BadHeapProfile, MemlensError
from memlens.formats.heap_profile import (
    MAX_FRAMES,
    MAX_STACKS,
    MAX_STRING,
    Frame,
    dump_json,
    from_dict,
    load_json,
    read_profile,
    sorted_stacks,
)

FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_the_fixture_reads_as_typed_frames_root_first() -> None:
    p = from_dict(profile())
    assert p.kind == "inuse"
    assert p.sampler == "sampling"
    assert p.stacks[0].frames[0] == Frame("main", "/srv/shop/app.py", 90)
    assert p.stacks[0].frames[-1].function == "load_catalog"
    assert p.stacks[3].frames == ()
    assert p.duration == 60.0
    assert p.stacks[0].frames[0] is p.stacks[1].frames[0]  # one Frame shared by stacks


@FAST
@given(profiles())
def test_a_valid_profile_round_trips_exactly(doc: dict[str, Any]) -> None:
    p = from_dict(doc)
    assert p.to_dict() == doc
    assert from_dict(json.loads(dump_json(p))) == p


def mutations(doc: dict[str, Any]) -> st.SearchStrategy[tuple[list[Any], Any]]:
    """(path to a value, a replacement of the wrong type or out of bounds)."""
    bad = st.one_of(
        st.none(),
        st.booleans(),
        st.just(math.nan),
        st.just(math.inf),
        st.just(-math.inf),
        st.just(10**400),
        st.just(-1),
        st.just("text"),
        st.just([]),
        st.just({}),
        st.just("x" * (MAX_STRING + 1)),
        st.just("\udc80"),
    )
    paths: list[list[Any]] = [[k] for k in doc if k not in ("stacks",)]
    for i, s in enumerate(doc["stacks"]):
        paths += [["stacks", i, k] for k in s]
        for j, f in enumerate(s["frames"]):
            paths += [["stacks", i, "frames", j], *(["stacks", i, "frames", j, k] for k in f)]
    return st.tuples(st.sampled_from(paths), bad)


@FAST
@given(st.data())
def test_garbage_anywhere_is_one_clean_error(data: st.DataObject) -> None:
    doc = profile()
    path, value = data.draw(mutations(doc))
    where: Any = doc
    for key in path[:-1]:
        where = where[key]
    where[path[-1]] = value
    try:
        p = from_dict(doc)
    except BadHeapProfile as e:
        error: ValueError = e
        assert "\n" not in str(error)
        return
    # Some replacements are valid where they land: a null since_mark, -1 growth, a
    # text function name. Whatever was accepted reads back as it was given.
    assert p.to_dict() == doc


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([], "it is a list, not an object"),
        ("profile", "it is a string, not an object"),
        (profile(format="memlens.recording"), "format"),
        (profile(version=2), "version is 2, from a newer memlens"),
        (profile(version=True), "version is a boolean"),
        (profile(kind="leaks"), "kind is not one of inuse, allocated, growth"),
        (profile(sampler="perf"), "sampler"),
        (profile(interval_bytes=1.5), "interval_bytes is a number, not an integer"),
        (profile(max_frames=129), "max_frames is 129, outside 1..128"),
        (profile(pid=0), "pid is 0"),
        (profile(time=math.nan), "time is not a time"),
        (profile(since=-1.0), "since is not a time"),
        (profile(inuse_bytes=math.inf), "inuse_bytes is not a finite number"),
        (profile(inuse_bytes=-1.0), "inuse_bytes is negative"),
        (profile(alloc_bytes=-1.0, kind="growth"), "alloc_bytes is negative"),
        (profile(since_mark=""), "since_mark is empty"),
        (profile(since_mark="m" * 65), "since_mark is longer than 64"),
        (profile(stacks={}), "stacks is not a list"),
        (profile(truncated=-1), "truncated is -1"),
        (
            profile([stack([MAIN], -5.0, alloc=0)], inuse_bytes=0),
            "stacks[0].inuse_bytes is negative",
        ),
        (profile([stack([MAIN, "main"], 1.0)]), "stacks[0].frames[1] is a string"),  # type: ignore[list-item]
        (profile([stack([{**HANDLE, "line": -1}], 1.0)]), "stacks[0].frames[0].line is -1"),
        (profile([stack([{**HANDLE, "line": None}], 1.0)]), "line is missing or null"),
        (profile([stack([{**HANDLE, "file": 3}], 1.0)]), "file is an integer, not a string"),
    ],
)
def test_each_wrong_field_is_named(doc: Any, message: str) -> None:
    with pytest.raises(BadHeapProfile, match="is not a valid heap profile") as e:
        from_dict(doc, "the agent's answer")
    assert message in str(e.value)
    assert str(e.value).startswith("the agent's answer ")


def test_growth_may_be_negative() -> None:
    p = from_dict(profile([stack([MAIN], -5.0, -2.0, 0.0, 0.0)], kind="growth"))
    assert p.stacks[0].inuse_bytes == -5.0
    assert p.inuse_count == -2.0


def test_bounds_on_stacks_frames_and_strings() -> None:
    many = profile([stack([MAIN], 1.0)] * (MAX_STACKS + 1))
    with pytest.raises(BadHeapProfile, match="20,001 stacks, over 20,000"):
        from_dict(many)
    from_dict(profile([stack([MAIN], 1.0)] * MAX_STACKS))
    deep = profile([stack([MAIN] * (MAX_FRAMES + 2), 1.0)])
    with pytest.raises(BadHeapProfile, match="130 frames, over 129"):
        from_dict(deep)
    # 128 frames and the agent's "[more frames]" at the root.
    more = {"function": "[more frames]", "file": "", "line": 0}
    from_dict(profile([stack([more] + [MAIN] * MAX_FRAMES, 1.0)]))
    long = profile([stack([{**MAIN, "function": "f" * (MAX_STRING + 1)}], 1.0)])
    with pytest.raises(BadHeapProfile, match="function is longer than 4,096"):
        from_dict(long)
    surrogate = profile([stack([{**MAIN, "file": "\udc80.py"}], 1.0)])
    with pytest.raises(BadHeapProfile, match="lone surrogate"):
        from_dict(surrogate)


def test_unknown_keys_are_ignored() -> None:
    doc = profile(extra={"from": "a newer agent"})
    doc["stacks"][0]["labels"] = ["x"]
    p = from_dict(doc)
    assert "extra" not in p.to_dict()


def test_sorted_by_the_kinds_key() -> None:
    p = from_dict(profile())
    assert [s.inuse_bytes for s in sorted_stacks(p.stacks, "inuse")] == sorted(
        (s.inuse_bytes for s in p.stacks), reverse=True
    )
    assert sorted_stacks(p.stacks, "allocated")[0].alloc_bytes == 30 * 1024 * 1024


# -- files --------------------------------------------------------------------------------


def test_a_json_file_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "heap.json"
    path.write_bytes(dump_json(from_dict(profile())))
    assert read_profile(path) == from_dict(profile())


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is not valid JSON"),
        (b"\xff\xfe", "is not valid JSON"),
        (b"[" * 100 + b"]" * 100, "nests JSON deeper than 8 levels"),
        (b'{"format": "memlens.heap", "version": 1}', "kind is not one of"),
        (json.dumps(profile(pid=-4)).encode(), "pid is -4"),
    ],
)
def test_a_bad_file_is_one_line(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "heap.json"
    path.write_bytes(content)
    with pytest.raises(MemlensError) as e:
        read_profile(path)
    assert message in str(e.value)
    assert str(path) in str(e.value)
    assert e.value.exit_code == 2


def test_files_that_are_not_regular_or_too_large(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(MemlensError, match="is a directory"):
        read_profile(tmp_path)
    with pytest.raises(MemlensError, match="does not exist"):
        read_profile(tmp_path / "missing.json")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(MemlensError, match=r"not a regular file|FIFO|pipe"):
        read_profile(fifo)
    big = tmp_path / "big.json"
    big.write_bytes(dump_json(from_dict(profile())))
    monkeypatch.setattr("memlens.formats.heap_profile.MAX_FILE_BYTES", 100)
    with pytest.raises(MemlensError, match="over the 100-byte limit"):
        read_profile(big)


def test_load_json_names_its_source() -> None:
    with pytest.raises(BadHeapProfile, match=r"^upload\.json is not a valid heap profile"):
        load_json(b"{}", "upload.json")
