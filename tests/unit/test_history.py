from __future__ import annotations

import math
import sys

import pytest

from memlens.model import SAMPLE_FIELDS, Reading
from memlens.watch.history import MAX_BUCKETS, RECENT, Buckets, History, Ring


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


def full_reading(rss: int, pss: int | None = None) -> Reading:
    return Reading(
        rss=rss, vms=2 * rss, shared=0, swap=0, threads=4, fds=9, cpu=1.5, uss=rss // 2, pss=pss
    )


def test_older_samples_keep_only_rss_and_pss_extremes_per_bucket() -> None:
    # 4 recent samples with every field; older ones in buckets of 3 s (8 older / 3 buckets).
    history = History(capacity=12, recent=4, max_buckets=3)
    assert (history.recent, history.step, history.width) == (4, 3, 3.0)
    rss = [50, 10, 30, 40, 90, 20, 60, 60, 60, 5, 6, 7]
    for i, value in enumerate(rss):
        history.add("a", float(i), full_reading(value, pss=value + 1))
    series = history.series("a")
    # samples 0..7 are older than the ring: buckets [0, 3) and [3, 6), closed, give their
    # highest and lowest RSS in the order they came, the second at the bucket's start and
    # middle (the first, with no bucket before it, at the samples' own times); the open
    # one [6, 9) at its samples' times, one point when both are the same sample.
    assert series["t"] == [0.0, 1.0, 3.0, 4.5, 6.0, 8.0, 9.0, 10.0, 11.0]
    assert series["rss"] == [50, 10, 90, 20, 60, 60, 5, 6, 7]
    assert series["pss"] == [51, 11, 91, 21, 61, 61, 6, 7, 8]
    assert series["vms"] == [None] * 5 + [120, 10, 12, 14]
    assert history.coarse_points("a") == 5
    assert history.coarse_end("a") == 6.0
    assert history.first_time("a") == 0.0


def test_buckets_wrap_and_the_history_spans_its_capacity() -> None:
    history = History(capacity=40, recent=10, max_buckets=6)  # buckets of 5 s
    for i in range(200):
        history.add("a", float(i), full_reading(1000 + (i % 7)))
    series = history.series("a")
    times = series["t"]
    assert times == sorted(times)
    assert len(set(times)) == len(times)
    assert times[-10:] == [float(i) for i in range(190, 200)]
    first = history.first_time("a")
    assert first is not None
    assert 200 - 40 - 2 * history.width <= first <= 200 - 40  # the 40 newest, give or take
    assert times[0] == first
    assert history.coarse_points("a") == len(times) - 10
    assert all(v is not None for v in series["rss"])
    # buckets' points stand on times every target shares (a bucket's start or middle),
    # whenever it was sampled: here, at other times than "a"
    for i in range(200):
        history.add("b", 0.3 + i, full_reading(5 + i % 3))
    for key in ("a", "b"):
        closed = history.series(key)["t"][: history.coarse_points(key) - 2]  # not the open
        assert closed
        assert all(t % (history.width / 2) == 0 for t in closed)
    history.add("c", 1000.3, full_reading(5))  # a new target's first bucket ...
    for i in range(1, 30):
        history.add("c", 1000.3 + i, full_reading(5 + i % 3))
    first = history.first_time("c")
    assert first == 1000.3  # ... has no point before its first sample


def test_since_and_limit_reach_into_the_older_points() -> None:
    history = History(capacity=20, recent=5, max_buckets=15)  # buckets of one sample
    for i in range(20):
        history.add("a", float(i), full_reading(i))
    assert history.series("a", limit=7)["t"] == [float(i) for i in range(13, 20)]
    assert history.series("a", limit=7)["threads"] == [None, None, 4, 4, 4, 4, 4]
    assert history.series("a", since=12.0, limit=3)["t"] == [17.0, 18.0, 19.0]
    assert history.series("a", since=12.0)["t"] == [float(i) for i in range(13, 20)]
    assert history.series("a", since=99.0)["t"] == []


