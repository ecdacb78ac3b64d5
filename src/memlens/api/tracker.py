"""The Tracker: name the objects that matter, and see their sizes, places and lifetimes.

`tracker.track(obj)` records the argument's name as written at the call (read back from
the caller's source, see `naming`), its type, its deep size (see `sizing`), the file,
line and function of the call, the thread, and with stacks enabled the call stack.

Lifetimes: an object that supports weak references gets one with a callback, so its end
is seen when it happens; the callback only appends to a queue (it can run anywhere, even
inside another `track` holding the lock) and the queue is folded into the tables by the
next call that takes the lock. A plain `weakref.ref` rather than `weakref.finalize`: the
same callback at a fraction of the cost, and no exit-time calls that would count every
object still alive as ended. Objects without weak-reference support (list, dict, tuple,
set, int, str, bytes...) cannot be watched without changing how long they live, so their
end is never seen: they count as allocations of "untracked" lifetime and stay active. One
rule still applies to them: an id belongs to one live object at a time, so when an
object with the id of an active record is tracked, the earlier record is closed as
"superseded" (it is either this same object again or one that has ended), which keeps
a variable re-tracked in a loop from counting its memory once per pass.

Thread safety: one lock guards the shared tables; a thread's own call counter lives in
a per-thread cell and is bumped without the lock, which is all a call skipped by
sampling costs besides one random draw.
"""

from __future__ import annotations

import atexit
import itertools
import random
import sys
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from pathlib import Path
from types import CodeType, FrameType, MethodType
from typing import Any, TypeVar

from memlens.api.naming import call_site
from memlens.api.sampling import SamplingConfig
from memlens.api.sizing import deep_size
from memlens.api.tracker_monitor import SystemMonitor
from memlens.api.tracker_types import (
    AllocationHotspot,
    AnalysisReport,
    StackFrame,
    ThreadFigures,
    TrackerStats,
    TrackEvent,
)
from memlens.model import SystemReading

T = TypeVar("T")

SNAPSHOT_LIMIT = 6000  # system readings kept: ten minutes at the default 100 ms

# The raw event, a tuple (cheap to build under the lock): these are its fields in order.
_KIND, _ID, _T, _NAME, _CAPTURED, _NOTE, _TYPE, _SIZE, _NODES, _TRUNC = range(10)
_LIFETIME, _FILE, _LINE, _FUNC, _THREAD, _CURRENT, _STACK, _SYSTEM = range(10, 18)

_type_names: dict[type, str] = {}


class _Cell:
    """One thread's figures; `calls` is bumped by its own thread without the lock."""

    __slots__ = (
        "allocations",
        "bytes_tracked",
        "calls",
        "current",
        "deallocations",
        "ident",
        "name",
        "superseded",
    )

    def __init__(self) -> None:
        thread = threading.current_thread()
        self.ident = threading.get_ident()
        self.name = thread.name
        self.calls = self.allocations = self.deallocations = self.superseded = 0
        self.bytes_tracked = self.current = 0


class _Live:
    """An allocation not yet seen to end."""

    __slots__ = ("cell", "event", "ref", "serial", "size")

    def __init__(
        self,
        serial: int,
        size: int,
        ref: weakref.ref[Any] | None,
        cell: _Cell,
        event: tuple[Any, ...],
    ) -> None:
        self.serial = serial
        self.size = size
        self.ref = ref  # kept so that its callback fires; None: untracked lifetime
        self.cell = cell
        self.event = event


class _Ref(weakref.ref):  # type: ignore[type-arg]
    """A weak reference that knows its record, so that one callback serves them all (a
    `functools.partial` per object would cost time and about 150 bytes more)."""

    __slots__ = ("key", "serial")
    key: int
    serial: int


def _on_end(queue: deque[tuple[int, int, float]]) -> Callable[[_Ref], None]:
    append, now = queue.append, time.time  # bound once: also safe late in shutdown

    def ended(ref: _Ref) -> None:
        """A tracked object is being freed. Runs wherever that happens, so it only queues."""
        append((ref.key, ref.serial, now()))

    return ended


