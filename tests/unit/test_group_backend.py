"""The budgeted PSS reads and their carry-forward, and the group leak alert's rules, fed
plain readings and alerts (the real processes are in tests/integration/test_groups_live.py).
"""

from __future__ import annotations

from collections.abc import Iterator

from memlens.model import Alert, Reading, Target
from memlens.watch.alerts import console_sink
from memlens.watch.group_alerts import GroupLeaks
from memlens.watch.pss_budget import PssBudget
from memlens.watch.sampler import _sum_readings

MB = 1024 * 1024


def reading(rss: int, shared: int = 0, pss: int | None = None) -> Reading:
    return Reading(rss=rss, vms=rss, shared=shared, swap=0, threads=1, fds=3, cpu=None, pss=pss)


class Rollups:
    """A rollup function that answers the next (uss, pss) and counts its calls."""

    def __init__(self, answers: Iterator[tuple[int | None, int | None] | None]) -> None:
        self.answers = answers
        self.calls = 0

    def __call__(self) -> tuple[int | None, int | None] | None:
        self.calls += 1
        return next(self.answers)


def endless(uss: int, pss: int) -> Iterator[tuple[int, int]]:
    while True:
        yield uss, pss


def test_pss_is_read_when_first_seen_then_carried_with_private_memory() -> None:
    budget = PssBudget(every=10.0, share=0.0)  # no budget: only the first read happens
    rollup = Rollups(endless(30 * MB, 40 * MB))
    budget.start_round(1.0)
    first = budget.fill("a", rollup, reading(100 * MB, shared=20 * MB), now=0.0)
    assert (first.uss, first.pss) == (30 * MB, 40 * MB)
    budget.start_round(1.0)
    grown = budget.fill("a", rollup, reading(150 * MB, shared=20 * MB), now=20.0)
    assert rollup.calls == 1  # due, but the round has no budget left
    assert (grown.uss, grown.pss) == (80 * MB, 90 * MB)  # +50 MB of private memory
    shrunk = budget.fill("a", rollup, reading(60 * MB, shared=40 * MB), now=21.0)
    assert (shrunk.uss, shrunk.pss) == (0, 0)  # never below zero
    assert budget.fill("a", rollup, reading(10 * MB, pss=7 * MB), now=22.0).pss == 7 * MB


def test_an_unchanged_reading_gives_the_same_output_object() -> None:
    budget = PssBudget(every=10.0, share=0.0)
    same = reading(100 * MB, shared=10 * MB)
    budget.start_round(1.0)
    budget.fill("a", Rollups(endless(1, 2)), same, now=0.0)
    again = reading(102 * MB, shared=10 * MB)  # the probe repeats an unchanged reading
    out = budget.fill("a", None, again, now=3.0)
    assert budget.fill("a", None, again, now=4.0) is out
    assert out.pss == 2 + 2 * MB
    assert budget.fill("a", None, reading(102 * MB, shared=10 * MB), now=5.0) is not out


def test_re_reads_wait_for_their_interval_and_the_rounds_budget() -> None:
    budget = PssBudget(every=10.0, share=1.0)
    rollups = {key: Rollups(endless(1 * MB, 2 * MB)) for key in "abc"}
    budget.start_round(1.0)
    for key, rollup in rollups.items():
        budget.fill(key, rollup, reading(10 * MB), now=0.0)
    budget.start_round(1.0)
    for key, rollup in rollups.items():
        budget.fill(key, rollup, reading(10 * MB), now=5.0)
    assert [r.calls for r in rollups.values()] == [1, 1, 1]  # not due yet
    budget.start_round(1.0)
    for key, rollup in rollups.items():
        budget.fill(key, rollup, reading(10 * MB), now=10.0)
    assert [r.calls for r in rollups.values()] == [2, 2, 2]
    budget.stale("b")
    budget.start_round(1.0)
    for key, rollup in rollups.items():
        budget.fill(key, rollup, reading(10 * MB), now=11.0)
    assert [r.calls for r in rollups.values()] == [2, 3, 2]  # a fork: read again at once


