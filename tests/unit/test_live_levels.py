"""The live levels (analysis/live.py through OnlineDetector.step): a warm-up is growing,
never a leak; a leak from the start is growing, then an alarm once it kept its pace; a
fast leak after a quiet life alarms within two evaluations; a step does not; a limit
close by alarms at once; and a short run says what it did."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from leakgen import generate
from memlens.analysis.leakmodel import DetectorConfig, Verdict
from memlens.analysis.leaks import CLEARED, GROWING, LEAK, RAISED, LevelEvent, OnlineDetector
from memlens.analysis.live import Level
from memlens.analysis.shortrun import FELL, GREW, RETURNED, STEADY, short_run

MB = 1024.0 * 1024.0
MINUTE = 60.0
T0 = 1_700_000_000.0


def series(minutes: float, shape: object, noise: float = 0.3 * MB, seed: int = 1) -> tuple:
    rng = random.Random(seed)
    n = int(minutes * 60) + 1
    times = [T0 + i for i in range(n)]
    values = [100 * MB + shape(i) + rng.gauss(0.0, noise) for i in range(n)]  # type: ignore[operator]
    return times, values


def stream(
    detector: OnlineDetector, times: list[float], values: list[float], every: float = 60.0
) -> list[tuple[float, LevelEvent]]:
    """(seconds from the start, event) for every change of level, evaluated every `every`."""
    out = []
    due = times[0] + every
    for t, v in zip(times, values, strict=True):
        detector.update(t, v)
        if t >= due:
            due += every
            out.extend((t - times[0], e) for e in detector.step(t))
    return out


def raised(events: list[tuple[float, LevelEvent]], kind: str) -> list[float]:
    return [t for t, e in events if e.kind == kind and e.state == RAISED]


def test_an_exponential_warm_up_is_growing_and_never_a_leak() -> None:
    tau = 4 * MINUTE
    times, values = series(60, lambda i: 120 * MB * (1 - math.exp(-i / tau)))
    events = stream(OnlineDetector(start=T0), times, values)
    assert raised(events, GROWING), "the warm-up is shown as growing"
    assert not raised(events, LEAK)
    assert [e.state for _, e in events if e.kind == GROWING][-1] == CLEARED


def test_a_leak_from_the_start_is_growing_then_an_alarm_by_the_trend() -> None:
    config = DetectorConfig()
    times, values = series(40, lambda i: i * 3 * MB / 60)
    detector = OnlineDetector(start=T0, config=config)
    events = stream(detector, times, values)
    growing, leaks = raised(events, GROWING), raised(events, LEAK)
    assert growing
    assert leaks
    assert growing[0] < leaks[0]
    assert leaks[0] >= config.young_wait  # a young process's growth must keep its pace
    alarm = next(e for _, e in events if e.kind == LEAK and e.state == RAISED)
    assert alarm.status.rule == "trend"
    assert alarm.status.finding.verdict is Verdict.LEAK
    # the growing status ends as the alarm is raised, in the same evaluation
    assert (leaks[0], CLEARED) in [(t, e.state) for t, e in events if e.kind == GROWING]


def test_a_fast_leak_after_a_quiet_hour_alarms_within_two_evaluations() -> None:
    onset = 60 * 60
    times, values = series(75, lambda i: max(0, i - onset) * 30 * MB / 60)
    events = stream(OnlineDetector(start=T0), times, values)
    leaks = raised(events, LEAK)
    assert leaks
    assert onset < leaks[0] <= onset + 2 * MINUTE
    first = next(e for _, e in events if e.kind == LEAK and e.state == RAISED)
    assert first.status.rule == "fast"
    assert "too fast to wait for a trend" in first.status.text


def test_a_step_after_a_quiet_hour_is_no_fast_leak() -> None:
    times, values = series(90, lambda i: 80 * MB if i >= 3600 else 0.0)
    events = stream(OnlineDetector(start=T0), times, values)
    assert not raised(events, LEAK)


def test_a_fast_climb_under_a_sawtooth_is_left_to_the_trend() -> None:
    """A collector's sawtooth climbs 40 MB a minute between collections: not a leak."""
    times, values = series(60, lambda i: (i % 90) * 40 * MB / 60)
    events = stream(OnlineDetector(start=T0), times, values)
    assert not raised(events, LEAK)


def test_a_leak_near_its_limit_alarms_at_once_whatever_the_age() -> None:
    times, values = series(20, lambda i: i * 3 * MB / 60)
    detector = OnlineDetector(start=T0, limit=200 * MB)
    events = stream(detector, times, values)
    alarm = next(e for _, e in events if e.kind == LEAK and e.state == RAISED)
    assert alarm.status.rule == "cost"
    assert raised(events, LEAK)[0] < DetectorConfig().young_wait


def test_an_old_process_that_starts_leaking_needs_no_young_wait() -> None:
    onset = 60 * 60
    times, values = series(90, lambda i: max(0, i - onset) * 2 * MB / 60)
    config = DetectorConfig()
    events = stream(OnlineDetector(start=T0, config=config), times, values)
    leaks = raised(events, LEAK)
    assert leaks
    assert leaks[0] - onset < config.young_wait + config.persistence * MINUTE