class Tracker:
    """Records tracked objects; see the module's docstring and docs/library.md."""

    _global: Tracker | None = None
    _global_lock = threading.Lock()

    def __init__(self, sampling: SamplingConfig | None = None) -> None:
        self._lock = threading.Lock()
        self._local = threading.local()
        self._cells: list[_Cell] = []
        self._serials = itertools.count(1)
        self._ended: deque[tuple[int, int, float]] = deque()
        self._ended_callback = _on_end(self._ended)  # holds the queue, not the tracker
        self._live: dict[int, _Live] = {}
        self._hot: dict[tuple[str, str, str], list[int]] = {}
        self._allocations = self._deallocations = self._superseded = 0
        self._unnamed = self._truncated = 0
        self._current = self._peak = 0
        self._events_dropped = 0
        self._snapshots: deque[SystemReading] = deque(maxlen=SNAPSHOT_LIMIT)
        self._last_system: SystemReading | None = None
        self._monitor: SystemMonitor | None = None
        self._export_path: Path | None = None
        self.started = time.time()
        self._started_mono = time.monotonic()
        self._skip = (self,)  # a tracked object that reaches the tracker: not its size
        self._set_sampling(sampling or SamplingConfig())

    # -- configuration (each returns the tracker, so they chain) --------------------------

    @classmethod
    def global_(cls) -> Tracker:
        """The process-wide tracker that `memlens.track` records into."""
        tracker = cls._global
        if tracker is None:
            with cls._global_lock:
                if cls._global is None:
                    cls._global = cls()
                tracker = cls._global
        return tracker

    def with_sampling(self, config: SamplingConfig) -> Tracker:
        with self._lock:
            self._set_sampling(config)
        return self

    def _set_sampling(self, config: SamplingConfig) -> None:
        self.sampling = config
        self._rate = config.rate
        self._random = random.Random(config.seed).random
        kept = list(getattr(self, "_events", ()))
        self._events: deque[tuple[Any, ...]] = deque(kept, maxlen=config.max_events)

    def with_system_monitoring(self, interval: float = 0.1, *, gpu: bool = True) -> Tracker:
        """Read CPU, memory, disk, network and (where NVML is) GPUs every `interval`
        seconds on a background thread; each event carries the latest reading."""
        with self._lock:
            if self._monitor is not None:
                self._monitor.stop()
            self._monitor = SystemMonitor(self._on_reading, interval=interval, gpu=gpu)
        return self

    def with_auto_export(self, path: str | Path | None) -> Tracker:
        """Write an export to `path` when the interpreter exits (format by extension:
        .json, .html, anything else binary); None cancels."""
        with self._lock:
            if self._export_path is None and path is not None:
                atexit.register(self._export_at_exit)
            elif self._export_path is not None and path is None:
                atexit.unregister(self._export_at_exit)
            self._export_path = None if path is None else Path(path)
        return self

    def close(self) -> None:
        """Stop the system monitor; the recorded data stays readable."""
        with self._lock:
            monitor, self._monitor = self._monitor, None
        if monitor is not None:
            monitor.stop()

    def __enter__(self) -> Tracker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- tracking -------------------------------------------------------------------------

    def track(self, obj: T, name: str | None = None) -> T:
        """Record `obj` (when sampling picks this call) under `name`, or by default the
        argument's expression at the call; returns `obj`."""
        try:
            cell = self._local.cell
        except AttributeError:
            cell = self._new_cell()
        cell.calls += 1
        if self._rate < 1.0 and self._random() >= self._rate:
            return obj
        self._record(obj, name, sys._getframe(1), cell)
        return obj

    def _new_cell(self) -> _Cell:
        cell = self._local.cell = _Cell()
        with self._lock:
            self._cells.append(cell)
        return cell

    def _record(self, obj: object, name: str | None, frame: FrameType, cell: _Cell) -> None:
        t = time.time()
        config = self.sampling
        site = call_site(frame, ("track",), _is_track_callable)
        if name is None:
            name, captured, note = site.name, site.captured, site.reason
        else:
            captured, note = True, None
        size, nodes, truncated = deep_size(obj, config.max_nodes, self._skip)
        kind = type(obj)
        type_name = _type_names.get(kind) or _type_name(kind)
        stack = _stack(frame, config.stack_depth) if config.stack_depth else None
        serial = next(self._serials)
        key = id(obj)
        ref: _Ref | None
        try:
            ref = _Ref(obj, self._ended_callback)
        except TypeError:
            ref = None
        else:
            ref.key, ref.serial = key, serial
        lifetime = "untracked" if ref is None else "tracked"
        hot_key = (name, type_name, site.location)
        with self._lock:
            if self._ended:
                self._drain()
            old = self._live.pop(key, None)
            if old is not None:
                self._close(old)
                old.cell.superseded += 1
                self._superseded += 1
            self._allocations += 1
            self._unnamed += not captured
            self._truncated += truncated
            current = self._current = self._current + size
            self._peak = max(self._peak, current)
            cell.allocations += 1
            cell.bytes_tracked += size
            cell.current += size
            hot = self._hot.get(hot_key)
            if hot is None:
                self._hot[hot_key] = [size, 1]
            else:
                hot[0] += size
                hot[1] += 1
            event = (
                "track", serial, t, name, captured, note, type_name, size, nodes, truncated,
                lifetime, site.file, site.line, site.function, cell, current, stack,
                self._last_system,
            )  # fmt: skip
            self._keep(event)
            self._live[key] = _Live(serial, size, ref, cell, event)

    def _keep(self, event: tuple[Any, ...]) -> None:
        events = self._events
        if len(events) == events.maxlen:
            self._events_dropped += 1
        events.append(event)

    def _close(self, live: _Live) -> None:
        self._current -= live.size
        live.cell.current -= live.size
        live.ref = None  # its callback must not fire for a closed record

    def _drain(self) -> None:
        """Fold the ends queued by weak-reference callbacks into the tables (lock held)."""
        ended = self._ended
        while ended:
            key, serial, t = ended.popleft()
            live = self._live.get(key)
            if live is None or live.serial != serial:
                continue  # closed already, as superseded
            del self._live[key]
            self._close(live)
            self._deallocations += 1
            live.cell.deallocations += 1
            end = list(live.event)
            end[_KIND], end[_T], end[_CURRENT] = "end", t, self._current
            end[_STACK], end[_SYSTEM] = None, self._last_system
            self._keep(tuple(end))

    def _on_reading(self, reading: SystemReading) -> None:
        self._last_system = reading
        self._snapshots.append(reading)

    # -- reading ---------------------------------------------------------------------------

    def stats(self) -> TrackerStats:
        with self._lock:
            self._drain()
            return TrackerStats(
                track_calls=sum(c.calls for c in self._cells),
                total_allocations=self._allocations,
                total_deallocations=self._deallocations,
                superseded=self._superseded,
                active_allocations=len(self._live),
                untracked_lifetime=sum(1 for v in self._live.values() if v.ref is None),
                current_memory_bytes=self._current,
                peak_memory_bytes=self._peak,
                unnamed=self._unnamed,
                truncated_sizes=self._truncated,
                events_kept=len(self._events),
                events_dropped=self._events_dropped,
                duration_s=time.monotonic() - self._started_mono,
            )

    def analyze(self) -> AnalysisReport:
        with self._lock:
            self._drain()
            duration = max(time.monotonic() - self._started_mono, 1e-9)
            untracked = [v.size for v in self._live.values() if v.ref is None]
            hotspots = [
                AllocationHotspot(name, type_name, size, count, location)
                for (name, type_name, location), (size, count) in self._hot.items()
            ]
            threads = [_figures(c) for c in self._cells]
            report = AnalysisReport(
                total_allocations=self._allocations,
                total_deallocations=self._deallocations,
                active_allocations=len(self._live),
                peak_memory_bytes=self._peak,
                current_memory_bytes=self._current,
                allocation_rate=self._allocations / duration,
                deallocation_rate=self._deallocations / duration,
                hotspots=hotspots,
                system_snapshots=list(self._snapshots),
                superseded=self._superseded,
                untracked_lifetime=len(untracked),
                untracked_lifetime_bytes=sum(untracked),
                track_calls=sum(t.track_calls for t in threads),
                sampling_rate=self._rate,
                duration_s=duration,
                threads=threads,
            )
        report.hotspots.sort(key=lambda h: (-h.total_size, -h.allocation_count, h.location))
        return report

    def events(self) -> list[TrackEvent]:
        """The kept events, oldest first (at most the sampling's `max_events`)."""
        with self._lock:
            self._drain()
            raw = list(self._events)
        return [_event(e) for e in raw]

    @property
    def system_reading(self) -> SystemReading | None:
        """The monitor's latest reading, or None without monitoring (or before its first)."""
        return self._last_system

    @property
    def monitoring(self) -> bool:
        return self._monitor is not None and self._monitor.running

    def export(self, path: str | Path, format: str | None = None) -> Path:
        """Write the tracker's data to `path` as "json", "html" or "binary" (by default
        from the extension: .json, .html/.htm, anything else binary)."""
        from memlens.api.tracker_export import write_export

        return write_export(self, Path(path), format)

    def _export_at_exit(self) -> None:
        path = self._export_path
        if path is None:
            return
        self.close()
        try:
            self.export(path)
        except Exception as e:  # at exit there is no caller left to raise to
            print(f"memlens: could not write the tracker export {path}: {e}", file=sys.stderr)


