"""The live alert engine on synthetic ticks: leaks raised once they persist and
withdrawn when growth stops, thresholds crossed with hysteresis, targets forgotten on
exit. The real processes and the real server are in tests/integration/test_alerts_live.py."""

from __future__ import annotations

from collections.abc import Iterable

from memlens.analysis.leakmodel import DetectorConfig
from memlens.config import Settings, Thresholds
from memlens.model import Alert, Reading, SystemReading, Target, Tick
from memlens.watch.alerts import HYSTERESIS, AlertEngine

MB = 1024 * 1024
FAST = DetectorConfig(
    min_duration=60.0,
    min_points=30,
    envelope_window=2.0,
    min_leak_window=20.0,
    persistence=2,
    young_age=0.0,  # no warm-up prior and no fast rule: the trend rule alone, compressed
    fast_rate=0.0,
)


def target(key: str = "1-1", pid: int = 1) -> Target:
    return Target(key=key, kind="process", pid=pid, start_time=0.0, name="app", cmdline="app")


def reading(rss: float) -> Reading:
    return Reading(rss=int(rss), vms=2 * int(rss), shared=0, swap=0, threads=1, fds=3, cpu=0.0)


def ticks(values: Iterable[float], t0: float = 1_000_000.0, key: str = "1-1") -> list[Tick]:
    out = []
    for seq, value in enumerate(values, start=1):
        new = (target(key),) if seq == 1 else ()
        out.append(Tick(seq, t0 + seq, {key: reading(value)}, new))
    return out


def engine(**thresholds: float) -> tuple[AlertEngine, list[Alert]]:
    seen: list[Alert] = []
    settings = Settings(thresholds=Thresholds(**thresholds), detector=FAST, every=5.0)  # type: ignore[arg-type]
    return AlertEngine(settings, [seen.append], limit_of=lambda _t: 8e9), seen


def test_a_steady_leak_is_raised_once_after_persisting() -> None:
    alerts, seen = engine()
    for tick in ticks(100 * MB + i * 0.5 * MB for i in range(300)):
        alerts.process(tick)
    leaks = [a for a in seen if a.kind == "leak"]
    assert [a.data["state"] for a in leaks] == ["raised"]
    alert = leaks[0]
    assert alert.key == "1-1"
    assert alert.data["finding"]["verdict"] == "leak"
    assert abs(alert.data["finding"]["rate"] - 0.5 * MB) < 0.05 * MB
    assert alert.data["finding"]["limit"] == 8e9
    assert alert.message()["type"] == "leak"
    assert "(PID 1): LEAK" in alert.text
    # raised only after the detector's minimum duration and `persistence` evaluations
    assert alert.t - 1_000_001.0 >= FAST.min_duration + 5.0


def test_flat_and_noisy_series_raise_nothing() -> None:
    alerts, seen = engine()
    for tick in ticks(200 * MB + (i % 7) * 0.3 * MB for i in range(400)):
        alerts.process(tick)
    assert seen == []
    assert alerts.evaluations > 10


def test_a_leak_that_stops_is_withdrawn() -> None:
    alerts, seen = engine()
    values = [100 * MB + i * 0.5 * MB for i in range(150)]
    values += [values[-1]] * 400
    for tick in ticks(values):
        alerts.process(tick)
    states = [a.data["state"] for a in seen if a.kind == "leak"]
    assert states == ["raised", "cleared"]
    cleared = next(a for a in seen if a.kind == "leak" and a.data.get("state") == "cleared")
    assert cleared.data["finding"]["verdict"] != "leak"
    assert "withdrawn" in cleared.text


def test_rss_threshold_crosses_with_hysteresis() -> None:
    alerts, seen = engine(max_rss=100 * MB)
    limit = 100 * MB
    values = [90 * MB, 101 * MB, 99 * MB, 102 * MB, limit * HYSTERESIS - MB, 98 * MB, 101 * MB]
    for tick in ticks(values):
        alerts.process(tick)
    states = [(a.data["metric"], a.data["state"], a.data["value"]) for a in seen]
    assert states == [
        ("rss", "above", 101 * MB),
        ("rss", "below", int(limit * HYSTERESIS - MB)),
        ("rss", "above", 101 * MB),
    ]
    assert "above the limit 100.0 MB" in seen[0].text


