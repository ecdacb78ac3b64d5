"""`track` names its argument as written at the call, or says clearly why it cannot."""

from __future__ import annotations

import functools
import sys
from typing import Any

import pytest

import memlens
from memlens.api.naming import call_site, placeholder
from memlens.api.tracker import Tracker
from memlens.api.tracker_types import TrackEvent

POSITIONS = sys.version_info >= (3, 11)


class Box:
    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker
        self.cache = {"a": [1, 2, 3]}
        self.inner = self

    def remember(self) -> None:
        self.tracker.track(self.cache)

    def remember_deep(self) -> None:
        self.tracker.track(self.inner.cache["a"])


def last(tracker: Tracker) -> TrackEvent:
    return tracker.events()[-1]


def test_a_plain_name_is_recorded() -> None:
    tracker = Tracker()
    my_list = [1, 2, 3]
    tracker.track(my_list)
    event = last(tracker)
    assert event.name == "my_list"
    assert event.name_captured
    assert event.name_note is None
    assert event.file == __file__
    assert event.function == "test_a_plain_name_is_recorded"


def test_attributes_and_subscripts_are_recorded() -> None:
    tracker = Tracker()
    box = Box(tracker)
    box.remember()
    assert last(tracker).name == "self.cache"
    box.remember_deep()
    assert last(tracker).name == "self.inner.cache['a']"
    rows = [[1], [2]]
    tracker.track(rows[0])
    assert last(tracker).name == "rows[0]"
    tracker.track(rows[-1])
    assert last(tracker).name == "rows[-1]"
    i = 1
    tracker.track(rows[i])
    assert last(tracker).name == "rows[i]"
    tracker.track(box.cache)
    assert last(tracker).name == "box.cache"


def test_names_inside_comprehensions_are_the_loop_variables() -> None:
    tracker = Tracker()
    items = [[n] for n in range(3)]
    _ = [tracker.track(item) for item in items]
    _ = {k: tracker.track(v) for k, v in enumerate(items)}
    _ = list(tracker.track(each) for each in items)
    names = [e.name for e in tracker.events() if e.kind == "track"]
    assert names == ["item"] * 3 + ["v"] * 3 + ["each"] * 3


def test_several_calls_on_one_line_and_calls_across_lines() -> None:
    tracker = Tracker()
    first, second = [1], [2]
    tracker.track(first), tracker.track(second)  # type: ignore[func-returns-value]
    names = [e.name for e in tracker.events()]
    if POSITIONS:
        assert names == ["first", "second"]
    else:  # without positions one line with two calls cannot tell them apart
        assert all(not e.name_captured for e in tracker.events())
    tracker.track(
        first,
    )
    assert last(tracker).name == "first"


def test_keyword_alias_assignment_expression_and_an_explicit_name() -> None:
    tracker = Tracker()
    data = {"x": 1}
    tracker.track(obj=data)
    assert last(tracker).name == "data"
    remember = tracker.track
    remember(data)
    assert last(tracker).name == "data"
    tracker.track(loaded := [1, 2])
    assert last(tracker).name == "loaded"
    assert loaded == [1, 2]
    tracker.track(data, name="config")
    assert last(tracker).name == "config"
    assert last(tracker).name_captured


def test_the_global_track_names_its_argument() -> None:
    global_list_for_naming = ["global"]
    memlens.track(global_list_for_naming)
    names = [e.name for e in Tracker.global_().events()]
    assert "global_list_for_naming" in names


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda t: t.track([1, 2, 3]), "a list display"),
        (lambda t: t.track(list(range(3))), "a call's result"),
        (lambda t: t.track("a" + "b"), "an operation"),
        (lambda t: t.track({n: n for n in range(2)}), "a comprehension"),
    ],
)
def test_an_expression_gets_a_placeholder_that_says_why(make: Any, reason: str) -> None:
    tracker = Tracker()
    make(tracker)
    event = last(tracker)
    assert not event.name_captured
    assert event.name == f"<expression at test_naming.py:{event.line}>"
    assert event.name_note is not None
    assert reason in event.name_note


def test_a_call_through_map_or_partial_is_not_named_after_the_wrong_argument() -> None:
    tracker = Tracker()
    things = [[1], [2]]
    list(map(tracker.track, things))
    assert all(not e.name_captured for e in tracker.events())
    assert "not called directly" in (last(tracker).name_note or "")
    functools.partial(tracker.track)(things)
    assert not last(tracker).name_captured


def test_code_without_source_gets_a_placeholder() -> None:
    tracker = Tracker()
    namespace: dict[str, Any] = {"tracker": tracker, "x": [1]}
    exec(compile("tracker.track(x)", "<generated>", "exec"), namespace)
    event = last(tracker)
    assert not event.name_captured
    assert event.name == "<expression at <generated>:1>"
    assert "no source" in (event.name_note or "")


def test_a_call_site_is_resolved_once() -> None:
    sites = []

    def site_of_caller() -> None:
        sites.append(call_site(sys._getframe(1), ("site_of_caller",)))

    for _ in range(2):
        site_of_caller()
    first, second = sites
    assert first is second  # cached by code object and instruction
    assert first.reason == "the call passes no single argument to track (*args or **kwargs)"


def test_placeholder_names_the_file_and_line() -> None:
    assert placeholder("/a/b/c.py", 12) == "<expression at c.py:12>"