def track(obj: T, name: str | None = None) -> T:
    """`Tracker.global_().track(obj)`, naming the argument as written at this call."""
    tracker = Tracker._global or Tracker.global_()
    try:
        cell = tracker._local.cell
    except AttributeError:
        cell = tracker._new_cell()
    cell.calls += 1
    if tracker._rate < 1.0 and tracker._random() >= tracker._rate:
        return obj
    tracker._record(obj, name, sys._getframe(1), cell)
    return obj


def _is_track_callable(value: object) -> bool:
    """An alias of a track function, for naming calls like `t(x)` after `t = track`."""
    if value is track:
        return True
    return isinstance(value, MethodType) and value.__func__ is Tracker.track


def _type_name(kind: type) -> str:
    module = getattr(kind, "__module__", None)
    qualname = getattr(kind, "__qualname__", kind.__name__)
    name = qualname if module in (None, "builtins") else f"{module}.{qualname}"
    if len(_type_names) > 4096:  # types made on the fly, without end
        _type_names.clear()
    _type_names[kind] = name
    return name


_frames: dict[tuple[CodeType, int], tuple[str, int, str]] = {}  # by instruction
_stacks: dict[tuple[tuple[str, int, str], ...], tuple[tuple[str, int, str], ...]] = {}
_INTERN_LIMIT = 100_000