def test_a_spike_inside_a_bucket_survives() -> None:
    history = History(capacity=3600, recent=300)
    for i in range(3600):
        history.add("a", float(i), full_reading(9_000_000 if i == 1234 else 1_000_000 + i))
    series = history.series("a")
    at = series["rss"].index(9_000_000)
    start = (1234 // history.width) * history.width
    assert start <= series["t"][at] < start + history.width
    assert len(series["t"]) < 1000  # an hour, in 300 samples and the buckets' points


def test_unknown_rss_never_hides_a_known_one_in_a_bucket() -> None:
    buckets = Buckets(capacity=2, width=4.0)
    for t in (0.5, 1.5, 2.5, 3.5):  # a first bucket: the samples' own times stay
        buckets.add(t, 10.0, 10.0)
    buckets.add(4.5, math.nan, math.nan)
    buckets.add(5.5, 300.0, 301.0)
    buckets.add(6.5, math.nan, math.nan)
    buckets.add(7.5, 200.0, math.nan)
    buckets.add(8.5, 7.0, 8.0)  # the next bucket: the one before closes
    assert len(buckets) == 2
    t, rss, pss = buckets.series()
    assert (t, rss) == ([0.5, 4.0, 6.0, 8.5], [10.0, 300.0, 200.0, 7.0])
    assert pss[1] == 301.0
    assert math.isnan(pss[2])


def test_a_field_never_known_takes_no_column() -> None:
    ring = Ring(capacity=100)
    for i in range(100):
        ring.append(float(i), reading(1 << 20))
    assert ring._cols[SAMPLE_FIELDS.index("py_heap")] is None
    assert ring.series(limit=2)["py_heap"] == [None, None]
    ring.append(100.0, Reading(1, 1, 1, None, 1, 1, None, py_heap=77))
    assert ring.series(limit=2)["py_heap"] == [None, 77]


def _history_bytes(history: History) -> int:
    """The bytes the history's structures hold (their own sizes, by sys.getsizeof)."""
    seen: set[int] = set()
    total = 0
    stack: list[object] = [history._tracks]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, (int, float, str)):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        if isinstance(obj, dict):
            stack.extend(obj.values())
        elif isinstance(obj, (list, tuple)):
            stack.extend(obj)
        elif hasattr(obj, "__slots__"):
            stack.extend(getattr(obj, name) for name in obj.__slots__ if hasattr(obj, name))
    return total


def test_memory_per_target_is_bounded_by_the_recent_window_not_the_capacity() -> None:
    """An hour at 1 Hz costs no more than its 5 recent minutes with every field plus a few
    bytes a second, and more hours of --history cost (almost) nothing more."""
    per_target = {}
    for capacity in (3600, 4 * 3600):
        history = History(capacity=capacity)
        for i in range(capacity + 500):
            history.add("a", float(i), full_reading(1_000_000 + 4096 * (i % 13), pss=900_000))
        per_target[capacity] = _history_bytes(history)
    recent_bytes = 8 * 10 * RECENT  # t and the 9 fields this process has
    assert per_target[3600] < recent_bytes + 6 * 8 * MAX_BUCKETS * 1.2 + 4096
    assert per_target[4 * 3600] <= per_target[3600] * 1.1
    # an uncompacted hour: 16 columns of 3600 doubles
    assert per_target[3600] * 8 < 16 * 8 * 3600


def test_a_recent_window_as_long_as_the_capacity_keeps_every_sample_whole() -> None:
    history = History(capacity=RECENT + 50, recent=RECENT + 50)  # as `memlens top` keeps it
    for i in range(RECENT + 80):
        history.add("a", float(i), full_reading(i))
    series = history.series("a")
    assert history.coarse_points("a") == 0
    assert series["t"] == [float(i) for i in range(30, RECENT + 80)]
    assert series["threads"] == [4] * (RECENT + 50)
