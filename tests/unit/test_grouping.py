"""A recording's processes in groups, and a group's sum over time (formats/grouping.py)."""

from __future__ import annotations

from memlens.formats.grouping import group_targets, sum_at, summed
from memlens.model import Target

MB = 1024 * 1024


def proc(pid: int, name: str, ppid: int | None = None, cmdline: str = "") -> Target:
    return Target(f"{pid}-1", "process", pid, 1.0, name, cmdline or name, ppid=ppid)


def test_a_parent_in_the_recording_is_named_and_one_outside_by_its_pid() -> None:
    targets = [
        proc(10, "gunicorn", ppid=1),
        proc(11, "gunicorn", ppid=10),
        proc(12, "gunicorn", ppid=10),
        proc(20, "celery", ppid=99),
        proc(21, "celery"),
        Target("sum-10-1", "sum", 10, 1.0, "gunicorn tree", "", members=["10-1"]),
    ]
    grouping = group_targets(targets, "parent")
    assert grouping.labels == {
        "10-1": "children of [1]",
        "11-1": "children of gunicorn [10]",
        "12-1": "children of gunicorn [10]",
        "20-1": "children of [99]",
        "21-1": "no parent",
        "sum-10-1": "",
    }
    assert list(grouping.multi) == ["children of gunicorn [10]"]
    by_name = group_targets(targets, "name")
    assert {label: len(m) for label, m in by_name.groups.items()} == {"gunicorn": 3, "celery": 2}


def test_the_sum_adds_pss_where_known_and_says_when_it_fell_back_to_rss() -> None:
    a = {"t": [1.0, 2.0, 3.0], "rss": [50 * MB, 50 * MB, 60 * MB], "pss": [20 * MB, None, 30 * MB]}
    b = {"t": [2.0, 3.0], "rss": [40 * MB, 40 * MB], "pss": [10 * MB, 10 * MB], "uss": [1, 2]}
    total = summed([a, b])
    assert total.t == [1.0, 2.0, 3.0]
    assert total.total == [20 * MB, 60 * MB, 40 * MB]  # at 2.0: a's RSS, b's PSS
    assert total.count == [1, 2, 2]
    assert total.measure == "pss+rss"
    assert total.peak_index == 1
    assert summed([b]).measure == "pss"
    assert summed([a, b], since=2.0).t == [3.0]
    at = sum_at([a, b], 3.0)
    assert (at.total, at.rss, at.measure, at.uss) == (40 * MB, 100 * MB, "pss", None)
    assert at.overcount == 2.5
