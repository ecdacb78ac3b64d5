"""The live engine replayed over recorded series (watch/rerun.py): the alerts the engine
raises, as intervals in seconds from each series' start, the same on every run."""

from __future__ import annotations

import random

from memlens.analysis.leakmodel import DetectorConfig
from memlens.config import Settings, Thresholds
from memlens.watch.rerun import ReplaySeries, replay

MB = 1024.0 * 1024.0
T0 = 1_700_000_000.0


def leak_and_flat(minutes: int = 40) -> list[ReplaySeries]:
    rng = random.Random(5)
    n = minutes * 60
    times = [T0 + i for i in range(n)]
    leak = [100 * MB + 3 * MB * i / 60 + rng.gauss(0, 0.2 * MB) for i in range(n)]
    flat = [200 * MB + rng.gauss(0, 0.2 * MB) for _ in range(n)]
    return [
        ReplaySeries("1-1", "leaky", 1, times, leak, started=T0),
        ReplaySeries("2-2", "quiet", 2, times, flat, started=T0),
    ]


def test_a_leak_is_replayed_as_the_live_engine_raises_it() -> None:
    out = replay(leak_and_flat(), Settings())
    assert out["2-2"] == []
    leaks = [a for a in out["1-1"] if a.kind == "leak"]
    assert len(leaks) == 1
    alarm = leaks[0]
    assert alarm.cleared_s is None  # still standing at the end
    assert alarm.severity == "low"
    assert alarm.rule == "trend"
    assert alarm.rate is not None
    assert abs(alarm.rate - 3 * MB / 60) < 0.3 * MB / 60
    assert "leaky (PID 1): LEAK" in alarm.text
    growing = [a for a in out["1-1"] if a.kind == "growing"]
    assert growing
    assert growing[0].raised_s < alarm.raised_s
    # one entry per reason (a short run, then a young process's growth): each ends as
    # the next begins, the last as the alarm is raised
    assert [g.rule for g in growing] == ["short", "young"]
    assert growing[0].cleared_s == growing[1].raised_s
    assert growing[-1].cleared_s == alarm.raised_s
    assert set(alarm.to_dict()) >= {"kind", "raised_s", "cleared_s", "severity", "rate"}


def test_the_replay_is_deterministic_and_follows_every() -> None:
    first = replay(leak_and_flat(), Settings())
    again = replay(leak_and_flat(), Settings())
    assert first == again
    fine = replay(leak_and_flat(), Settings(), every=20.0)
    coarse = replay(leak_and_flat(), Settings(), every=300.0)
    fine_at = next(a.raised_s for a in fine["1-1"] if a.kind == "leak")
    coarse_at = next(a.raised_s for a in coarse["1-1"] if a.kind == "leak")
    assert fine_at < coarse_at


def test_a_leak_that_stops_is_cleared_and_thresholds_are_replayed() -> None:
    rng = random.Random(2)
    times = [T0 + i for i in range(90 * 60)]
    values = [
        150 * MB + 3 * MB * min(i, 40 * 60) / 60 + rng.gauss(0, 0.2 * MB) for i in range(len(times))
    ]
    settings = Settings(thresholds=Thresholds(max_rss=int(200 * MB)), detector=DetectorConfig())
    out = replay([ReplaySeries("k", "app", 7, times, values, started=T0)], settings)["k"]
    leak = next(a for a in out if a.kind == "leak")
    assert leak.cleared_s is not None
    assert leak.cleared_s > 40 * 60  # withdrawn once the growth stopped
    rss = [a for a in out if a.kind == "threshold"]
    assert [a.rule for a in rss] == ["rss"]
    assert rss[0].rate is not None
    assert rss[0].rate > 200 * MB


def test_limits_raise_the_severity() -> None:
    series = leak_and_flat()
    plain = replay(series, Settings())["1-1"]
    near = replay(series, Settings(), limits={"1-1": 250 * MB})["1-1"]
    first_plain = next(a for a in plain if a.kind == "leak")
    first_near = next(a for a in near if a.kind == "leak")
    assert first_near.raised_s < first_plain.raised_s  # the cost rule
    assert first_near.rule == "cost"
    assert first_near.severity in ("high", "critical")