def _stack(frame: FrameType | None, depth: int) -> tuple[tuple[str, int, str], ...]:
    """The call stack as plain tuples (a frozen dataclass per frame would cost more than
    the walk; `events()` makes StackFrames). Frames and whole stacks are interned: a
    loop tracks from the same stack over and over, and 100,000 events with 20 frames
    each would otherwise hold two million tuples."""
    out: list[tuple[str, int, str]] = []
    while frame is not None and len(out) < depth:
        # Keyed by instruction, not line: f_lineno is computed from the line table on
        # every read, f_lasti is not.
        key = (frame.f_code, frame.f_lasti)
        entry = _frames.get(key)
        if entry is None:
            if len(_frames) >= _INTERN_LIMIT:
                _frames.clear()
            code = key[0]
            entry = _frames[key] = (code.co_filename, frame.f_lineno or 0, code.co_name)
        out.append(entry)
        frame = frame.f_back
    stack = tuple(out)
    if len(_stacks) >= _INTERN_LIMIT:
        _stacks.clear()
    return _stacks.setdefault(stack, stack)


def _figures(cell: _Cell) -> ThreadFigures:
    return ThreadFigures(
        thread_id=cell.ident,
        thread_name=cell.name,
        track_calls=cell.calls,
        allocations=cell.allocations,
        deallocations=cell.deallocations,
        superseded=cell.superseded,
        bytes_tracked=cell.bytes_tracked,
        current_bytes=cell.current,
    )


def _event(e: tuple[Any, ...]) -> TrackEvent:
    cell: _Cell = e[_THREAD]
    return TrackEvent(
        kind=e[_KIND],
        id=e[_ID],
        t=e[_T],
        name=e[_NAME],
        name_captured=e[_CAPTURED],
        name_note=e[_NOTE],
        type_name=e[_TYPE],
        size=e[_SIZE],
        size_nodes=e[_NODES],
        size_truncated=e[_TRUNC],
        lifetime=e[_LIFETIME],
        file=e[_FILE],
        line=e[_LINE],
        function=e[_FUNC],
        thread_id=cell.ident,
        thread_name=cell.name,
        current_bytes=e[_CURRENT],
        stack=None if e[_STACK] is None else tuple(StackFrame(*f) for f in e[_STACK]),
        system=e[_SYSTEM],
    )
