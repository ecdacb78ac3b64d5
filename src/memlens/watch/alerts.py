"""Live alerts: leaks and threshold crossings, judged as the ticks arrive.

`AlertEngine.on_tick` is called on the sampler's thread and only queues the tick; a
thread of the engine's own feeds one `OnlineDetector` per target and evaluates each
target every `Settings.every` seconds of sample time (staggered, so a thousand targets
do not all cost their few milliseconds in the same round). Sampling never waits for the
statistics.

What it emits (an `Alert`, plain data in memlens.model) goes to every sink: the store
(the recording keeps it), the live view (the dashboard's banner and chart marker), the
console. docs/protocol.md and docs/storage.md give the fields; docs/leak-detection.md
the rules.

Thresholds cross with hysteresis: a value goes "above" when it exceeds the limit and
back "below" only under 95% of it, so a value that hovers at the limit does not flood
the log.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from memlens.analysis.explain import explain
from memlens.analysis.leakmodel import LeakFinding
from memlens.analysis.leaks import GROWING, LEAK, RAISED, LevelEvent, OnlineDetector
from memlens.analysis.leakstacks import stack_text
from memlens.analysis.leaktext import headline, rate_text
from memlens.analysis.live import Level
from memlens.config import Settings, limit_for, origin_of
from memlens.model import Alert, Target, Tick
from memlens.probes.limits import memory_limit
from memlens.units import human_bytes
from memlens.watch.group_alerts import GROUP_LEAK, GroupLeaks

log = logging.getLogger(__name__)

DETECTOR_STEP = 1.0  # s: the finest grain of the live detector's series
GC_WINDOW = 60.0  # s over which the growth of Python's objects is measured
HYSTERESIS = 0.95  # back "below" under this fraction of the limit
SYSTEM_EVERY = 1.0  # s between reads of the system's memory, whatever the interval
QUEUE_LIMIT = 10_000  # ticks waiting for the engine before new ones are dropped


Sink = Callable[[Alert], None]
LimitOf = Callable[[Target], "float | None"]
SystemMemory = Callable[[], float]
# The stacks that grew in a target's heap over [t0, t1] (the alert's `heap_growth`), or
# None where its profiles cannot say: memlens.watch.heap_history.HeapHistory.growth.
StacksOf = Callable[[str, float, float], "dict[str, Any] | None"]
# Where a target's memory grew over [t0, t1], by category, and the sentence naming the
# category that carried it (the alert's `map_growth`), or None without two readings of
# its memory map: memlens.watch.maps_poll.MapsPoller.growth.
MapsOf = Callable[[str, float, float], "dict[str, Any] | None"]


def target_memory_limit(target: Target) -> float | None:
    """The memory limit of a target's process (None when unknown); what the recording
    keeps of it, so the live and the later verdict measure the same time to a limit."""
    try:
        limit = memory_limit(target.pid)
    except Exception:  # a limit is a nicety: judge without it
        log.debug("no memory limit for %s", target.key, exc_info=True)
        return None
    return None if limit is None else float(limit.bytes)


_limit_of = target_memory_limit


def _system_memory_percent() -> float:
    import psutil

    return float(psutil.virtual_memory().percent)


@dataclass
class _Watched:
    target: Target
    detector: OnlineDetector
    due: float | None = None  # sample time of the next evaluation
    above_rss: bool = False
    above_rate: bool = False
    above_gc: bool = False
    # Samples faster than DETECTOR_STEP reach the detector as the lowest of each step
    # (the floor is what it judges), so its window holds at most one value a second.
    pending_t: float | None = None
    pending_v: float = 0.0
    # From the Python agent, when there is one: the traced heap over the detector's
    # window (for the leak's analysis text) and Python's blocks over the last minute.
    heap: deque[tuple[float, float]] = field(default_factory=deque)
    blocks: deque[tuple[float, float]] = field(default_factory=deque)


@dataclass
class _Crossing:
    above: bool = False
    last_read: float = field(default=float("-inf"))  # sample time of our own last read
    last_reading: float = field(default=float("-inf"))  # time of the last tick reading judged


class AlertEngine:
    """Leak detection and thresholds over a live watch; see the module's docstring."""

    def __init__(
        self,
        settings: Settings,
        sinks: Sequence[Sink] = (),
        *,
        limit_of: LimitOf = _limit_of,
        system_memory: SystemMemory = _system_memory_percent,
        stacks_of: StacksOf | None = None,
        maps_of: MapsOf | None = None,
    ) -> None:
        """`stacks_of` names the stacks a leak grew in, for a target whose heap is
        profiled (the session sets it when it keeps profiles); `maps_of` the category of
        memory it grew in, for a target whose memory map is read."""
        self.settings = settings
        self.stacks_of = stacks_of
        self.maps_of = maps_of
        self.sinks = list(sinks)
        self._limit_of = limit_of
        self._system_memory = system_memory
        self._watched: dict[str, _Watched] = {}
        self._system = _Crossing()
        self._queue: queue.Queue[Tick | None] = queue.Queue(QUEUE_LIMIT)
        self._thread: threading.Thread | None = None
        self.dropped_ticks = 0
        self.evaluations = 0
        self.alerts: list[Alert] = []  # every alert so far, for a summary at the end
        self._origin = origin_of(settings)  # said by every leak and growing alert
        self.groups = GroupLeaks()  # one alert for a group whose members leak together

    # -- threads ----------------------------------------------------------------------

    def on_tick(self, tick: Tick) -> None:
        """The sampler's consumer: never blocks, never raises."""
        try:
            self._queue.put_nowait(tick)
        except queue.Full:
            self.dropped_ticks += 1

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="memlens-alerts", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Judge what is queued, then end the thread."""
        if self._thread is None:
            return
        self._queue.put(None)
        self._thread.join(timeout)
        self._thread = None

    def _run(self) -> None:
        while True:
            tick = self._queue.get()
            if tick is None:
                return
            try:
                self.process(tick)
            except Exception:  # one bad round must not end the alerts
                log.exception("alert engine: a tick could not be judged")

    def verdicts(self) -> dict[str, LeakFinding]:
        """The latest finding of each watched target, whatever its verdict (for a face that
        shows the verdict as it evolves); empty until a target's first evaluation."""
        out = {}
        for key, watched in list(self._watched.items()):
            last = watched.detector.last
            if last is not None:
                out[key] = last
        return out

    # -- the work, callable directly in tests --------------------------------------------

    def process(self, tick: Tick) -> list[Alert]:
        out: list[Alert] = []
        for target in tick.new_targets:
            self._watch(target, tick.time)
        for key, reading in tick.samples.items():
            watched = self._watched.get(key)
            if watched is None:
                continue
            _feed(watched, tick.time, reading.rss)
            # A tree's sum is judged on its honest total: PSS added up (groups.honest_sum).
            honest = reading.pss if watched.target.kind == "sum" and reading.pss else None
            out.extend(self._rss_threshold(watched, tick.time, honest or reading.rss, honest))
            if reading.py_heap is not None:
                _keep(watched.heap, tick.time, reading.py_heap, self.settings.detector.window)
            if reading.py_blocks is not None:
                _keep(watched.blocks, tick.time, reading.py_blocks, GC_WINDOW)
                out.extend(self._gc_threshold(watched, tick.time))
        out.extend(self._system_threshold(tick))
        for watched in list(self._watched.values()):
            if watched.due is not None and tick.time >= watched.due:
                watched.due = tick.time + self.settings.every
                out.extend(self._evaluate(watched, tick.time))
        for alert in out:
            label = self.groups.group_of(alert.key)
            if alert.kind == LEAK and label is not None:
                alert.data["group"] = label
        # A group's alert goes first, so a terminal can show it instead of its members'.
        out = self.groups.update(tick.time, tick.new_targets, out, tick.exits) + out
        for target in tick.exits:
            self._watched.pop(target.key, None)
        for alert in out:
            self._emit(alert)
        return out

    def _watch(self, target: Target, now: float) -> None:
        limit = None
        try:
            limit = self._limit_of(target)
        except Exception:  # a limit is a nicety: judge without it
            log.debug("no memory limit for %s", target.key, exc_info=True)
        limit = limit_for(self.settings.thresholds.max_rss, limit)
        detector = OnlineDetector(
            limit=limit, config=self.settings.detector, start=target.start_time or None
        )
        # Stagger first evaluations across one period so targets found together do not
        # all cost their milliseconds in one round. The first comes after one period:
        # a short run has its statement and a fast leak its alarm long before the
        # detector's `min_duration` (analysis/live.py).
        offset = (zlib.crc32(target.key.encode()) % 1000) / 1000.0 * self.settings.every
        first = now + self.settings.every + offset
        self._watched[target.key] = _Watched(target, detector, due=first)

    def _evaluate(self, watched: _Watched, now: float) -> Iterable[Alert]:
        detector = watched.detector
        events = detector.step(now)
        self.evaluations += 1
        target = watched.target
        for event in events:
            if event.kind == LEAK:
                alert = self._leak(target, now, event.state, event.status.finding)
                alert.data["rule"] = event.status.rule
            else:
                alert = self._growing(target, now, event)
            alert.data["settings"] = self._origin
            yield alert
        yield from self._rate_threshold(watched, now, detector)

    def _leak(self, target: Target, now: float, state: str, finding: LeakFinding) -> Alert:
        who = f"{target.name} (PID {target.pid})"
        data: dict[str, Any] = {
            "state": state,
            "severity": finding.severity.value,
            "finding": finding.to_dict(),
            "name": target.name,
            "pid": target.pid,
        }
        if state == RAISED:
            data["text"] = f"{who}: {headline(finding)}"
            watched = self._watched.get(target.key)
            if watched is not None and len(watched.heap) >= 2:
                times, heap = zip(*watched.heap, strict=True)
                advice = explain(finding, heap=(list(times), list(heap)))
                if advice:
                    data["analysis"] = advice[0].seen
            growth = self._stacks(target, finding, now)
            if growth is not None:
                data["heap_growth"] = growth
                top = growth["stacks"][0]
                data["text"] += (
                    f"; grew most in {stack_text(top)}, +{human_bytes(top['growth_bytes'])}"
                )
            where = self._maps(target, finding, now)
            if where is not None:
                data["map_growth"] = where
                if where.get("cause"):
                    data["text"] += f"; {where['cause']}"
        else:
            data["text"] = f"{who}: leak alert withdrawn: {headline(finding)}"
        return Alert(LEAK, now, target.key, data)

    def _growing(self, target: Target, now: float, event: LevelEvent) -> Alert:
        """The calm level: a floor that rises, with its rate and where it leads; not an
        alarm (docs/leak-detection.md, "Live levels")."""
        who = f"{target.name} (PID {target.pid})"
        status = event.status
        rate = status.finding.rate if status.level is not Level.QUIET else None
        text = status.text if event.state == RAISED else "no longer growing"
        data: dict[str, Any] = {
            "state": event.state,
            "rule": status.rule,
            "rate": rate,
            "finding": status.finding.to_dict(),
            "name": target.name,
            "pid": target.pid,
            "text": f"{who}: {text}",
        }
        return Alert(GROWING, now, target.key, data)

    def _maps(self, target: Target, finding: LeakFinding, now: float) -> dict[str, Any] | None:
        """Where the memory grew from the leak's onset to now, by category; None when
        the target's memory map is not read."""
        if self.maps_of is None:
            return None
        t0 = finding.onset if finding.onset is not None else finding.start
        try:
            return self.maps_of(target.key, now if t0 is None else t0, now)
        except Exception:  # a nicety, like the stacks: the alert goes out without it
            log.exception("alert engine: the memory maps of %s could not be compared", target.key)
            return None

    def _stacks(self, target: Target, finding: LeakFinding, now: float) -> dict[str, Any] | None:
        """The stacks that grew from the leak's onset (the samples' start when it has
        none) to now; None when the heap is not profiled or nothing listed grew."""
        if self.stacks_of is None:
            return None
        t0 = finding.onset if finding.onset is not None else finding.start
        try:
            growth = self.stacks_of(target.key, now if t0 is None else t0, now)
        except Exception:  # the stacks are a nicety: the alert goes out without them
            log.exception("alert engine: the heap profiles of %s could not be compared", target.key)
            return None
        return growth if growth is not None and growth.get("stacks") else None

    def _rss_threshold(
        self, watched: _Watched, now: float, rss: int, pss: int | None = None
    ) -> Iterable[Alert]:
        """RSS against max_rss; for a tree's sum, `pss` is its honest total (what `rss`
        then holds too), and the text says which measure was judged."""
        limit = self.settings.thresholds.max_rss
        if limit is None:
            return
        target = watched.target
        state = _cross(watched.above_rss, rss, limit)
        if state is None:
            return
        watched.above_rss = state == "above"
        word = "above" if state == "above" else "back below"
        yield _threshold(
            now,
            target.key,
            "rss",
            state=state,
            value=rss,
            limit=limit,
            text=f"{target.name} (PID {target.pid}): {'RSS' if pss is None else 'PSS total'} "
            f"{human_bytes(rss)} {word} the limit {human_bytes(limit)}",
        )

    def _rate_threshold(
        self, watched: _Watched, now: float, detector: OnlineDetector
    ) -> Iterable[Alert]:
        limit = self.settings.thresholds.max_leak_rate
        if limit is None:
            return
        last = detector.last
        rate = last.rate if last is not None and detector.alerting and last.is_leak else 0.0
        state = _cross(watched.above_rate, rate or 0.0, limit)
        if state is None:
            return
        watched.above_rate = state == "above"
        target = watched.target
        text = (
            f"{target.name} (PID {target.pid}): leaks {rate_text(rate or 0.0)}, above the "
            f"limit {rate_text(limit)}"
            if state == "above"
            else f"{target.name} (PID {target.pid}): leak rate back below {rate_text(limit)}"
        )
        yield _threshold(
            now, target.key, "leak_rate", state=state, value=rate or 0.0, limit=limit, text=text
        )

    def _gc_threshold(self, watched: _Watched, now: float) -> Iterable[Alert]:
        limit = self.settings.thresholds.max_gc_growth
        blocks = watched.blocks
        if limit is None or blocks[-1][0] - blocks[0][0] < GC_WINDOW / 2:
            return
        rate = (blocks[-1][1] - blocks[0][1]) / (blocks[-1][0] - blocks[0][0])
        state = _cross(watched.above_gc, rate, limit)
        if state is None:
            return
        watched.above_gc = state == "above"
        target = watched.target
        word = "above" if state == "above" else "back below"
        yield _threshold(
            now,
            target.key,
            "gc_growth",
            state=state,
            value=rate,
            limit=limit,
            text=f"{target.name} (PID {target.pid}): Python objects grow "
            f"{rate * 60:,.0f}/min over the last minute, {word} the limit {limit * 60:,.0f}/min",
        )

    def _system_threshold(self, tick: Tick) -> Iterable[Alert]:
        """System memory against its limit: the tick's own reading of the machine when it
        has one (the sampler measured it; each reading judged once, however many ticks
        repeat it), else a read of our own at most every SYSTEM_EVERY seconds (a sampler
        run with --no-system)."""
        limit = self.settings.thresholds.max_system_memory
        now = tick.time
        if limit is None:
            return
        if tick.system is not None:
            if tick.system.t <= self._system.last_reading:
                return
            self._system.last_reading = tick.system.t
            percent = tick.system.mem_percent
        else:
            if now - self._system.last_read < SYSTEM_EVERY:
                return
            self._system.last_read = now
            percent = self._system_memory()
        state = _cross(self._system.above, percent, limit)
        if state is None:
            return
        self._system.above = state == "above"
        word = "above" if state == "above" else "back below"
        yield _threshold(
            now,
            None,
            "system_memory",
            state=state,
            value=percent,
            limit=limit,
            text=f"system memory {percent:.1f}% in use, {word} the limit {limit:g}%",
        )

    def _emit(self, alert: Alert) -> None:
        self.alerts.append(alert)
        for sink in self.sinks:
            try:
                sink(alert)
            except Exception:
                log.exception("alert engine: a sink failed")


