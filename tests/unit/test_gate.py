"""The CI gate's rules, on series whose answer is known."""

from __future__ import annotations

import math
import random

import pytest

from leakgen import generate
from memlens.analysis import DetectorConfig
from memlens.analysis.gate import (
    EXIT_CODE,
    LEAK,
    MAX_GROWTH,
    MAX_RSS,
    Criterion,
    Status,
    TargetSeries,
    judge,
)

MB = 1024 * 1024
MB_PER_HOUR = MB / 3600.0
T0 = 1_700_000_000.0


def _series(
    values: list[float], *, step: float = 0.1, label: str = "app (pid 1)", kind: str = "process"
) -> TargetSeries:
    return TargetSeries(label, kind, [T0 + i * step for i in range(len(values))], values)


def _noisy(levels: list[float], seed: int = 1, sd: float = 0.2 * MB) -> list[float]:
    """Page-quantised, with Gaussian noise, as RSS is."""
    rng = random.Random(seed)
    return [(v + rng.gauss(0.0, sd)) // 4096 * 4096 for v in levels]


def _only(criteria: tuple[Criterion, ...], name: str) -> Criterion:
    found = [c for c in criteria if c.name == name]
    assert len(found) == 1, criteria
    return found[0]


def test_peak_rss_fails_only_above_the_limit() -> None:
    values = [100.0 * MB] * 20 + [150.0 * MB] + [100.0 * MB] * 20
    series = {"a": _series(values)}
    failed = _only(judge(series, max_rss=100 * MB, max_growth=None).criteria, MAX_RSS)
    assert failed.status is Status.FAILED
    assert failed.measured == 150 * MB
    assert "150.0 MB" in failed.message
    assert "2 s into the run" in failed.message
    at_limit = judge(series, max_rss=150 * MB, max_growth=None)
    assert _only(at_limit.criteria, MAX_RSS).status is Status.PASSED
    assert at_limit.passed
    assert at_limit.exit_code == 0


def test_a_process_tree_is_judged_once_by_its_sum() -> None:
    flat = [50.0 * MB] * 30
    series = {
        "sum-1": TargetSeries("total", "sum", [T0 + i for i in range(30)], flat, ("1",)),
        "1": TargetSeries("root", "process", [T0 + i for i in range(30)], flat),
        # A grandchild that joined after the sum's members were written.
        "2": TargetSeries("child", "process", [T0 + i for i in range(30)], flat, parent="1"),
        "3": TargetSeries("grandchild", "process", [T0 + i for i in range(30)], flat, parent="2"),
        "9": TargetSeries("other", "process", [T0 + i for i in range(30)], flat),
    }
    result = judge(series, max_rss=1024 * MB, max_growth=None)
    assert [c.target for c in result.criteria] == ["total", "other"]
    assert "1 process tree as the sum" in result.scope
    assert "1 process outside any tree" in result.scope


def test_a_short_growing_run_fails_on_the_floors_trend() -> None:
    # 4 s at 10 Hz, growing 10 MB/s: far too short for the leak detector.
    values = _noisy([100 * MB + 1 * MB * i for i in range(40)])
    result = judge({"a": _series(values)}, max_rss=None, max_growth=10 * MB_PER_HOUR)
    growth = _only(result.criteria, MAX_GROWTH)
    assert growth.status is Status.FAILED
    assert "short run" in growth.message
    assert "cannot tell a leak from a warm-up" in growth.message
    assert growth.measured is not None
    assert 9 * MB < growth.measured < 11 * MB
    assert result.exit_code == 1
    assert result.verdict == "FAIL"


def test_a_staircase_whose_last_sample_falls_as_the_process_exits_still_fails() -> None:
    # 8 MB every 0.2 s for 3 s, sampled at 10 Hz; the last sample was read while the
    # interpreter was freeing its memory on the way out. That fall ends the series: it
    # does not make the whole climb an excursion that returned to the floor.
    values = [16 * MB] * 3 + [(16 + 8 * (1 + i // 2)) * MB for i in range(28)] + [62 * MB]
    result = judge({"a": _series(values)}, max_rss=None, max_growth=10 * MB_PER_HOUR)
    growth = _only(result.criteria, MAX_GROWTH)
    assert growth.status is Status.FAILED, growth.message
    assert growth.measured is not None
    assert 30 * MB < growth.measured < 50 * MB  # 40 MB/s


def test_a_short_rise_within_the_limit_passes() -> None:
    values = _noisy([100 * MB + 1 * MB * i for i in range(40)])
    result = judge({"a": _series(values)}, max_rss=None, max_growth=100 * MB)
    growth = _only(result.criteria, MAX_GROWTH)
    assert growth.status is Status.PASSED
    assert "within the limit" in growth.message


def test_a_short_flat_run_passes() -> None:
    values = _noisy([100.0 * MB] * 60)
    growth = _only(
        judge({"a": _series(values)}, max_rss=None, max_growth=MB_PER_HOUR).criteria, MAX_GROWTH
    )
    assert growth.status is Status.PASSED
    assert "no significant rise" in growth.message


def test_the_warmup_is_left_out_of_growth_but_not_out_of_the_peak() -> None:
    # 2 s of start-up climbing 80 MB, then 4 s flat.
    rise = [20 * MB + 4 * MB * i for i in range(20)]
    values = _noisy(rise + [100.0 * MB] * 40, sd=0.05 * MB)
    series = {"a": _series(values)}
    cold = _only(judge(series, max_rss=None, max_growth=10 * MB_PER_HOUR).criteria, MAX_GROWTH)
    assert cold.measured is not None
    assert cold.measured > 1 * MB  # the start-up's climb pulls the trend up
    warm = judge(series, max_rss=90 * MB, max_growth=10 * MB_PER_HOUR, warmup=2.5)
    growth = _only(warm.criteria, MAX_GROWTH)
    assert growth.status is Status.PASSED
    assert growth.measured is not None
    assert abs(growth.measured) < 0.1 * MB
    assert "after a warm-up of 2 s" in growth.message
    assert _only(warm.criteria, MAX_RSS).status is Status.FAILED


def test_too_few_samples_are_not_judged_and_pass_unless_strict() -> None:
    series = {"a": _series([100.0 * MB + i * MB for i in range(10)])}
    result = judge(series, max_rss=None, max_growth=MB_PER_HOUR)
    growth = _only(result.criteria, MAX_GROWTH)
    assert growth.status is Status.NOT_JUDGED
    assert growth.measured is None
    assert "not enough samples" in growth.message
    assert result.passed
    assert result.not_judged == (growth,)
    strict = judge(series, max_rss=None, max_growth=MB_PER_HOUR, strict=True)
    assert _only(strict.criteria, MAX_GROWTH).status is Status.FAILED
    assert "not judged" in _only(strict.criteria, MAX_GROWTH).message
    assert strict.exit_code == 1


def test_a_warmup_longer_than_the_run_leaves_nothing_to_judge() -> None:
    series = {"a": _series([100.0 * MB] * 50)}
    growth = _only(
        judge(series, max_rss=None, max_growth=MB_PER_HOUR, warmup=60.0).criteria, MAX_GROWTH
    )
    assert growth.status is Status.NOT_JUDGED
    assert "after a warm-up of 1 min 0 s" in growth.message


def test_a_long_run_is_judged_by_the_leak_detector() -> None:
    leak = generate("linear_leak", 11)  # 33 min, about 150 MB/h
    series = {"a": TargetSeries("app", "process", leak.times, leak.values)}
    over = _only(judge(series, max_rss=None, max_growth=10 * MB_PER_HOUR).criteria, MAX_GROWTH)
    assert over.status is Status.FAILED
    assert over.message.startswith("LEAK")
    assert "CI" in over.message
    assert "short run" not in over.message
    assert over.measured == pytest.approx(leak.rate, rel=0.05)
    under = _only(judge(series, max_rss=None, max_growth=1024 * MB_PER_HOUR).criteria, MAX_GROWTH)
    assert under.status is Status.PASSED
    assert "within the limit" in under.message

    warm = generate("warmup_plateau", 1)
    plateau = {"a": TargetSeries("app", "process", warm.times, warm.values)}
    calm = _only(judge(plateau, max_rss=None, max_growth=10 * MB_PER_HOUR).criteria, MAX_GROWTH)
    assert calm.status is Status.PASSED
    assert calm.message.startswith("WARM-UP/PLATEAU")


def test_with_no_limit_a_leak_fails_and_a_short_run_is_not_judged() -> None:
    leak = generate("linear_leak", 11)
    result = judge(
        {"a": TargetSeries("app", "process", leak.times, leak.values)},
        max_rss=None,
        max_growth=None,
    )
    assert [c.name for c in result.criteria] == [LEAK]
    assert result.criteria[0].status is Status.FAILED
    assert result.exit_code == 1

    warm = generate("warmup_plateau", 1)
    calm = judge(
        {"a": TargetSeries("app", "process", warm.times, warm.values)},
        max_rss=None,
        max_growth=None,
    )
    assert calm.criteria[0].status is Status.PASSED

    short = judge({"a": _series([100.0 * MB] * 50)}, max_rss=None, max_growth=None)
    assert short.criteria[0].status is Status.NOT_JUDGED
    assert "too short for the leak detector" in short.criteria[0].message
    assert short.passed


def test_a_limit_asked_for_replaces_the_default_leak_rule() -> None:
    result = judge({"a": _series([1.0 * MB] * 50)}, max_rss=10 * MB, max_growth=None)
    assert [c.name for c in result.criteria] == [MAX_RSS]


@pytest.mark.parametrize(
    ("code", "allowed", "status", "measured", "says"),
    [
        (0, (), Status.PASSED, 0, "succeeded"),
        (3, (), Status.FAILED, 3, "proves nothing"),
        (3, (3,), Status.PASSED, 3, "allowed"),
        (-9, (), Status.FAILED, 137, "SIGKILL"),
    ],
)
def test_the_commands_exit_code(
    code: int, allowed: tuple[int, ...], status: Status, measured: int, says: str
) -> None:
    result = judge(
        {"a": _series([1.0 * MB] * 5)},
        max_rss=10 * MB,
        max_growth=None,
        exit_code=code,
        allowed_exit_codes=allowed,
    )
    exit_code = _only(result.criteria, EXIT_CODE)
    assert exit_code.status is status
    assert exit_code.measured == measured
    assert says in exit_code.message
    assert result.exit_code == (0 if status is Status.PASSED else 1)


def test_nothing_recorded_is_not_judged() -> None:
    result = judge({}, max_rss=10 * MB, max_growth=MB_PER_HOUR)
    assert [(c.name, c.status) for c in result.criteria] == [
        (MAX_RSS, Status.NOT_JUDGED),
        (MAX_GROWTH, Status.NOT_JUDGED),
    ]
    assert result.passed


def test_unknown_values_are_skipped() -> None:
    values: list[float | None] = [None, 10.0 * MB, math.nan, 20.0 * MB, None]
    series = {"a": TargetSeries("app", "process", [T0 + i for i in range(5)], values)}
    rss = _only(judge(series, max_rss=15 * MB, max_growth=None).criteria, MAX_RSS)
    assert rss.measured == 20 * MB
    assert rss.status is Status.FAILED


def test_the_detectors_settings_are_used() -> None:
    # 2 minutes at 1 Hz: too short by default, long enough when told so.
    leak = generate("linear_leak", 11)
    times, values = leak.times[:120], leak.values[:120]
    series = {"a": TargetSeries("app", "process", times, values)}
    default = _only(judge(series, max_rss=None, max_growth=None).criteria, LEAK)
    assert default.status is Status.NOT_JUDGED
    quick = DetectorConfig(min_duration=60.0, min_leak_window=60.0)
    told = _only(judge(series, max_rss=None, max_growth=None, config=quick).criteria, LEAK)
    assert told.status is not Status.NOT_JUDGED
