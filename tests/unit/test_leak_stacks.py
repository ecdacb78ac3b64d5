"""Which stacks a leak grew in, from fixture in-use profiles: the comparison of two
profiles, the choice of the pair for a leak's window, the bounded history a watch keeps,
and the alert engine naming the stacks of a raised leak. The live path (a real child
with the heap profiler) is in tests/integration/test_leak_stacks_live.py."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

import pytest

from memlens.analysis.leakmodel import DetectorConfig
from memlens.analysis.leakstacks import NO_FRAME, callers_text, frame_text, frames_of
from memlens.config import Settings
from memlens.errors import BadHeapProfile
from memlens.model import Alert, Reading, Target, Tick
from memlens.watch.alerts import AlertEngine
from memlens.watch.heap_history import HeapHistory
from memlens.watch.heap_points import compact, grown_stacks, pair, top_stacks

T0 = 1_800_000_000.0
MB = 1024 * 1024
FAST = DetectorConfig(
    min_duration=60.0,
    min_points=30,
    envelope_window=2.0,
    min_leak_window=20.0,
    persistence=2,
    young_age=0.0,  # the live levels' minutes, scaled down too: no warm-up prior, no fast rule
    fast_rate=0.0,
)


def ticks(values: Iterable[float], t0: float = 1_000_000.0, key: str = "1-1") -> list[Tick]:
    """One tick a second of one target whose RSS takes `values`."""
    first = Target(key=key, kind="process", pid=1, start_time=0.0, name="app", cmdline="app")
    return [
        Tick(
            seq,
            t0 + seq,
            {key: Reading(int(v), 2 * int(v), 0, 0, 1, 3, 0.0)},
            (first,) if seq == 1 else (),
        )
        for seq, v in enumerate(values, start=1)
    ]


def frame(function: str, line: int, file: str = "/srv/app/worker.py") -> dict[str, Any]:
    return {"function": function, "file": file, "line": line}


MAIN = frame("<module>", 90)
SERVE = frame("serve", 40)
CACHE = [MAIN, SERVE, frame("remember", 12, "/srv/app/cache.py")]  # grows
BUFFER = [MAIN, SERVE, frame("read_body", 7, "/srv/app/io.py")]  # steady
TEMP = [MAIN, frame("parse", 22)]  # shrinks


def profile(
    stacks: list[tuple[list[dict[str, Any]], float]],
    *,
    start: float = T0,
    truncated: int = 0,
) -> dict[str, Any]:
    """An in-use profile in the shape of docs/heap.md, stacks sorted by in-use bytes."""
    listed = sorted(stacks, key=lambda s: -s[1])
    return {
        "format": "memlens.heap",
        "version": 1,
        "kind": "inuse",
        "sampler": "sampling",
        "interval_bytes": 524288,
        "max_frames": 128,
        "pid": 4242,
        "time": T0 + 100,
        "start": start,
        "since": start,
        "since_mark": None,
        "inuse_bytes": sum(b for _, b in stacks),
        "inuse_count": float(len(stacks)),
        "alloc_bytes": 0.0,
        "alloc_count": 0.0,
        "samples": 10,
        "stacks": [
            {
                "frames": frames,
                "inuse_bytes": b,
                "inuse_count": 1.0,
                "alloc_bytes": b,
                "alloc_count": 1.0,
            }
            for frames, b in listed
        ],
        "truncated": truncated,
    }


def test_growth_names_the_stacks_that_grew_most_first() -> None:
    before = compact(profile([(CACHE, 10 * MB), (BUFFER, 4 * MB), (TEMP, 6 * MB)]), T0 + 10)
    after = compact(profile([(CACHE, 90 * MB), (BUFFER, 4 * MB), (TEMP, 1 * MB)]), T0 + 70)
    growth = grown_stacks(before, after)
    assert growth["from"] == T0 + 10
    assert growth["to"] == T0 + 70
    assert growth["sampler"] == "sampling"
    assert growth["inuse_growth"] == 75 * MB
    assert growth["uncertainty_bytes"] == 0.0
    [top] = growth["stacks"]  # the steady and the shrinking stacks are not named
    assert (top["function"], top["file"], top["line"]) == ("remember", "/srv/app/cache.py", 12)
    assert top["growth_bytes"] == 80 * MB
    assert top["inuse_bytes"] == 90 * MB
    assert top["frames"] == CACHE  # root first, the allocating frame last
    assert top["depth"] == 3


def test_a_stack_new_since_the_earlier_profile_counts_from_zero() -> None:
    new = [MAIN, frame("spawn", 5)]
    before = compact(profile([(CACHE, 10 * MB)]), T0)
    after = compact(profile([(CACHE, 30 * MB), (new, 50 * MB)]), T0 + 60)
    names = [s["function"] for s in grown_stacks(before, after)["stacks"]]
    assert names == ["spawn", "remember"]


def test_a_cut_profile_bounds_what_it_left_out() -> None:
    small = [(frame(f"f{i}", i), float(i + 1) * MB) for i in range(10)]
    before = compact(profile([([f], b) for f, b in small], truncated=5), T0, stacks=4)
    assert len(before.profile.stacks) == 4
    assert before.profile.truncated == 5 + 6
    assert before.floor == 7 * MB  # the smallest of the four kept: f6
    after = compact(profile([([small[0][0]], 40 * MB)]), T0 + 60)
    growth = grown_stacks(before, after)
    assert growth["uncertainty_bytes"] == 7 * MB
    assert growth["stacks"][0]["growth_bytes"] == 40 * MB  # f0 was left out: counted from 0


def test_deep_stacks_keep_their_innermost_frames_and_say_how_deep() -> None:
    deep = [frame(f"level{i}", i) for i in range(40)]
    point = compact(profile([(deep, 5 * MB)]), T0, frames=16)
    [stack] = point.profile.stacks
    assert len(stack.frames) == 16
    assert stack.frames[-1].function == "level39"
    after = compact(profile([(deep, 9 * MB)]), T0 + 1, frames=16)
    [entry] = grown_stacks(point, after)["stacks"]
    assert entry["depth"] == 40
    callers = callers_text(frames_of(entry), entry["depth"], width=30)
    assert callers.startswith("level38 < level37")
    assert callers.endswith("…")
    assert len(callers) <= 34


def test_an_empty_stack_reads_as_no_python_frame() -> None:
    before = compact(profile([([], 1 * MB)]), T0)
    after = compact(profile([([], 3 * MB)]), T0 + 5)
    [entry] = grown_stacks(before, after)["stacks"]
    assert entry["function"] is None
    assert entry["frames"] == []
    assert frame_text(entry["function"], entry["file"], entry["line"]) == NO_FRAME


def test_the_pair_is_nearest_the_window_and_of_one_run_of_the_profiler() -> None:
    points = [compact(profile([(CACHE, i * MB)]), T0 + 30 * i) for i in range(1, 6)]
    before, after = pair(points, T0 + 62, T0 + 140) or (None, None)
    assert before is not None
    assert after is not None
    assert (before.t, after.t) == (T0 + 60, T0 + 150)
    restarted = [*points, compact(profile([(CACHE, MB)], start=T0 + 155), T0 + 160)]
    assert pair(restarted, T0 + 62, T0 + 160) is None  # the newest is of another run
    assert pair(points[:1], T0, T0 + 30) is None


def test_the_history_is_bounded_and_keeps_its_oldest_and_newest() -> None:
    history = HeapHistory(keep=5)
    for i in range(50):
        history.add("1-1", T0 + i, profile([(CACHE, (i + 1) * MB)]))
    times = [p.t - T0 for p in history.points("1-1")]
    assert len(times) == 5
    assert times[0] == 0
    assert times[-1] == 49
    assert max(b - a for a, b in itertools.pairwise(times)) < 25  # spread out
    growth = history.growth("1-1", T0, T0 + 49)
    assert growth is not None
    assert growth["stacks"][0]["growth_bytes"] == 49 * MB
    assert history.growth("2-2", T0, T0 + 49) is None
    target = Target("1-1", "process", 1, 0.0, "app", "app")
    history.on_tick(Tick(1, T0 + 50, {}, (), (target,)))
    assert history.points("1-1") == []
    with pytest.raises(ValueError, match="two profiles"):
        HeapHistory(keep=1)


def test_a_raised_leak_names_the_stacks_its_heap_grew_in() -> None:
    history = HeapHistory()
    seen: list[Alert] = []
    settings = Settings(detector=FAST, every=5.0)
    engine = AlertEngine(settings, [seen.append], limit_of=lambda _t: 8e9)
    engine.stacks_of = history.growth
    for tick in ticks(100 * MB + i * 0.5 * MB for i in range(300)):
        second = tick.seq
        if second % 30 == 1:  # a profile every 30 s, the cache growing with RSS
            history.add("1-1", tick.time, profile([(CACHE, second * 0.5 * MB), (TEMP, MB)]))
        engine.process(tick)
    [raised] = [a for a in seen if a.kind == "leak"]
    growth = raised.data["heap_growth"]
    assert growth["stacks"][0]["function"] == "remember"
    assert growth["stacks"][0]["growth_bytes"] > 0
    onset = raised.data["finding"]["onset"]
    assert abs(growth["from"] - onset) <= 15 + 1e-6  # the profile nearest the onset
    assert growth["to"] <= raised.t
    assert "grew most in remember (app/cache.py:12), +" in raised.text
    assert raised.message()["heap_growth"] == growth  # on the stream as it is stored


def test_without_profiles_or_with_a_failing_lookup_the_alert_goes_out_bare() -> None:
    for lookup in (lambda *_: None, lambda *_: 1 / 0):
        seen: list[Alert] = []
        engine = AlertEngine(Settings(detector=FAST, every=5.0), [seen.append])
        engine.stacks_of = lookup
        for tick in ticks(100 * MB + i * 0.5 * MB for i in range(300)):
            engine.process(tick)
        [raised] = [a for a in seen if a.kind == "leak"]
        assert "heap_growth" not in raised.data
        assert "grew most" not in raised.text


def test_top_stacks_rank_by_heap_in_use_with_growth_since_the_first_look() -> None:
    base = compact(profile([(CACHE, 10 * MB), (BUFFER, 30 * MB)]), T0)
    now = compact(profile([(CACHE, 50 * MB), (BUFFER, 30 * MB), (TEMP, 5 * MB)]), T0 + 20)
    view = top_stacks(base, now, limit=2)
    assert view["since"] == T0
    assert view["inuse_growth"] == 45 * MB
    assert [(s["function"], s["inuse_bytes"], s["growth_bytes"]) for s in view["stacks"]] == [
        ("remember", 50 * MB, 40 * MB),
        ("read_body", 30 * MB, 0.0),
    ]
    restarted = compact(profile([(CACHE, 60 * MB)], start=T0 + 30), T0 + 40)
    fresh = top_stacks(base, restarted)
    assert fresh["since"] == T0 + 40  # another run of the profiler: counted from now
    assert fresh["stacks"][0]["growth_bytes"] == 0.0


def test_a_profile_that_is_not_an_in_use_one_is_refused() -> None:
    with pytest.raises(BadHeapProfile, match="in-use"):
        compact({**profile([(CACHE, MB)]), "kind": "growth"}, T0)
    with pytest.raises(BadHeapProfile):
        compact({**profile([(CACHE, MB)]), "pid": "me"}, T0)