def _feed(watched: _Watched, t: float, rss: float) -> None:
    if watched.pending_t is None:
        watched.pending_t, watched.pending_v = t, rss
    elif t - watched.pending_t < DETECTOR_STEP:
        watched.pending_v = min(watched.pending_v, rss)
    else:
        watched.detector.update(watched.pending_t, watched.pending_v)
        watched.pending_t, watched.pending_v = t, rss


def _keep(window: deque[tuple[float, float]], t: float, value: float, span: float) -> None:
    window.append((t, float(value)))
    while window and window[0][0] < t - span:
        window.popleft()


def _cross(above: bool, value: float, limit: float) -> str | None:
    """ "above", "below" or None (no change), with hysteresis on the way down."""
    if not above and value > limit:
        return "above"
    if above and value < limit * HYSTERESIS:
        return "below"
    return None


def _threshold(
    t: float, key: str | None, metric: str, *, state: str, value: float, limit: float, text: str
) -> Alert:
    return Alert(
        "threshold",
        t,
        key,
        {"metric": metric, "state": state, "value": value, "limit": limit, "text": text},
    )


def console_sink(write: Callable[[str], object]) -> Sink:
    """Alerts as lines on a terminal: 'memlens: 14:02:11 leak: ...'; the growing status
    stays off the terminal. A group's leak is one line when raised and one when cleared:
    its members' own leak alerts, and its updates as more members join, are recorded and
    shown on the page, not printed."""
    leaking_groups: set[str] = set()

    def sink(alert: Alert) -> None:
        if alert.kind == GROWING:
            return  # a calm status for the page and the recording, not a terminal's alarm
        if alert.kind == GROUP_LEAK:
            group = str(alert.data.get("group"))
            if alert.data.get("state") == "raised":
                if group in leaking_groups:
                    return  # an update of a group already on screen
                leaking_groups.add(group)
            else:
                leaking_groups.discard(group)
        elif alert.kind == LEAK and alert.data.get("group") in leaking_groups:
            return
        stamp = time.strftime("%H:%M:%S", time.localtime(alert.t))
        what = alert.kind if alert.data.get("state") != "cleared" else f"{alert.kind} cleared"
        write(f"memlens: {stamp} {what}: {alert.text}")

    return sink
