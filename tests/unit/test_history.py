from __future__ import annotations

import pytest

from memlens.model import Reading
from memlens.watch.history import History, Ring


def reading(rss: int, cpu: float | None = None) -> Reading:
    return Reading(rss=rss, vms=2 * rss, shared=0, swap=None, threads=1, fds=3, cpu=cpu)


def test_ring_keeps_the_newest_samples_in_order_once_full() -> None:
    ring = Ring(capacity=3)
    for i in range(5):
        ring.append(float(i), reading(100 + i))
    series = ring.series()
    assert series["t"] == [2.0, 3.0, 4.0]
    assert series["rss"] == [102, 103, 104]
    assert series["vms"] == [204, 206, 208]
    assert len(ring) == 3
    assert ring.last_time() == 4.0


def test_unknown_values_come_back_as_none_and_integers_stay_integers() -> None:
    ring = Ring(capacity=4)
    ring.append(1.0, reading(4096, cpu=None))
    ring.append(2.0, reading(8192, cpu=12.5))
    series = ring.series()
    assert series["cpu"] == [None, 12.5]
    assert series["swap"] == [None, None]
    assert all(type(v) is int for v in series["rss"])


def test_since_and_limit_select_the_newest_samples() -> None:
    ring = Ring(capacity=10)
    for i in range(8):
        ring.append(float(i), reading(i))
    assert ring.series(since=5.0)["t"] == [6.0, 7.0]
    assert ring.series(limit=3)["t"] == [5.0, 6.0, 7.0]
    assert ring.series(since=1.0, limit=2)["t"] == [6.0, 7.0]
    assert ring.series(since=99.0)["t"] == []


def test_since_works_after_wrapping() -> None:
    ring = Ring(capacity=4)
    for i in range(10):
        ring.append(float(i), reading(i))
    assert ring.series(since=7.0)["rss"] == [8, 9]


def test_history_per_target_and_unknown_target_is_empty() -> None:
    history = History(capacity=2)
    history.add("a", 1.0, reading(1))
    history.add("b", 1.0, reading(2))
    assert sorted(history.keys()) == ["a", "b"]
    assert history.series("a")["rss"] == [1]
    assert history.series("zzz")["t"] == []
    assert set(history.all_series()) == {"a", "b"}


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="capacity"):
        Ring(0)