def test_a_process_whose_pss_is_hidden_is_not_asked_again() -> None:
    budget = PssBudget(every=0.0, share=1.0)
    rollup = Rollups(iter([None]))
    for now in range(3):
        budget.start_round(1.0)
        assert budget.fill("a", rollup, reading(10 * MB), now=float(now)).pss is None
    assert rollup.calls == 1
    budget.start_round(1.0)
    assert budget.fill("remote", None, reading(10 * MB), now=0.0).pss is None


def test_a_sum_adds_pss_and_counts_rss_where_it_is_unknown() -> None:
    parts = [reading(200 * MB, pss=50 * MB), reading(210 * MB, pss=45 * MB), reading(5 * MB)]
    total = _sum_readings(parts)
    assert total.rss == 415 * MB
    assert total.pss == 100 * MB  # 50 + 45 + the RSS of the one without PSS
    assert total.uss is None


def member(key: str, group: str) -> Target:
    return Target(
        key, "process", int(key.split("-", maxsplit=1)[0]), 0.0, group, group, group=group
    )


def leak(key: str, state: str, rate: float = 1000.0, severity: str = "high") -> Alert:
    data = {"state": state, "severity": severity, "finding": {"rate": rate}, "text": key}
    return Alert("leak", 1.0, key, data)


def test_a_group_alert_needs_two_leaking_members_and_follows_the_count() -> None:
    groups = GroupLeaks()
    workers = [member(f"{i}-1", "gunicorn") for i in range(1, 5)]
    alone = member("9-1", "redis")
    assert groups.update(0.0, [*workers, alone], [], []) == []
    assert groups.update(1.0, [], [leak("1-1", "raised"), leak("9-1", "raised")], []) == []
    [raised] = groups.update(2.0, [], [leak("2-1", "raised", rate=3000.0)], [])
    assert raised.kind == "group_leak"
    assert raised.key is None
    assert raised.data["state"] == "raised"
    assert (raised.data["count"], raised.data["of"]) == (2, 4)
    assert raised.data["rate_each"] == 2000.0
    assert raised.data["members"] == ["1-1", "2-1"]
    assert raised.data["text"] == "2 of 4 processes of gunicorn leak, about 117.2 KB/min each"
    assert groups.update(3.0, [], [leak("2-1", "raised")], []) == []  # same count: silent
    [more] = groups.update(4.0, [], [leak("3-1", "raised", severity="critical")], [])
    assert (more.data["count"], more.data["severity"]) == (3, "critical")
    [fewer] = groups.update(5.0, [], [], [workers[0]])  # a leaking member exits
    assert (fewer.data["state"], fewer.data["count"], fewer.data["of"]) == ("raised", 2, 3)
    [cleared] = groups.update(6.0, [], [leak("2-1", "cleared")], [])
    assert cleared.data["state"] == "cleared"
    assert cleared.data["count"] == 1


def test_a_group_of_one_never_raises_a_group_alert() -> None:
    groups = GroupLeaks()
    groups.update(0.0, [member("1-1", "solo")], [], [])
    assert groups.update(1.0, [], [leak("1-1", "raised")], []) == []


def test_the_terminal_prints_a_group_once_instead_of_its_members() -> None:
    lines: list[str] = []
    sink = console_sink(lines.append)
    sink(Alert("leak", 1.0, "1-1", {"state": "raised", "group": "w", "text": "one"}))
    group = {"state": "raised", "group": "w", "count": 2, "of": 3, "text": "2 of 3"}
    sink(Alert("group_leak", 2.0, None, group))
    sink(Alert("leak", 2.0, "2-1", {"state": "raised", "group": "w", "text": "two"}))
    sink(Alert("group_leak", 3.0, None, {**group, "count": 3, "text": "3 of 3"}))
    sink(Alert("leak", 3.0, "3-1", {"state": "raised", "group": "w", "text": "three"}))
    sink(Alert("leak", 3.0, "7-1", {"state": "raised", "group": "other", "text": "seven"}))
    sink(Alert("group_leak", 4.0, None, {**group, "state": "cleared", "text": "withdrawn"}))
    assert [line.split(" ", 2)[2] for line in lines] == [
        "leak: one",
        "group_leak: 2 of 3",
        "leak: seven",
        "group_leak cleared: withdrawn",
    ]