def test_system_memory_threshold_reads_at_most_once_a_second() -> None:
    reads: list[float] = []
    levels = iter([50.0, 95.0, 96.0, 40.0])

    def system_memory() -> float:
        reads.append(1.0)
        return next(levels)

    seen: list[Alert] = []
    settings = Settings(thresholds=Thresholds(max_system_memory=90.0), detector=FAST)
    alerts = AlertEngine(settings, [seen.append], system_memory=system_memory)
    t0 = 1_000_000.0
    for i in range(8):  # ticks every 0.5 s: four reads in four seconds
        alerts.process(Tick(i + 1, t0 + i * 0.5, {}))
    assert len(reads) == 4
    assert [(a.key, a.data["state"]) for a in seen] == [(None, "above"), (None, "below")]


def machine(t: float, percent: float) -> SystemReading:
    total = 1000 * MB
    used = int(total * percent / 100)
    return SystemReading(t, 1.0, total, used, total - used, percent, 0, 0, None, None, None, None)


def test_system_memory_threshold_uses_the_ticks_reading_once_each() -> None:
    """The sampler measured the machine: its reading is judged, once however many ticks
    repeat it, and the engine reads nothing itself."""

    def never() -> float:
        raise AssertionError("the engine read the system's memory itself")

    seen: list[Alert] = []
    settings = Settings(thresholds=Thresholds(max_system_memory=90.0), detector=FAST)
    alerts = AlertEngine(settings, [seen.append], system_memory=never)
    t0 = 1_000_000.0
    levels = [50.0, 95.0, 96.0, 40.0, 97.0]
    readings = [machine(t0 + i, level) for i, level in enumerate(levels)]
    for i in range(len(levels) * 4):  # four ticks per reading, as at a 0.25 s interval
        alerts.process(Tick(i + 1, t0 + i * 0.25, {}, system=readings[i // 4]))
    states = [(a.key, a.data["state"], a.data["value"]) for a in seen]
    assert states == [(None, "above", 95.0), (None, "below", 40.0), (None, "above", 97.0)]
    assert "system memory 95.0% in use" in seen[0].text


def test_leak_rate_threshold_follows_the_alert() -> None:
    alerts, seen = engine(max_leak_rate=0.1 * MB)
    for tick in ticks(100 * MB + i * 0.5 * MB for i in range(300)):
        alerts.process(tick)
    rate = [a for a in seen if a.kind == "threshold" and a.data["metric"] == "leak_rate"]
    assert [a.data["state"] for a in rate] == ["above"]
    assert rate[0].data["value"] > 0.1 * MB


def test_an_exited_target_is_forgotten_and_a_failing_sink_is_contained() -> None:
    def broken(_alert: Alert) -> None:
        raise RuntimeError("sink down")

    seen: list[Alert] = []
    settings = Settings(thresholds=Thresholds(max_rss=10 * MB), detector=FAST)
    alerts = AlertEngine(settings, [broken, seen.append], limit_of=lambda _t: None)
    first, second = ticks([20 * MB, 20 * MB])
    alerts.process(first)
    gone = target()
    alerts.process(Tick(3, second.time, {}, (), (gone,)))
    alerts.process(Tick(4, second.time + 1, {"1-1": reading(30 * MB)}))
    assert [a.data["state"] for a in seen] == ["above"]  # the sink after the broken one ran


def test_the_thread_judges_every_queued_tick_before_stopping() -> None:
    alerts, seen = engine(max_rss=50 * MB)
    alerts.start()
    for tick in ticks([10 * MB] * 5 + [60 * MB]):
        alerts.on_tick(tick)
    alerts.stop()
    assert [a.data["state"] for a in seen] == ["above"]


def test_python_objects_growing_faster_than_the_limit_cross_it() -> None:
    seen: list[Alert] = []
    settings = Settings(thresholds=Thresholds(max_gc_growth=100.0), detector=FAST)  # per s
    alerts = AlertEngine(settings, [seen.append], limit_of=lambda _t: None)
    t0 = 1_000_000.0
    blocks = [50_000 + 50 * i for i in range(60)] + [53_000 + 500 * i for i in range(60)]
    blocks += [blocks[-1]] * 90
    for i, count in enumerate(blocks):
        reading = Reading(rss=MB, vms=MB, shared=0, swap=0, threads=1, fds=1, cpu=0.0)
        reading = reading._replace(py_blocks=count)
        alerts.process(Tick(i + 1, t0 + i, {"1-1": reading}, (target(),) if i == 0 else ()))
    assert [(a.data["metric"], a.data["state"]) for a in seen] == [
        ("gc_growth", "above"),
        ("gc_growth", "below"),
    ]
    assert seen[0].data["value"] > 100.0
    assert "Python objects grow" in seen[0].text


def test_a_leak_with_a_flat_python_heap_says_native_memory() -> None:
    alerts, seen = engine()
    for seq, tick in enumerate(ticks(100 * MB + i * 0.5 * MB for i in range(300)), start=1):
        reading = tick.samples["1-1"]._replace(py_heap=5 * MB + (seq % 3) * 1024)
        alerts.process(Tick(tick.seq, tick.time, {"1-1": reading}, tick.new_targets))
    (leak,) = [a for a in seen if a.kind == "leak"]
    assert "traced Python heap stays flat" in leak.data["analysis"]


def test_the_verdict_as_it_evolves_is_there_for_a_face() -> None:
    alerts, _seen = engine()
    assert alerts.verdicts() == {}
    for tick in ticks(100 * MB + i * 0.5 * MB for i in range(120)):
        alerts.process(tick)
    assert alerts.verdicts()["1-1"].verdict.value == "leak"


def test_fast_samples_reach_the_detector_as_one_floor_value_a_second() -> None:
    alerts, _seen = engine()
    t0 = 1_000_000.0
    for i in range(1000):  # 100 s at 10 Hz, with a dip each second
        rss = 100 * MB - (5 * MB if i % 10 == 3 else 0)
        new = (target(),) if i == 0 else ()
        alerts.process(Tick(i + 1, t0 + i * 0.1, {"1-1": reading(rss)}, new))
    detector = alerts._watched["1-1"].detector
    assert 95 <= len(detector) <= 100
    assert set(detector._values.tolist()) == {95.0 * MB}  # the floor of each second


def test_leak_and_growing_alerts_name_their_settings_and_rule() -> None:
    alerts, seen = engine()
    for tick in ticks(100 * MB + i * 0.5 * MB for i in range(300)):
        alerts.process(tick)
    kinds = {a.kind for a in seen}
    assert {"leak", "growing"} <= kinds
    for alert in seen:
        assert alert.data["settings"] == "default settings (no config file)"
        assert alert.data["rule"]
    growing = next(a for a in seen if a.kind == "growing")
    assert growing.message()["type"] == "growing"
    assert growing.data["state"] == "raised"


def test_a_growing_status_is_sent_again_with_its_new_reason() -> None:
    """3 MB/min from the start, default settings: a short run that grew, then a young
    process's growth. The page keeps the latest growing message: each says why now."""
    settings = Settings(detector=DetectorConfig(), every=60.0)
    seen: list[Alert] = []
    alerts = AlertEngine(settings, [seen.append], limit_of=lambda _t: None)
    for tick in ticks(100 * MB + i * 3 * MB / 60 for i in range(9 * 60)):
        alerts.process(tick)
    growing = [a for a in seen if a.kind == "growing"]
    assert [a.data["state"] for a in growing] == ["raised"] * len(growing)
    rules = [a.data["rule"] for a in growing]
    assert rules[0] == "short"
    assert "young" in rules
    texts = [a.text for a in growing]
    assert "too short to call a trend" in texts[0]
    assert "since the process started" in texts[rules.index("young")]
