"""What grows, and what to try: every branch of `explain`, on labelled RSS series from
leakgen and synthetic heap, gc, thread and fd series beside them."""

from __future__ import annotations

import random
import re

import pytest

from leakgen import MB, generate
from memlens.analysis.explain import (
    KINDS,
    NATIVE_SHARE,
    PYTHON_SHARE,
    Recommendation,
    explain,
    measure,
)
from memlens.analysis.leaks import detect

Series = tuple[list[float], list[float | int | None]]


def rss_of(kind: str, seed: int = 1) -> Series:
    s = generate(kind, seed)
    return s.times, list(s.values)


def leak() -> tuple[Series, float]:
    """A linear leak and its rate as the detector finds it (bytes/s)."""
    series = rss_of("linear_leak")
    finding = detect(*series)
    assert finding.is_leak
    assert finding.rate is not None
    return series, finding.rate


def line(times: list[float], start: float, per_second: float, *, noise: float = 0.0) -> Series:
    rng = random.Random(7)
    t0 = times[0]
    return times, [start + per_second * (t - t0) + rng.gauss(0.0, noise) for t in times]


def steps(times: list[float], start: int, every: float, *, until: float | None = None) -> Series:
    """A count that rises by one every `every` seconds (until `until`, then holds)."""
    t0 = times[0]
    end = times[-1] if until is None else t0 + until
    return times, [start + int((min(t, end) - t0) // every) for t in times]


def kinds(recs: list[Recommendation]) -> list[str]:
    return [r.kind for r in recs]


# -- the verdict on RSS alone -------------------------------------------------------------------


def test_a_leak_without_the_agent_says_what_can_be_said_from_outside() -> None:
    series, _ = leak()
    [rec] = explain(series)
    assert rec.kind == "leak"
    assert rec.seen.startswith("RSS grows ")
    assert "cannot tell Python objects from native memory" in rec.seen
    assert any("tracemalloc.start(25)" in a for a in rec.advice)
    assert any("MALLOC_ARENA_MAX=2" in a and "jemalloc" in a for a in rec.advice)
    assert rec.title == "Memory leaks"


def test_a_finding_or_its_series_give_the_same_advice() -> None:
    series, _ = leak()
    assert explain(detect(*series)) == explain(series)


def test_a_plateau_is_a_warm_up_or_a_cache_to_bound() -> None:
    [rec] = explain(rss_of("warmup_plateau"))
    assert rec.kind == "plateau"
    assert "levelled off" in rec.seen
    assert any("functools.lru_cache(maxsize=…)" in a for a in rec.advice)


def test_a_step_is_a_one_off_allocation() -> None:
    [rec] = explain(rss_of("single_step"))
    assert rec.kind == "step"
    assert "stepped up" in rec.seen
    assert rec.title == "A one-off allocation"
    assert any("leak in slow motion" in a for a in rec.advice)


def test_flat_means_nothing_to_do() -> None:
    [rec] = explain(rss_of("flat_wander"))
    assert rec.kind == "flat"
    assert rec.advice == ("Nothing to do.",)


def test_too_short_a_series_asks_for_a_longer_recording() -> None:
    [rec] = explain(rss_of("short"))
    assert rec.kind == "insufficient"
    assert "memlens record PID --duration 1h" in rec.advice[0]
    # What a short run honestly shows (the sentence analyze, report and check share),
    # then how much data there was against what a verdict needs.
    said = f"{rec.title}: {rec.seen}"
    assert said.startswith("Too little data to judge: ")
    assert "too short to call a trend" in said
    assert re.search(r"\(\d+ samples over .+; need at least 60 over 5 min 0 s", said), said


def test_no_advice_repeats_its_title_as_it_is_printed() -> None:
    """Faces print 'title: seen'; the seen part must not say the title again."""
    from memlens.analysis.explain import TITLES, rss_limit_advice

    recs = [
        *explain(rss_of("short")),
        rss_limit_advice("web", peak=600 * MB, times=3, above=40.0),
        *explain(rss_of("flat_wander")),
        *explain(rss_of("warmup_plateau")),
        *explain(rss_of("single_step")),
    ]
    for rec in recs:
        title = TITLES[rec.kind].lower()
        assert title not in rec.seen.lower(), f"{rec.title}: {rec.seen}"


# -- the Python heap and gc counts beside a leak -----------------------------------------------


def test_heap_growing_with_rss_is_python_objects() -> None:
    series, rate = leak()
    heap = line(series[0], 40 * MB, 0.9 * rate)
    [rec] = explain(series, heap=heap)
    assert rec.kind == "python-objects"
    assert "the traced Python heap grows" in rec.seen
    assert any("compare_to" in a for a in rec.advice)
    assert any("objgraph" in a for a in rec.advice)


def test_heap_flat_while_rss_grows_is_native_memory_or_fragmentation() -> None:
    series, _ = leak()
    heap = line(series[0], 40 * MB, 0.0, noise=0.2 * MB)
    [rec] = explain(series, heap=heap)
    assert rec.kind == "native"
    assert "while the traced Python heap stays flat" in rec.seen
    assert any("MALLOC_ARENA_MAX=2" in a for a in rec.advice)
    assert any("memray run --native" in a for a in rec.advice)


def test_heap_growing_a_little_is_still_native() -> None:
    series, rate = leak()
    heap = line(series[0], 40 * MB, 0.5 * NATIVE_SHARE * rate)
    [rec] = explain(series, heap=heap)
    assert rec.kind == "native"
    assert "only 10% of it" in rec.seen


def test_heap_growing_part_of_the_way_is_mixed() -> None:
    series, rate = leak()
    share = (NATIVE_SHARE + PYTHON_SHARE) / 2
    [rec] = explain(series, heap=line(series[0], 40 * MB, share * rate))
    assert rec.kind == "mixed"
    assert "35% of it" in rec.seen
    assert len(rec.advice) == 3


def test_gc_counts_growing_without_the_heap_point_at_python_objects() -> None:
    series, _ = leak()
    gc_objects = line(series[0], 50_000, 5.0)
    [rec] = explain(series, gc_objects=gc_objects)
    assert rec.kind == "python-objects"
    assert "gc-tracked objects grow from 50,000" in rec.seen


def test_gc_counts_flat_without_the_heap_cannot_decide() -> None:
    series, _ = leak()
    gc_objects = line(series[0], 50_000, 0.0, noise=30)
    [rec] = explain(series, gc_objects=gc_objects)
    assert rec.kind == "leak"
    assert "gc-tracked objects stay level" in rec.seen
    assert "not gc-tracked" in rec.seen


def test_gc_counts_are_told_beside_the_heap() -> None:
    series, _ = leak()
    heap = line(series[0], 40 * MB, 0.0)
    gc_objects = line(series[0], 50_000, 0.0)
    [rec] = explain(series, heap=heap, gc_objects=gc_objects)
    assert rec.kind == "native"
    assert "gc-tracked objects stay level" in rec.seen


def test_a_late_leak_is_compared_with_the_heap_from_its_onset() -> None:
    s = generate("late_onset_leak", 1)
    finding = detect(s.times, s.values)
    assert finding.is_leak
    assert finding.onset is not None
    assert finding.rate is not None
    onset, rate = finding.onset, finding.rate
    # flat before the leak, then growing as fast as RSS: all of the leak is the heap,
    # though over the whole series its rate is much lower
    heap = (s.times, [40 * MB + rate * max(0.0, t - onset) for t in s.times])
    [rec] = explain(finding, heap=heap)
    assert rec.kind == "python-objects"


# -- threads and file descriptors -----------------------------------------------------------------


def test_threads_growing_with_rss() -> None:
    series, _ = leak()
    recs = explain(series, threads=steps(series[0], 4, 300.0))
    assert kinds(recs) == ["leak", "threads"]
    threads = recs[1]
    assert "Threads grow from 4 to" in threads.seen
    assert "together with RSS" in threads.seen
    assert any("ThreadPoolExecutor(max_workers=…)" in a for a in threads.advice)


def test_threads_growing_while_rss_is_flat() -> None:
    series = rss_of("flat_wander")
    recs = explain(series, threads=steps(series[0], 2, 300.0))
    assert kinds(recs) == ["threads"]
    assert "together with RSS" not in recs[0].seen


def test_a_pool_that_filled_early_and_held_is_not_growing() -> None:
    series = rss_of("flat_wander")
    pool = steps(series[0], 2, 60.0, until=600.0)  # 2 → 12 in ten minutes, then holds
    assert kinds(explain(series, threads=pool)) == ["flat"]
    change = measure(pool, (2.0, 0.2))
    assert change is not None
    assert change.last == 12
    assert change.grows is False


def test_a_thread_or_two_more_is_not_growing() -> None:
    series = rss_of("flat_wander")
    times = series[0]
    one_more = (times, [4 if t < times[len(times) // 2] else 5 for t in times])
    assert kinds(explain(series, threads=one_more)) == ["flat"]


def test_file_descriptors_growing() -> None:
    series = rss_of("flat_wander")
    recs = explain(series, fds=steps(series[0], 10, 60.0))
    assert kinds(recs) == ["fds"]
    assert "Open file descriptors grow from 10" in recs[0].seen
    assert any("/proc/PID/fd" in a for a in recs[0].advice)


def test_everything_at_once_is_ordered_most_pressing_first() -> None:
    series, _ = leak()
    recs = explain(
        series,
        heap=line(series[0], 40 * MB, 0.0),
        threads=steps(series[0], 4, 300.0),
        fds=steps(series[0], 10, 60.0),
    )
    assert kinds(recs) == ["native", "threads", "fds"]
    assert [r.rank for r in recs] == sorted(r.rank for r in recs)


def test_insufficient_rss_still_tells_of_growing_threads() -> None:
    series = rss_of("short")
    assert kinds(explain(series, threads=steps(series[0], 1, 10.0))) == [
        "threads",
        "insufficient",
    ]


# -- measuring a series ---------------------------------------------------------------------


def test_measure_of_nothing() -> None:
    assert measure(None) is None
    assert measure(([1.0, 2.0], [None, None])) is None


def test_measure_of_too_few_points_does_not_grow() -> None:
    change = measure(([0.0, 1.0], [3, 9]))
    assert change is not None
    assert (change.first, change.last, change.change, change.grows) == (3, 9, 6, False)


def test_measure_skips_unknown_values_and_sorts_by_time() -> None:
    times = [float(t) for t in range(600)]
    values: list[float | int | None] = [None if t % 7 == 0 else t for t in range(600)]
    change = measure((times[::-1], values[::-1]))
    assert change is not None
    assert change.first == 1
    assert change.last == 599
    assert change.rate == pytest.approx(1.0, rel=0.05)
    assert change.grows is True
    assert change.to_dict()["grows"] is True


def test_a_recommendation_as_plain_data() -> None:
    rec = Recommendation("fds", "seen", ("a", "b"), "x (1)")
    assert rec.to_dict() == {
        "kind": "fds",
        "title": "File descriptors leak",
        "subject": "x (1)",
        "seen": "seen",
        "advice": ["a", "b"],
    }
    assert rec.rank == KINDS.index("fds")
    assert Recommendation("other", "", ()).rank == len(KINDS)
