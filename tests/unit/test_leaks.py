"""The leak detector on labelled synthetic series (tests/leakgen.py, fixed seeds).

Statistical behaviour is checked on representative seeds, never on timings.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import fields, replace
from pathlib import Path

import pytest

from leakgen import KINDS, MB, MINUTE, T0, generate
from memlens.analysis.leakmodel import DAY, HOUR, DetectorConfig, Severity, Verdict, severity_for
from memlens.analysis.leaks import OnlineDetector, detect, naive_slope
from memlens.analysis.leaktext import p_text, rate_text
from memlens.analysis.trend import hamed_rao_factor, theil_sen

RATE_1MB_MIN = 1.0 * MB / MINUTE


def linear(
    minutes: float,
    *,
    rate: float,
    base: float = 200 * MB,
    noise: float = 0.3 * MB,
    seed: int = 1,
    start: float = T0,
) -> tuple[list[float], list[float]]:
    """A plain leak at 1 Hz: base + rate·t + Gaussian noise."""
    rng = random.Random(seed)
    n = int(minutes * 60) + 1
    times = [start + i for i in range(n)]
    values = [base + rate * i + rng.gauss(0.0, noise) for i in range(n)]
    return times, values


# -- each kind gets its verdict ---------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("kind", list(KINDS))
def test_each_kind_gets_its_label(kind: str, seed: int) -> None:
    series = generate(kind, seed)
    finding = detect(series.times, series.values)
    assert finding.verdict is series.label, finding.reason


def test_the_naive_peer_calls_a_warm_up_a_leak_and_the_detector_does_not() -> None:
    series = generate("warmup_plateau", 0)
    assert naive_slope(series.times, series.values).verdict is Verdict.LEAK
    assert detect(series.times, series.values).verdict is Verdict.PLATEAU


# -- the leak's figures -----------------------------------------------------------------


def test_the_interval_holds_the_true_rate_of_linear_leaks() -> None:
    """A 95% interval may miss one time in twenty; on these seeds it must hold at least
    17 times out of 20, and the rate itself be within 10%."""
    held = 0
    for seed in range(20):
        series = generate("linear_leak", seed)
        finding = detect(series.times, series.values)
        assert finding.verdict is Verdict.LEAK
        assert finding.rate is not None
        assert finding.rate_low is not None
        assert finding.rate_high is not None
        assert finding.rate_low <= finding.rate <= finding.rate_high
        assert finding.rate == pytest.approx(series.rate, rel=0.1)
        held += finding.rate_low <= series.rate <= finding.rate_high
    assert held >= 17


@pytest.mark.parametrize("seed", range(6))
def test_a_late_leak_is_dated_near_its_onset(seed: int) -> None:
    series = generate("late_onset_leak", seed)
    finding = detect(series.times, series.values)
    assert finding.verdict is Verdict.LEAK
    assert series.onset is not None
    assert finding.onset is not None
    assert abs(finding.onset - series.onset) <= max(3 * MINUTE, 0.03 * series.duration)
    assert finding.rate == pytest.approx(series.rate, rel=0.25)


def test_a_leak_under_a_gc_sawtooth_is_measured_on_its_floor() -> None:
    series = generate("sawtooth_leak", 3)
    finding = detect(series.times, series.values)
    assert finding.verdict is Verdict.LEAK
    assert finding.rate == pytest.approx(series.rate, rel=0.15)


def test_growth_is_the_rate_over_the_leak() -> None:
    times, values = linear(60, rate=RATE_1MB_MIN)
    finding = detect(times, values)
    assert finding.growth == pytest.approx(60 * MB, rel=0.05)
    assert finding.onset == times[0]
    assert finding.start == times[0]
    assert finding.end == times[-1]
    assert finding.points == len(times)


def test_the_reason_reads_like_a_person_wrote_it() -> None:
    times, values = linear(60, rate=2.1 * RATE_1MB_MIN)
    reason = detect(times, values).reason
    assert reason.startswith("floor grows 2.1 MB/min (95% CI ")
    assert reason.endswith("since 22:13 UTC; Mann–Kendall p<1e-12")


@pytest.mark.parametrize(
    ("rate", "text"),
    [
        (12 * MB, "12.0 MB/s"),
        (2.1 * RATE_1MB_MIN, "2.1 MB/min"),
        (0.35 * MB / HOUR, "0.35 MB/h"),
        (-3 * MB / HOUR, "-3.0 MB/h"),
    ],
)
def test_rates_read_in_the_unit_that_fits(rate: float, text: str) -> None:
    assert rate_text(rate) == text


def test_p_values_read_short() -> None:
    assert p_text(1e-6) == "p=1e-6"
    assert p_text(0.0031) == "p=0.0031"
    assert p_text(0.2) == "p=0.2"
    assert p_text(1e-15) == "p<1e-12"


# -- time to limit and severity ---------------------------------------------------------


def test_time_to_limit_is_the_headroom_over_the_rate() -> None:
    times, values = linear(60, rate=RATE_1MB_MIN, base=100 * MB, noise=0.05 * MB)
    finding = detect(times, values, limit=200 * MB)
    # The floor ends at 160 MB: 40 MB to go at 1 MB/min.
    assert finding.limit == 200 * MB
    assert finding.time_to_limit == pytest.approx(40 * MINUTE, rel=0.03)
    assert "reaches 200.0 MB in 40 min" in finding.reason or "reaches 200.0 MB in 39 min" in (
        finding.reason
    )


def test_time_to_limit_counts_the_peaks_above_the_floor() -> None:
    """The limit is hit by the peaks: a sawtooth of 50 MB leaves 50 MB less room."""
    times, values = linear(60, rate=RATE_1MB_MIN, base=100 * MB, noise=0.05 * MB)
    saw = [v + 50 * MB * ((i % 60) / 60) for i, v in enumerate(values)]
    finding = detect(times, saw, limit=300 * MB)
    assert finding.verdict is Verdict.LEAK
    # Floor at 160 MB, peaks ~50 MB above: about 90 MB of room at 1 MB/min.
    assert finding.time_to_limit == pytest.approx(90 * MINUTE, rel=0.08)


def test_time_to_limit_is_none_without_a_limit_and_zero_past_it() -> None:
    times, values = linear(30, rate=RATE_1MB_MIN)
    assert detect(times, values).time_to_limit is None
    assert detect(times, values, limit=100 * MB).time_to_limit == 0.0
    flat = detect(times, [200 * MB] * len(times), limit=100 * MB)
    assert flat.verdict is Verdict.FLAT
    assert flat.time_to_limit is None


@pytest.mark.parametrize(
    ("mb_per_s", "expected"),
    [
        (0.01, Severity.LOW),  # a leak is never NONE
        (1.0, Severity.LOW),
        (1.99, Severity.LOW),
        (2.0, Severity.MEDIUM),
        (4.9, Severity.MEDIUM),
        (5.0, Severity.HIGH),
        (9.9, Severity.HIGH),
        (10.0, Severity.CRITICAL),
        (50.0, Severity.CRITICAL),
    ],
)
def test_rate_bands(mb_per_s: float, expected: Severity) -> None:
    assert severity_for(mb_per_s * MB, None, DetectorConfig()) is expected


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (59 * MINUTE, Severity.CRITICAL),
        (1 * HOUR, Severity.HIGH),
        (23 * HOUR, Severity.HIGH),
        (1 * DAY, Severity.MEDIUM),
        (6.9 * DAY, Severity.MEDIUM),
        (7 * DAY, Severity.LOW),
        (300 * DAY, Severity.LOW),
    ],
)
def test_time_to_limit_bands(seconds: float, expected: Severity) -> None:
    assert severity_for(0.001 * MB, seconds, DetectorConfig()) is expected


def test_severity_is_the_worse_of_the_two_bands() -> None:
    config = DetectorConfig()
    assert severity_for(12 * MB, 30 * DAY, config) is Severity.CRITICAL
    assert severity_for(1.5 * MB, 10 * MINUTE, config) is Severity.CRITICAL
    assert severity_for(3 * MB, 5 * HOUR, config) is Severity.HIGH


def test_bands_are_configurable() -> None:
    config = DetectorConfig(
        rate_bands=((0.1 * MB / MINUTE, Severity.MEDIUM), (1 * MB / MINUTE, Severity.HIGH)),
        limit_bands=((1 * DAY, Severity.CRITICAL),),
    )
    assert severity_for(0.5 * MB / MINUTE, None, config) is Severity.MEDIUM
    assert severity_for(2 * MB / MINUTE, None, config) is Severity.HIGH
    assert severity_for(0.01 * MB / MINUTE, 20 * HOUR, config) is Severity.CRITICAL
    assert severity_for(0.01 * MB / MINUTE, 2 * DAY, config) is Severity.LOW


def test_a_slow_leak_near_its_limit_is_critical_end_to_end() -> None:
    """0.5 MB/min is far below every rate band; 20 minutes from the limit is not."""
    times, values = linear(60, rate=0.5 * RATE_1MB_MIN, base=100 * MB, noise=0.05 * MB)
    far = detect(times, values)
    near = detect(times, values, limit=140 * MB)
    assert far.severity is Severity.LOW
    assert near.severity is Severity.CRITICAL
    assert near.time_to_limit == pytest.approx(20 * MINUTE, rel=0.05)


def test_non_leaks_have_no_severity() -> None:
    series = generate("single_step", 0)
    finding = detect(series.times, series.values, limit=1e12)
    assert finding.verdict is Verdict.STEP
    assert finding.severity is Severity.NONE
    assert finding.time_to_limit is None


# -- steps and plateaus -----------------------------------------------------------------


def test_a_step_is_dated_and_sized() -> None:
    series = generate("single_step", 1)
    finding = detect(series.times, series.values)
    assert finding.verdict is Verdict.STEP
    assert finding.growth == pytest.approx(series.params["size"], rel=0.1)
    assert finding.onset is not None
    assert abs(finding.onset - (T0 + series.params["at"])) < 3 * MINUTE


def test_a_staircase_that_keeps_climbing_is_a_leak_and_a_few_steps_are_not() -> None:
    rng = random.Random(3)
    n = 2 * 3600
    times = [T0 + i for i in range(n)]
    stairs = [100 * MB + 10 * MB * (i // 600) + rng.gauss(0, 0.3 * MB) for i in range(n)]
    assert detect(times, stairs).verdict is Verdict.LEAK
    few = [100 * MB + 10 * MB * min(3, i // 1200) + rng.gauss(0, 0.3 * MB) for i in range(n)]
    assert detect(times, few).verdict is Verdict.STEP


# -- input handling ---------------------------------------------------------------------


@pytest.mark.parametrize("seconds", [0, 1, 59, 120, 299])
def test_short_series_are_insufficient(seconds: int) -> None:
    times, values = linear(seconds / 60, rate=5 * RATE_1MB_MIN)
    finding = detect(times, values)
    assert finding.verdict is Verdict.INSUFFICIENT
    assert finding.rate is None
    assert finding.severity is Severity.NONE
    assert "need at least" in finding.reason


def test_empty_and_all_unknown_series_are_insufficient() -> None:
    assert detect([], []).verdict is Verdict.INSUFFICIENT
    assert detect([1.0, 2.0], [None, None]).verdict is Verdict.INSUFFICIENT


def test_unknown_values_are_skipped_and_order_restored() -> None:
    times, values = linear(30, rate=RATE_1MB_MIN)
    holes: list[float | None] = [None if i % 7 == 0 else v for i, v in enumerate(values)]
    finding = detect(times, holes)
    assert finding.verdict is Verdict.LEAK
    assert finding.points == sum(v is not None for v in holes)
    shuffled = list(zip(times, values, strict=True))
    random.Random(5).shuffle(shuffled)
    again = detect([t for t, _ in shuffled], [v for _, v in shuffled])
    assert again.rate == pytest.approx(detect(times, values).rate)


def test_mismatched_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="length"):
        detect([1.0, 2.0], [1.0])


def test_to_dict_is_plain_json() -> None:
    times, values = linear(30, rate=RATE_1MB_MIN)
    data = detect(times, values, limit=1e11).to_dict()  # 65 days away: LOW
    assert json.loads(json.dumps(data, allow_nan=False)) == data
    assert data["verdict"] == "leak"
    assert data["severity"] == "low"
    insufficient = detect(times[:10], values[:10]).to_dict()
    assert json.loads(json.dumps(insufficient, allow_nan=False))["rate"] is None


def test_config_is_validated() -> None:
    with pytest.raises(ValueError, match="alpha"):
        DetectorConfig(alpha=0.0)
    with pytest.raises(ValueError, match="persistence"):
        DetectorConfig(persistence=0)
    with pytest.raises(ValueError, match="window"):
        DetectorConfig(window=60.0)


# -- the online detector ----------------------------------------------------------------


def feed(
    detector: OnlineDetector, times: list[float], values: list[float], every: float = 60.0
) -> list[tuple[float, Verdict, bool]]:
    """Feed samples, evaluating every `every` s: (time, verdict, alert?) per evaluation."""
    log = []
    due = times[0] + every
    for t, v in zip(times, values, strict=True):
        detector.update(t, v)
        if t >= due:
            due += every
            alert = detector.evaluate(t)
            assert detector.last is not None
            log.append((t, detector.last.verdict, alert is not None))
    return log


def test_online_needs_persistence_before_alerting() -> None:
    """A leak in a process that has run flat for an hour (no warm-up to fear): the
    alarm comes `persistence` LEAK evaluations after the first, once."""
    config = DetectorConfig()
    flat_t, flat_v = linear(60, rate=0.0)
    times, values = linear(30, rate=2 * RATE_1MB_MIN)
    times = flat_t + [flat_t[-1] + 1 + t - times[0] for t in times]
    values = flat_v + values
    log = feed(OnlineDetector(config=config), times, values)
    leaks = [i for i, (_, verdict, _) in enumerate(log) if verdict is Verdict.LEAK]
    alerts = [i for i, (_, _, alert) in enumerate(log) if alert]
    assert leaks, "the leak is seen"
    assert not log[leaks[0]][2], "no alert on the first LEAK evaluation"
    assert len(alerts) == 1, "one alert, then quiet"
    assert alerts[0] >= leaks[0] + config.persistence - 1


def test_online_alerts_on_a_real_leak_within_the_series() -> None:
    series = generate("late_onset_leak", 2)
    log = feed(OnlineDetector(), series.times, series.values)
    alerts = [t for t, _, alert in log if alert]
    assert series.onset is not None
    assert alerts
    assert series.onset < alerts[0] < series.onset + 30 * MINUTE


@pytest.mark.parametrize("kind", ["single_step", "batch_spikes", "sawtooth_flat"])
def test_online_stays_quiet_on_series_that_do_not_leak(kind: str) -> None:
    series = generate(kind, 0)
    log = feed(OnlineDetector(), series.times, series.values)
    assert not any(alert for _, _, alert in log)


def test_online_alerts_again_only_when_severity_rises() -> None:
    """Leaking 2 MB/min from 100 MB towards 300 MB: HIGH while the limit is over an
    hour away (93 min at the first alert), CRITICAL from 40 minutes in; one alert each."""
    times, values = linear(90, rate=2 * RATE_1MB_MIN, base=100 * MB, noise=0.05 * MB)
    detector = OnlineDetector(limit=300 * MB)
    log = feed(detector, times, values)
    alert_times = [t - T0 for t, _, alert in log if alert]
    assert len(alert_times) == 2
    assert alert_times[0] < 12 * MINUTE  # young: 8 min at its pace, then persistence
    assert 40 * MINUTE <= alert_times[1] < 45 * MINUTE
    assert detector.last is not None
    assert detector.last.severity is Severity.CRITICAL


def test_online_re_arms_after_the_leak_stops() -> None:
    config = DetectorConfig(persistence=2)
    detector = OnlineDetector(config=config)
    times, values = linear(20, rate=2 * RATE_1MB_MIN, noise=0.05 * MB)
    log = feed(detector, times, values)
    assert sum(alert for _, _, alert in log) == 1
    # Freed and flat for a long while: the verdict stops being LEAK and the alarm re-arms.
    rng = random.Random(9)
    later = [times[-1] + 1 + i for i in range(5 * 3600)]
    flat = [150 * MB + rng.gauss(0, 0.05 * MB) for _ in later]
    feed(detector, later, flat)
    assert detector.last is not None
    assert detector.last.verdict is not Verdict.LEAK
    start = later[-1] + 1
    again_t = [start + i for i in range(20 * 60)]
    again_v = [150 * MB + 2 * RATE_1MB_MIN * i for i in range(len(again_t))]
    assert sum(alert for _, _, alert in feed(detector, again_t, again_v)) == 1


def test_online_window_is_bounded() -> None:
    config = DetectorConfig(window=1800.0)
    detector = OnlineDetector(config=config)
    for i in range(4000):
        detector.update(T0 + i, 100 * MB)
    assert len(detector) == 1801
    detector.evaluate(T0 + 5000)
    assert len(detector) == 800  # the samples of the last 1800 s before 5000


def test_online_takes_another_analyser() -> None:
    series = generate("warmup_plateau", 0)
    detector = OnlineDetector(analyser=naive_slope)
    assert any(alert for _, _, alert in feed(detector, series.times, series.values))


# -- the statistics underneath ----------------------------------------------------------


def test_theil_sen_on_an_exact_line() -> None:
    xs = [float(i) for i in range(50)]
    trend = theil_sen(xs, [3.0 + 2.0 * x for x in xs])
    assert trend.slope == 2.0
    assert trend.intercept == 3.0
    assert trend.low == trend.high == 2.0
    assert trend.p_up < 1e-12
    assert trend.at(10.0) == 23.0


def test_theil_sen_ignores_a_few_wild_points() -> None:
    xs = [float(i) for i in range(60)]
    ys = [x + (500.0 if i % 10 == 0 else 0.0) for i, x in enumerate(xs)]
    assert theil_sen(xs, ys).slope == pytest.approx(1.0)


def test_mann_kendall_sees_no_trend_in_noise() -> None:
    rng = random.Random(4)
    xs = [float(i) for i in range(100)]
    trend = theil_sen(xs, [rng.gauss(0, 1) for _ in xs])
    assert trend.p_up > 0.05
    assert trend.low < 0.0 < trend.high


def test_hamed_rao_inflates_the_variance_of_wandering_series() -> None:
    """About 1 on white noise (on average: chance correlations inflate a few), several
    times more on an AR(1) wander with 0.95 from one point to the next."""
    white_factors = []
    for seed in range(20):
        rng = random.Random(seed)
        white = [rng.gauss(0, 1) for _ in range(120)]
        walk = [0.0]
        for _ in range(119):
            walk.append(0.95 * walk[-1] + rng.gauss(0, 1))
        white_factors.append(hamed_rao_factor(white))
        assert hamed_rao_factor(walk) > 3.0
    assert sum(white_factors) / len(white_factors) < 1.2
    xs = [float(i) for i in range(120)]
    assert theil_sen(xs, walk).n_eff < theil_sen(xs, white).n_eff


def test_ties_of_page_sized_values_do_not_break_the_test() -> None:
    xs = [float(i) for i in range(40)]
    trend = theil_sen(xs, [4096.0 * (i // 10) for i in range(40)])
    assert trend.p_up < 0.01
    assert math.isfinite(trend.z)


def test_a_config_change_reaches_the_verdict() -> None:
    times, values = linear(30, rate=0.2 * RATE_1MB_MIN, noise=0.05 * MB)
    assert detect(times, values).verdict is Verdict.LEAK
    strict = replace(DetectorConfig(), min_rate=1 * RATE_1MB_MIN)
    assert detect(times, values, config=strict).verdict is Verdict.FLAT


def test_every_parameter_is_documented() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "leak-detection.md").read_text()
    for name in (f.name for f in fields(DetectorConfig)):
        assert f"| `{name}` |" in doc, f"DetectorConfig.{name} is not in docs/leak-detection.md"
