"""The live view's backfill over a compacted history: what a new tab gets."""

from __future__ import annotations

import json

from memlens.model import SAMPLE_FIELDS, Reading, Target, Tick
from memlens.watch.history import RECENT
from memlens.watch.live import LiveView

T0 = 1_700_000_000.0


def target(pid: int) -> Target:
    return Target(key=f"k{pid}", kind="process", pid=pid, start_time=T0, name="w", cmdline="w")


def reading(rss: int) -> Reading:
    return Reading(
        rss=rss, vms=3 * rss, shared=0, swap=0, threads=2, fds=5, cpu=0.5, uss=rss // 2, pss=rss
    )


def fed(seconds: int, targets: int = 3) -> LiveView:
    live = LiveView(interval=1.0, history_capacity=3600, system=False)
    made = [target(100 + i) for i in range(targets)]
    for seq in range(seconds):
        samples = {t.key: reading(1_000_000 + 1000 * seq + t.pid) for t in made}
        live.apply(Tick(seq, T0 + seq, samples, tuple(made) if seq == 0 else ()))
    return live


def test_a_new_tab_gets_the_recent_samples_whole_and_the_older_ones_as_buckets() -> None:
    live = fed(1800)
    message = json.loads(live.backfill_message())
    assert message["type"] == "backfill"
    assert message["seq"] == 1799
    assert set(message["series"]) == {"k100", "k101", "k102"}
    series = message["series"]["k100"]
    coarse = message["bucketed"]["k100"]
    times = series["t"]
    assert coarse == live.history.coarse_points("k100")
    assert len(times) == coarse + RECENT
    assert times == sorted(times)
    assert times[0] == T0  # the whole half hour, from its first second
    # the last RECENT seconds, every sample, every field the process has
    assert times[coarse:] == [T0 + s for s in range(1800 - RECENT, 1800)]
    assert series["threads"][coarse:] == [2] * RECENT
    assert series["rss"][-1] == 1_000_000 + 1000 * 1799 + 100
    # older: RSS and PSS only, the rising line's ends kept (its first and last second)
    assert series["rss"][0] == 1_000_100
    assert all(v is not None for v in series["rss"])
    assert series["threads"][:coarse] == [None] * coarse
    assert series["pss"][:coarse] == series["rss"][:coarse]
    # the same times for every target, so a page's shared time column stays short
    assert message["series"]["k101"]["t"] == times
    # fields no sample ever had (the Python agent's) are left out
    assert "py_heap" not in series
    assert set(series) == {"t", *SAMPLE_FIELDS[:9]}


def test_before_the_recent_window_is_full_there_are_no_buckets() -> None:
    live = fed(RECENT - 5)
    message = json.loads(live.backfill_message())
    assert message["bucketed"] == {}
    assert len(message["series"]["k100"]["t"]) == RECENT - 5


def test_without_a_store_a_range_of_the_older_part_says_it_is_bucketed() -> None:
    live = fed(1800, targets=1)
    old = live.range("k100", T0, T0 + 600, 500)
    assert old["bucketed"] is True
    new = live.range("k100", T0 + 1700, T0 + 1800, 500)
    assert new["bucketed"] is False
    assert new["t"] == [T0 + s for s in range(1700, 1800)]
