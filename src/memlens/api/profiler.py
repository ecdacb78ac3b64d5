"""`memlens.Profiler`: snapshots of the running process, a monitoring thread, leak
detection and a report, from inside the program.

Nothing here measures or judges on its own. A Profiler is one more face of the live
pipeline: it builds a `Session` (watch/session.py) over its own process, with the
recorder and the alert engine of `memlens watch`, and a snapshot is one
`Session.sample_now` round: the sampler reads the process, the Profiler adds what a
probe cannot read (its own Python fields, read as the agent reads them, and a time
strictly after the previous snapshot's), and the session hands the tick to the recorder
and has the engine judge it (`judge="inline"`) before the snapshot returns. The session
also stops in its one order (sampler, engine, recorder) at cleanup() and at exit. Its
sampler's thread never runs: the monitoring thread is a `Repeater` of the Profiler's
own, since monitoring starts and stops apart from the recording and each of its rounds
is a whole snapshot (kept in memory, with its note), not only a tick.

Leaks are the detector of `memlens analyze`; the report is `memlens report`'s, built
from the recording read back. So `memlens report last --db DATA_DIR/memlens.db` and the
dashboard read a Profiler's data as any recording. docs/library.md tells what is kept
where and for how long.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
import tracemalloc
import weakref
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from memlens.analysis.leakmodel import DetectorConfig, LeakFinding
from memlens.analysis.leaks import detect
from memlens.analysis.leaktext import rate_text
from memlens.api.compat import MemoryThresholds, add_familiar_keys, as_thresholds
from memlens.api.leaks import leak_event, memory_leak, series, top_allocations
from memlens.api.monitor import Repeater, end_at_exit
from memlens.api.report import NOTE_SOURCE, profiler_section
from memlens.api.snapshot import (
    MB,
    MemoryLeak,
    MemorySnapshot,
    gc_objects_count,
    snapshot_of,
    system_memory_percent,
    with_own_python_fields,
)
from memlens.config import Thresholds, limit_for, load_settings, origin_of
from memlens.errors import AccessDenied
from memlens.model import Alert, Reading, Target, Tick
from memlens.outside.redact import redact_cmdline
from memlens.probes import open_process
from memlens.probes.limits import memory_limit
from memlens.report import build_report
from memlens.report.json import report_to_dict
from memlens.store import StoreReader, load_recording
from memlens.watch.alerts import HYSTERESIS, AlertEngine
from memlens.watch.recorder import Recorder, prune
from memlens.watch.sampler import MIN_INTERVAL, SamplerConfig, check_interval, next_slot
from memlens.watch.session import Session

log = logging.getLogger(__name__)

DB_NAME = "memlens.db"
DEFAULT_DATA_DIR = "logs/performance/memory"  # where the Profiler it replaces kept its data
DAY = 86400.0
RETENTION = 7 * DAY
DETECTION_POINTS = 120  # samples a leak detection aims for (the detector needs 60)

R = TypeVar("R")
MAX_MARK = 1000  # characters of a mark's text

# Every Profiler alive in this process, for memlens.mark().
_PROFILERS: weakref.WeakSet[Profiler] = weakref.WeakSet()


def mark(text: str) -> int:
    """Set a mark now in the recording of every Profiler of this process that has one
    open (see Profiler.mark), in the recording `memlens run` or `check` makes of this
    process (MEMLENS_RECORDING_DB), and, when this process runs the agent, in the agent's
    ring of marks, which a `memlens watch`/`record`/`top` of it reads; how many took it."""
    from memlens.api.marks import mark_agent, mark_own_recording, own_recording

    marked = 0
    for profiler in list(_PROFILERS):
        if profiler.recording_id is not None:
            profiler.mark(text)
            marked += 1
    stored = mark_own_recording(str(text))
    if stored:
        marked += 1
    # Written into `memlens run`'s store already, it is still shown live through the
    # agent, marked as kept so that run's recorder, which reads the agent, skips it.
    if mark_agent(str(text), own_recording() if stored else None) and not stored:
        marked += 1
    return marked


class _Watch(NamedTuple):
    """One recording of this process: its session, and the parts of it the Profiler
    speaks to itself (notes and leak events go to the recorder, a new threshold to the
    engine). Built on first use, dropped by cleanup() and at exit."""

    session: Session
    recorder: Recorder
    engine: AlertEngine
    target: Target


class Profiler:
    """Snapshots of this process into `data_dir`/memlens.db; see docs/library.md.
    Code written for the MemoryProfiler it replaces runs unchanged (docs/library.md,
    "Coming from another Profiler"): its names keep their meaning, in its units."""

    def __init__(
        self,
        data_dir: str | os.PathLike[str] = DEFAULT_DATA_DIR,
        *,
        max_snapshots: int = 1000,
        retention: float = RETENTION,
        thresholds: Thresholds | MemoryThresholds | None = None,
        detector: DetectorConfig | None = None,
        config: str | os.PathLike[str] | None = None,
        trace: bool = False,
        name: str | None = None,
    ) -> None:
        if max_snapshots < 1:
            raise ValueError("max_snapshots must be at least 1")
        if not retention > 0:
            raise ValueError("retention must be a positive number of seconds")
        # The same settings as the command line's: --config's file, else the memlens.toml
        # (or pyproject.toml) found from the current directory up, else the defaults.
        settings = load_settings(Path(config) if config is not None else None)
        self.data_dir = Path(data_dir).expanduser()
        self.path = self.data_dir / DB_NAME
        self._max_snapshots = max_snapshots
        self.retention = float(retention)
        self.detector = detector or settings.detector
        self._settings = dataclasses.replace(
            settings,
            thresholds=as_thresholds(thresholds) or settings.thresholds,
            detector=self.detector,
        )
        self._assigned: Thresholds | MemoryThresholds = thresholds or self._settings.thresholds
        self._trace = trace
        self._started_tracing = False
        self._pid = os.getpid()
        self._name = name
        self._lock = threading.RLock()  # snapshots and the recording
        self._snapshots: deque[MemorySnapshot] = deque(maxlen=max_snapshots)
        self._watch: _Watch | None = None
        self._last_t = 0.0
        self._taken = 0
        self._leaking: LeakFinding | None = None  # a leak event raised and not cleared
        self._rate_above = False  # max_leak_rate crossed by the last detection
        self._system_percent = 0.0  # the last snapshot's, for the engine's threshold
        self._monitor = Repeater(self._monitored, "memlens-profiler")
        self.interval = 5.0
        self._open()
        end_at_exit(self)
        _PROFILERS.add(self)

    # -- settings -----------------------------------------------------------------------

    @property
    def thresholds(self) -> Thresholds | MemoryThresholds:
        """Limits whose crossings become threshold events (None: not watched): a
        `Thresholds` (`max_rss` bytes, `max_system_memory` percent, `max_leak_rate`
        bytes/s, `max_gc_growth` objects/s) or a `MemoryThresholds` (the same in MB).
        Settable; reads back what was assigned."""
        return self._assigned

    @thresholds.setter
    def thresholds(self, value: Thresholds | MemoryThresholds) -> None:
        limits = as_thresholds(value)
        if not isinstance(limits, Thresholds):
            raise TypeError("thresholds must be a Thresholds or a MemoryThresholds")
        with self._lock:
            self._assigned = value
            self._settings = dataclasses.replace(self._settings, thresholds=limits)
            if self._watch is not None:
                self._watch.engine.settings = self._settings

    @property
    def max_snapshots(self) -> int:
        """How many snapshots `snapshots` keeps (the newest); settable."""
        return self._max_snapshots

    @max_snapshots.setter
    def max_snapshots(self, value: int) -> None:
        if value < 1:
            raise ValueError("max_snapshots must be at least 1")
        with self._lock:
            self._max_snapshots = value
            self._snapshots = deque(self._snapshots, maxlen=value)

    @property
    def snapshots(self) -> list[MemorySnapshot]:
        """The newest `max_snapshots` snapshots, oldest first."""
        with self._lock:
            return list(self._snapshots)

    @property
    def recording_id(self) -> int | None:
        """The recording in `path` this Profiler writes (None after cleanup())."""
        return None if self._watch is None else self._watch.recorder.recording_id

    # -- snapshots ----------------------------------------------------------------------

    def take_snapshot(self, context: str = "") -> MemorySnapshot:
        return self._take(context)[0]

    def _take(self, context: str) -> tuple[MemorySnapshot, Reading]:
        with self._lock:
            watch = self._open()
            taken: list[MemorySnapshot] = []

            def own(tick: Tick) -> Tick:
                snap, tick = self._own_figures(watch, tick, context)
                taken.append(snap)
                return tick

            tick = watch.session.sample_now(own)
            watch.engine.alerts.clear()  # the store keeps them; the engine need not
            snap = taken[0]
            self._snapshots.append(snap)
            self._taken += 1
            if self._taken % self.max_snapshots == 0:
                self._prune()
            return snap, tick.samples[watch.target.key]

    def _own_figures(self, watch: _Watch, tick: Tick, context: str) -> tuple[MemorySnapshot, Tick]:
        """The snapshot, and the round as the consumers get it: with this process's own
        Python fields and a time strictly after the previous snapshot's (one sample per
        time in the store). The note keeping the figures a reading has no field for is
        written here, before any consumer, so it precedes the round's alerts as it did
        when the Profiler fed the engine itself."""
        key = watch.target.key
        read = tick.samples.get(key)
        if read is None:  # the sampler found this very process unreadable
            raise AccessDenied(f"memlens could not read this process (PID {self._pid})")
        reading = with_own_python_fields(read)
        percent = system_memory_percent()
        objects = gc_objects_count()
        t = max(tick.time, self._last_t + 1e-6)
        self._last_t = t
        self._system_percent = percent  # what the engine's system threshold reads
        note: dict[str, Any] = {
            "source": NOTE_SOURCE,
            "text": context or "snapshot",
            "context": context,
            "system_memory_percent": percent,
            "gc_objects_count": objects,
        }
        watch.recorder.store.add_event(watch.recorder.recording_id, "note", t, note, key)
        snap = snapshot_of(
            reading, timestamp=t, system_percent=percent, gc_objects=objects, context=context
        )
        return snap, dataclasses.replace(tick, time=t, samples={key: reading})

    def _monitored(self) -> None:
        self.take_snapshot(context="monitoring")

    def mark(self, text: str) -> None:
        """Set a mark now in this Profiler's recording: a `mark` event (docs/storage.md)
        that charts draw as a labelled vertical line and `memlens analyze --since`
        starts from."""
        with self._lock:
            watch = self._open()
            data = {"text": str(text)[:MAX_MARK], "source": "program", "pid": self._pid}
            t = max(time.time(), self._last_t)
            watch.recorder.store.add_event(
                watch.recorder.recording_id, "mark", t, data, watch.target.key
            )

    def profile_function(
        self, func: Callable[..., R], *args: Any, **kwargs: Any
    ) -> tuple[R, MemorySnapshot, MemorySnapshot]:
        """(what `func(*args, **kwargs)` returned, a snapshot before, one after)."""
        name = getattr(func, "__qualname__", None) or repr(func)
        before = self.take_snapshot(context=f"before {name}")
        try:
            result = func(*args, **kwargs)
        finally:
            after = self.take_snapshot(context=f"after {name}")
        return result, before, after

    # -- monitoring ---------------------------------------------------------------------

    def start_monitoring(self, interval: float = 5.0) -> bool:
        """Take a snapshot every `interval` seconds on a background thread, until
        stop_monitoring(), cleanup() or the interpreter's exit. False (and nothing
        changes) when it runs already."""
        started = self._monitor.start(interval)
        if started:
            self.interval = float(interval)
        return started

    def stop_monitoring(self, timeout: float = 5.0) -> None:
        """Stop the thread (a snapshot in progress finishes first); safe when none runs."""
        self._monitor.stop(timeout)

    @property
    def monitoring(self) -> bool:
        return self._monitor.running

    @property
    def monitoring_active(self) -> bool:
        """Whether the monitoring thread runs. Setting it False stops the thread (as
        stop_monitoring()); True starts it at the last interval."""
        return self._monitor.running

    @monitoring_active.setter
    def monitoring_active(self, value: bool) -> None:
        if value:
            self.start_monitoring(self.interval)
        else:
            self.stop_monitoring()

    @property
    def monitoring_thread(self) -> threading.Thread | None:
        """The monitoring thread while it runs, else None."""
        return self._monitor.thread

    # -- leaks ----------------------------------------------------------------------------

    def detect_memory_leaks(self, duration_minutes: float = 5.0) -> list[MemoryLeak]:
        """Judge the snapshots of the past `duration_minutes` (monitoring's and any
        other kept in `snapshots`) with the leak detector and return at once: one
        MemoryLeak when the RSS leaks, else none. Differs: a window the detector cannot
        judge (under its `min_duration`, or too few snapshots) finds none, and
        `top_allocations` is empty (watch_memory_leaks names the lines)."""
        seconds = float(duration_minutes) * 60.0
        if not seconds > 0:
            raise ValueError("duration_minutes must be positive")
        with self._lock:
            since = time.time() - seconds
            taken = [s for s in self._snapshots if s.timestamp >= since]
        if len(taken) < 2:
            return []
        return self._judge(taken, [])

    def watch_memory_leaks(
        self, duration_minutes: float = 5.0, *, interval: float | None = None
    ) -> list[MemoryLeak]:
        """Watch this process for `duration_minutes` (blocking) and judge its RSS with the
        leak detector; one MemoryLeak when it leaks, else none. Snapshots are taken every
        `interval` seconds (default: about 120 over the duration, 1 s at most apart)
        and kept as any other. tracemalloc runs meanwhile (started and stopped here when
        it was off) to name the lines that grew. The detector's `min_duration` must fit
        in the duration: for short runs pass Profiler(detector=DetectorConfig(...)).
        """
        seconds = float(duration_minutes) * 60.0
        if not seconds > 0:
            raise ValueError("duration_minutes must be positive")
        if seconds < self.detector.min_duration:
            raise ValueError(
                f"{seconds:g} s is shorter than the detector's min_duration "
                f"({self.detector.min_duration:g} s): watch for longer, or pass "
                "Profiler(detector=DetectorConfig(min_duration=...)) (docs/library.md)"
            )
        if interval is not None:
            check_interval(interval)
        step = interval or min(1.0, max(MIN_INTERVAL, seconds / DETECTION_POINTS))
        started_tracing = not tracemalloc.is_tracing()
        if started_tracing:
            tracemalloc.start()
        try:
            before = tracemalloc.take_snapshot()
            taken = [self.take_snapshot("leak detection: start")]
            origin = time.monotonic()
            slot = 0
            while True:
                now = time.monotonic()
                slot, _ = next_slot(origin, slot, now, step)
                due = min(origin + slot * step, origin + seconds)
                time.sleep(max(0.0, due - now))
                last = due >= origin + seconds
                taken.append(
                    self.take_snapshot("leak detection: end" if last else "leak detection")
                )
                if last:
                    break
            after = tracemalloc.take_snapshot()
        finally:
            if started_tracing:
                tracemalloc.stop()
        return self._judge(taken, top_allocations(before, after))

    def _judge(self, taken: list[MemorySnapshot], allocations: list[str]) -> list[MemoryLeak]:
        times = [s.timestamp for s in taken]

        def column(name: str, scale: float = 1.0) -> list[float | None]:
            values = (getattr(s, name) for s in taken)
            return [None if v is None else v * scale for v in values]

        known = memory_limit(self._pid)
        limit = limit_for(self._settings.thresholds.max_rss, None if known is None else known.bytes)
        finding = detect(times, column("process_memory_mb", MB), limit=limit, config=self.detector)
        with self._lock:
            watch = self._open()
            recorder, target = watch.recorder, watch.target
            who = f"{target.name} (PID {target.pid})"
            rid, now = recorder.recording_id, times[-1]
            if not finding.is_leak:
                if self._leaking is not None:
                    data = leak_event(
                        "cleared",
                        finding,
                        name=target.name,
                        pid=target.pid,
                        text=f"{who}: leak no longer seen",
                    )
                    data["settings"] = origin_of(self._settings)
                    recorder.store.add_event(rid, "leak", now, data, target.key)
                    self._leaking = None
                self._rate_threshold(0.0, now)
                return []
            leak = memory_leak(
                finding,
                taken[0],
                taken[-1],
                allocations=allocations,
                threads=series(times, column("thread_count")),
                fds=series(times, column("file_descriptors")),
                heap=series(times, column("tracemalloc_current_mb", MB)),
                gc_objects=series(times, column("gc_objects_count")),
            )
            first_line = leak.analysis.splitlines()[0]
            data = leak_event(
                "raised",
                finding,
                name=target.name,
                pid=target.pid,
                text=f"{who}: {first_line}",
                analysis=leak.analysis,
            )
            data["settings"] = origin_of(self._settings)
            recorder.store.add_event(rid, "leak", now, data, target.key)
            self._leaking = finding
            self._rate_threshold(finding.rate or 0.0, now)
            return [leak]

    def _rate_threshold(self, rate: float, now: float) -> None:
        """max_leak_rate against what detect_memory_leaks found, with the live alerts'
        hysteresis: above when a leak is faster, below again under 95% of the limit."""
        limit = self._settings.thresholds.max_leak_rate
        watch = self._watch
        if limit is None or watch is None:
            return
        state = "above" if not self._rate_above and rate > limit else None
        if self._rate_above and rate < limit * HYSTERESIS:
            state = "below"
        if state is None:
            return
        self._rate_above = state == "above"
        target = watch.target
        who = f"{target.name} (PID {target.pid})"
        text = f"{who}: leaks {rate_text(rate)}, limit {rate_text(limit)}"
        watch.recorder.on_alert(
            Alert(
                "threshold",
                now,
                target.key,
                {
                    "metric": "leak_rate",
                    "state": state,
                    "value": rate,
                    "limit": limit,
                    "text": text,
                },
            )
        )

    # -- the report ---------------------------------------------------------------------

    def generate_memory_report(self, hours: float = 24.0) -> dict[str, Any]:
        """`memlens report`'s JSON object (docs/cli.md) for the last `hours` of this
        Profiler's recording, plus a "profiler" object (docs/library.md), plus the
        familiar keys in MB (`period_hours`, `snapshots_count`, `process_memory`,
        `memory_leaks`...). Differs: `process_memory.trend` is the detector's verdict
        (leak, plateau, step, flat, insufficient)."""
        with self._lock:
            watch = self._open()
            recorder, target = watch.recorder, watch.target
            recorder.store.flush()
            reader = StoreReader.open(self.path)
            try:
                recording = load_recording(reader, reader.recording(recorder.recording_id))
                _, limits = reader.judged_with(recorder.recording_id)
            finally:
                reader.close()
        report = build_report(
            recording,
            hours=hours,
            config=self.detector,
            limit=None
            if self._settings.thresholds.max_rss is None
            else float(self._settings.thresholds.max_rss),
            now=time.time(),
            limits={key: float(v) for key, v in limits.items()},
        )
        out = report_to_dict(report)
        mine = next((t for t in report.targets if t.target.key == target.key), None)
        out["profiler"] = profiler_section(
            recording.series.get(target.key, {}),
            [e for e in recording.events if e.target_key == target.key],
            target=mine,
            start=report.period.start,
            thresholds=self._settings.thresholds.active(),
        )
        return add_familiar_keys(out, hours)

    # -- lifetime -----------------------------------------------------------------------

    def cleanup(self) -> None:
        """Stop monitoring, end the recording (it stays in the store for `memlens
        report`), delete what is older than `retention` from the store, forget the
        snapshots held in memory, and stop tracemalloc if this Profiler started it.
        Idempotent; a later snapshot starts a new recording."""
        self.stop_monitoring()
        with self._lock:
            watch, self._watch = self._watch, None
            if watch is not None:
                watch.session.stop()  # its probe closed, its recording ended
                self._prune()
            self._snapshots.clear()
            self._leaking = None
            self._rate_above = False
            if self._started_tracing and tracemalloc.is_tracing():
                tracemalloc.stop()
            self._started_tracing = False

    def __enter__(self) -> Profiler:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    def _open(self) -> _Watch:
        """This process's session, opened on first use (and again after cleanup())."""
        with self._lock:
            if os.getpid() != self._pid:
                raise RuntimeError("a Profiler belongs to the process that made it")
            if self._trace and not tracemalloc.is_tracing():
                tracemalloc.start()
                self._started_tracing = True
            if self._watch is None:
                self._watch = self._new_watch()
            return self._watch

    def _new_watch(self) -> _Watch:
        probe = open_process(self._pid)
        try:
            name, command = probe.name, redact_cmdline(probe.cmdline)
            recorder = Recorder.start(
                self.path,
                name=self._name or f"profiler: {name} ({self._pid})",
                command=command,
                interval=self.interval,
                keep_samples=self.retention,
                keep_events=self.retention,
                settings=self._settings,
            )
        except BaseException:
            probe.close()
            raise
        engine = AlertEngine(self._settings, system_memory=lambda: self._system_percent)
        # The sampler reads the probe and nothing more: the machine's figures are the
        # snapshot's own (system_memory_percent), and this process's Python fields are
        # read in place rather than through an agent.
        config = SamplerConfig(interval=self.interval, agents=False, system=False)
        session = Session(config, [probe], recorder=recorder, alerts=engine, judge="inline")
        (target,) = session.sampler.targets()
        return _Watch(session, recorder, engine, target)

    def _prune(self) -> None:
        try:
            prune(self.path, keep_samples=self.retention, keep_events=self.retention)
        except Exception:  # retention is housekeeping: never fail a snapshot for it
            log.warning("memlens profiler: could not prune %s", self.path, exc_info=True)

    def _at_exit(self) -> None:
        if os.getpid() != self._pid:  # a forked child: the writer thread is the parent's
            return
        self.stop_monitoring(timeout=2.0)
        with self._lock:
            watch, self._watch = self._watch, None
            if watch is not None:
                watch.session.stop()


MemoryProfiler = Profiler  # the name code written for the Profiler memlens replaces imports