def test_status_is_kept_for_a_face() -> None:
    times, values = series(3, lambda i: i * 0.5 * MB)
    detector = OnlineDetector(start=T0)
    stream(detector, times, values)
    assert detector.status is not None
    assert detector.status.level is not Level.QUIET
    assert detector.last is detector.status.finding


@pytest.mark.parametrize(
    ("shape", "expected", "words"),
    [
        (lambda i: 50 * MB if i > 3 else 0.0, GREW, "grew 50.0 MB in 29 s and did not come back"),
        (lambda i: 50 * MB if 3 < i < 20 else 0.0, RETURNED, "came back down"),
        (lambda i: -2 * MB * i, FELL, "fell"),
        (lambda i: 0.0, STEADY, "held steady"),
    ],
)
def test_a_short_run_says_what_it_did(shape: object, expected: str, words: str) -> None:
    times = [T0 + i for i in range(30)]
    values = [100 * MB + shape(i) for i in range(30)]  # type: ignore[operator]
    run = short_run(times, values, DetectorConfig())
    assert run is not None
    assert run.shape == expected
    assert words in run.sentence()
    assert "too short to call a trend" in run.sentence()


def test_noise_in_a_short_run_is_not_growth() -> None:
    rng = random.Random(3)
    times = [T0 + i for i in range(120)]
    values = [100 * MB + rng.gauss(0, 7 * MB) for _ in times]
    run = short_run(times, values, DetectorConfig())
    assert run is not None
    assert run.shape != GREW


def test_the_live_levels_keep_the_corpus_verdicts_apart() -> None:
    """One series of each: a fast leak alarms, a late leak alarms after its onset, an
    exponential warm-up and a flat sawtooth never do."""
    for kind, seed, leaks in (
        ("fast_leak", 0, True),
        ("late_onset_leak", 2, True),
        ("warmup_plateau", 3, False),
        ("sawtooth_flat", 0, False),
    ):
        s = generate(kind, seed)
        events = stream(OnlineDetector(start=s.times[0]), s.times, s.values)
        alarms = raised(events, LEAK)
        assert bool(alarms) is leaks, kind
        if s.onset is not None and alarms:
            assert alarms[0] >= s.onset - s.times[0], kind


def test_a_fast_leak_from_the_start_alarms_on_its_first_minute() -> None:
    """60 MB/min from the process's start: the last minute alone, at 2.5 × young_fast_rate,
    is enough (a collector's cycle does not climb that fast in the corpus)."""
    times, values = series(10, lambda i: i * 60 * MB / 60, noise=2 * MB)
    events = stream(OnlineDetector(start=T0), times, values)
    leaks = raised(events, LEAK)
    assert leaks == [60.0]
    alarm = next(e for _, e in events if e.kind == LEAK and e.state == RAISED)
    assert alarm.status.rule == "fast"


def test_a_young_process_at_25_mb_a_minute_alarms_on_its_second_minute() -> None:
    """Above young_fast_rate (20 MB/min) but under 2.5 × it: two minutes of a line."""
    times, values = series(10, lambda i: i * 25 * MB / 60, noise=1 * MB)
    config = DetectorConfig()
    events = stream(OnlineDetector(start=T0, config=config), times, values)
    assert raised(events, LEAK) == [120.0]
    off = stream(
        OnlineDetector(start=T0, config=DetectorConfig(young_fast_rate=0.0)), times, values
    )
    assert raised(off, LEAK)[0] >= 240.0  # without the rule: four minutes


def test_a_steep_exponential_warm_up_is_no_fast_leak() -> None:
    """200 MB with a 4-minute time constant starts at 50 MB/min: its slowing over one or
    two minutes holds the young short windows back."""
    tau = 4 * MINUTE
    times, values = series(40, lambda i: 200 * MB * (1 - math.exp(-i / tau)), noise=1 * MB)
    events = stream(OnlineDetector(start=T0), times, values)
    assert raised(events, GROWING)
    assert not raised(events, LEAK)


def sawtooth_warm_up(i: int) -> float:
    """A warm-up under a collector's 60 s sawtooth of 30 MB: with 4 MB of noise its drops
    stay within the envelope's 6-sigma jump test."""
    return 150 * MB * (1 - math.exp(-i / (9 * MINUTE))) + (i % 60) * 30 * MB / 60


def test_a_warm_up_under_a_sawtooth_hidden_in_noise_is_no_fast_leak() -> None:
    times, values = series(40, sawtooth_warm_up, noise=4 * MB, seed=5)
    events = stream(OnlineDetector(start=T0), times, values)
    assert not raised(events, LEAK)


def test_a_growing_status_is_raised_again_when_its_reason_changes() -> None:
    """3 MB/min from the start: a short run that grew, then a young process's growth:
    the status stands throughout, re-sent with each new reason."""
    times, values = series(9, lambda i: i * 3 * MB / 60)
    events = stream(OnlineDetector(start=T0), times, values)
    growing = [e for _, e in events if e.kind == GROWING]
    assert all(e.state == RAISED for e in growing)
    rules = [e.status.rule for e in growing]
    assert rules[0] == "short"
    assert "young" in rules
    assert all(a != b for a, b in itertools.pairwise(rules))
    assert growing[-1].status.text != growing[0].status.text
