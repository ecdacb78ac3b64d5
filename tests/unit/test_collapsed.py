"""Folded stacks: one line per stack, root first, names escaped so that no name can add a
frame, a line or a value; the parser reads back exactly what was written."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heap_fixtures import DECODE, HANDLE, LOAD, MAIN, MB, frame, profile, profiles, stack
from memlens.errors import BadHeapProfile
from memlens.formats.collapsed import (
    escape,
    frame_label,
    parse_frame,
    read_collapsed,
    short_files,
    unescape,
    write_collapsed,
)
from memlens.formats.heap_profile import Frame, from_dict, stack_value
from memlens.outside.visible import hidden

FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_inuse_lines_root_first_largest_first() -> None:
    text = write_collapsed(from_dict(profile()))
    assert text.splitlines() == [
        "main (app.py:90);Shop.handle (app.py:42);load_catalog (catalog/load.py:12) 6291456",
        "main (app.py:90);Shop.handle (app.py:42);load_catalog (catalog/load.py:12);"
        "JSONDecoder.raw_decode (json/decoder.py:353) 3145728",
        "main (app.py:90) 1048576",
        "[no Python frame] 524288",
    ]
    assert text.endswith("\n")


def test_allocated_uses_allocated_bytes() -> None:
    rows = read_collapsed(write_collapsed(from_dict(profile(kind="allocated"))))
    assert [value for _, value in rows] == [30 * MB, 20 * MB, 1 * MB, 512 * 1024]


def test_growth_keeps_only_what_grew_and_rounds() -> None:
    stacks = [
        stack([MAIN, HANDLE], 2.6, alloc=0),
        stack([MAIN, LOAD], -4 * MB, alloc=0),
        stack([MAIN, DECODE], 0.4, alloc=0),  # rounds to 0
        stack([MAIN], 1.5, alloc=0),
    ]
    p = from_dict(profile(stacks, kind="growth"))
    rows = read_collapsed(write_collapsed(p))
    assert [(frames[-1], value) for frames, value in rows] == [
        ("Shop.handle (app.py:42)", 3),
        ("main (app.py:90)", 2),
    ]


def test_stacks_with_the_same_labels_are_summed() -> None:
    twin = frame("Shop.handle", "/opt/venv2/lib/python3.11/site-packages/shop/app.py", 42)
    other = frame("Shop.handle", "/opt/venv1/lib/python3.11/site-packages/shop/app.py", 42)
    stacks = [stack([other], 3.0), stack([twin], 4.0)]
    # Two files that shorten alike keep their full paths, so nothing merges here...
    assert len(read_collapsed(write_collapsed(from_dict(profile(stacks))))) == 2
    # ...but one file named twice is one line.
    stacks = [stack([MAIN], 3.0), stack([MAIN], 4.0)]
    assert write_collapsed(from_dict(profile(stacks))) == "main (app.py:90) 7\n"


def test_short_files() -> None:
    short = short_files(
        [
            "/srv/shop/app.py",
            "/srv/shop/catalog/load.py",
            "/usr/lib/python3.11/json/decoder.py",
            "/home/me/.venv/lib/python3.12/site-packages/requests/models.py",
            "/usr/lib/python3/dist-packages/yaml/loader.py",
            "<frozen importlib._bootstrap>",
            "",
        ]
    )
    assert short == {
        "/srv/shop/app.py": "app.py",
        "/srv/shop/catalog/load.py": "catalog/load.py",
        "/usr/lib/python3.11/json/decoder.py": "json/decoder.py",
        "/home/me/.venv/lib/python3.12/site-packages/requests/models.py": "requests/models.py",
        "/usr/lib/python3/dist-packages/yaml/loader.py": "yaml/loader.py",
        "<frozen importlib._bootstrap>": "<frozen importlib._bootstrap>",
        "": "",
    }
    assert short_files(["/srv/app.py", "/tmp/x.py"]) == {
        "/srv/app.py": "srv/app.py",
        "/tmp/x.py": "tmp/x.py",
    }
    # A local file that shortens to a library's name keeps its full path, as does the
    # library's.
    clash = short_files(
        ["/srv/app.py", "/srv/json/decoder.py", "/usr/lib/python3.11/json/decoder.py"]
    )
    assert clash == {
        "/srv/app.py": "app.py",
        "/srv/json/decoder.py": "/srv/json/decoder.py",
        "/usr/lib/python3.11/json/decoder.py": "/usr/lib/python3.11/json/decoder.py",
    }


@pytest.mark.parametrize(
    ("name", "escaped"),
    [
        ("handle", "handle"),
        ("a;b", "a%3Bb"),
        ("a b", "a%20b"),
        ("line\nbreak", "line%0Abreak"),
        ("100%", "100%25"),
        ("<lambda>", "<lambda>"),
        ("\u202eevil", "%E2%80%AEevil"),
        ("\u2028", "%E2%80%A8"),
        ("\x1b[31m", "%1B[31m"),
        ("naïve", "naïve"),
    ],
)
def test_escape(name: str, escaped: str) -> None:
    assert escape(name) == escaped
    assert unescape(escaped) == name


def test_hostile_names_stay_one_frame_of_one_line() -> None:
    evil = frame("a;b c\nd 99\r\n\u2028x", "/srv/my app;v2/app.py", 7)
    p = from_dict(profile([stack([MAIN, evil], 5.0)]))
    text = write_collapsed(p)
    assert text.count("\n") == 1
    ((frames, value),) = read_collapsed(text)
    assert value == 5
    assert len(frames) == 2
    assert parse_frame(frames[1]) == Frame("a;b c\nd 99\r\n\u2028x", "my app;v2/app.py", 7)


@FAST
@given(profiles())
def test_write_then_read_gives_each_stack_back(doc: dict[str, object]) -> None:
    p = from_dict(doc)
    # Stacks of the same frames add up; file names are shortened over the stacks written
    # only (those that come to a whole byte or more).
    sums: dict[tuple[Frame, ...], float] = {}
    for s in p.stacks:
        sums[s.frames] = sums.get(s.frames, 0.0) + stack_value(s, p.kind)
    written = {frames: value for frames, value in sums.items() if round(value) > 0}
    short = short_files(f.file for frames in written for f in frames)
    expected: dict[tuple[str, ...], float] = {}
    for frames, value in written.items():
        labels = tuple(frame_label(f, short[f.file]) for f in frames) or ("[no Python frame]",)
        expected[labels] = expected.get(labels, 0.0) + value
    rows = read_collapsed(write_collapsed(p))
    assert dict(rows) == {k: round(v) for k, v in expected.items() if round(v) > 0}
    values = [v for _, v in rows]
    assert values == sorted(values, reverse=True)
    for frames, _ in rows:
        for label in frames:
            parsed = parse_frame(label)
            assert parsed is None or frame_label(parsed) == label


@given(st.text(st.characters(exclude_categories=["Cs"]), max_size=40))
def test_escape_round_trips_any_text(name: str) -> None:
    escaped = escape(name)
    assert ";" not in escaped
    assert not any(ch.isspace() or hidden(ch) for ch in escaped)
    assert unescape(escaped) == name


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("main (app.py:1)", "line 1: no ' VALUE' at its end"),
        ("main (app.py:1) 12.5", "no ' VALUE'"),
        ("a;;b 3", "an empty frame"),
        ("\n\n" + ";".join(["f"] * 130) + " 1", "line 3: an empty frame or more than 129"),
    ],
)
def test_read_collapsed_refuses_what_is_not_folded(text: str, message: str) -> None:
    with pytest.raises(BadHeapProfile, match="the collapsed stacks") as e:
        read_collapsed(text)
    assert message in str(e.value)


def test_read_collapsed_bounds_the_lines() -> None:
    with pytest.raises(BadHeapProfile, match="more than 2 stacks"):
        read_collapsed("a 1\nb 2\nc 3\n", max_lines=2)


@pytest.mark.parametrize("label", ["main", "main (app.py)", "main (app.py:x)", "main app.py:1)"])
def test_parse_frame_refuses_what_is_not_a_label(label: str) -> None:
    with pytest.raises(BadHeapProfile, match="is not a frame"):
        parse_frame(label)


def test_parse_frame_reads_names_with_colons_and_parentheses() -> None:
    f = Frame("f(x)", "C:\\app (v2)\\run.py", 3)
    assert parse_frame(frame_label(f)) == f
    assert parse_frame("[no Python frame]") is None
    assert parse_frame("[no%20Python%20frame] (x.py:1)") == Frame("[no Python frame]", "x.py", 1)


def test_a_stack_left_out_changes_no_name() -> None:
    freed = frame("worker", "/opt/tool/agent/thread.py", 5)
    stacks = [stack([MAIN, HANDLE], 5.0), stack([freed], 0.0, alloc=9.0)]
    assert write_collapsed(from_dict(profile(stacks))) == (
        "main (app.py:90);Shop.handle (app.py:42) 5\n"
    )
    assert "thread.py" in write_collapsed(from_dict(profile(stacks, kind="allocated")))


def test_a_file_named_only_by_separators_keeps_its_whole_path() -> None:
    assert short_files(["/"]) == {"/": "/"}
    assert short_files(["//"]) == {"//": "//"}
