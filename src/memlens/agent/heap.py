"""The heap profiler inside the target: switching it, marks, and profiles on request.

The sampler (`_heapsampler`, a C extension) keeps only raw samples; nothing is grouped,
named or sorted until a viewer asks for a profile, so an idle profiler costs the hooks and
nothing more. Where the extension cannot load (no compiler at install, a free-threaded
build, another platform), tracemalloc takes its place: exact rather than sampled, with
the same profile shape, far slower, and unable to say what was allocated and freed; the
reason is kept in the status and logged once.

A profile follows the schema in docs/formats.md ("Heap profiles"): stacks run from the
oldest call to the allocating frame; figures are estimates in bytes and objects.

Standard library only, and loaded on first use: the agent's start path never imports it.
"""

from __future__ import annotations

import _thread
import sys
import time

from memlens.agent._log import log_once
from memlens.agent.protocol import E_BAD_REQUEST, E_NOT_PROFILING, E_REFUSED, RequestError

if sys.platform == "win32":  # no agent runs there
    import os as posix
else:
    import posix

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from typing import Any, Protocol

    Key = Any  # a stack id (sampler) or a tuple of (file, line), oldest first (tracemalloc)
    Sums = dict[Any, tuple[float, float]]

    class Backend(Protocol):
        name: str
        interval: int

        def snapshot(self) -> tuple[Sums, Sums, int]: ...
        def frames(self, key: Key) -> tuple[list[tuple[str, str, int]], bool]: ...
        def overhead(self) -> tuple[int, int]: ...
        def stop(self) -> None: ...


DEFAULT_INTERVAL = 512 * 1024
MIN_INTERVAL = 1024
MAX_INTERVAL = 1 << 30
MAX_FRAMES = 128
MAX_MARKS = 32
MAX_MARK_NAME = 64
DEFAULT_LIMIT = 2000
MAX_LIMIT = 20000
KINDS = ("inuse", "allocated", "growth")
FORMAT = "memlens.heap"
VERSION = 1


def _load_sampler() -> Any:
    """The C extension, or the reason it cannot be used (a string). MEMLENS_HEAP_FALLBACK=1
    asks for tracemalloc even where the extension is there."""
    if posix.environ.get(b"MEMLENS_HEAP_FALLBACK", b"").strip() in (b"1", b"true", b"yes"):
        return "MEMLENS_HEAP_FALLBACK is set"
    try:
        from memlens.agent import _heapsampler
    except ImportError as exc:
        return f"the heap sampler extension is not available ({exc})"
    return _heapsampler


class _Sampled:
    name = "sampling"

    def __init__(self, module: Any, interval: int, frames: int, seed: int) -> None:
        self._module = module
        self.interval = interval
        module.start(interval=interval, frames=frames, seed=seed)
        self._frames: dict[int, tuple[list[tuple[str, str, int]], bool]] = {}

    def snapshot(self) -> tuple[Sums, Sums, int]:
        live, allocated, samples, _taken = self._module.snapshot()
        return (
            {key: (value[0], value[1]) for key, value in live.items()},
            allocated,
            samples,
        )

    def frames(self, key: Key) -> tuple[list[tuple[str, str, int]], bool]:
        known = self._frames.get(key)
        if known is None:
            frames, truncated = self._module.frames(key)
            known = self._frames[key] = (list(frames), truncated)
        return known

    def overhead(self) -> tuple[int, int]:
        """The sampler's own memory in bytes, and how many samples are live."""
        figures = self._module.overhead()
        return int(figures["bytes"]), int(figures["live_samples"])

    def stop(self) -> None:
        try:
            self._module.stop()
        except RuntimeError as exc:
            raise RequestError(E_REFUSED, str(exc)) from None


class _Traced:
    """tracemalloc in the sampler's place: every block, exact, with no function names."""

    name = "tracemalloc"
    interval = 0

    def __init__(self, frames: int) -> None:
        import _tracemalloc

        if _tracemalloc.is_tracing():
            raise RequestError(
                E_REFUSED,
                "the heap sampler is not available and the program traces with "
                "tracemalloc itself; left as it is",
            )
        _tracemalloc.start(frames)

    def snapshot(self) -> tuple[Sums, Sums, int]:
        import tracemalloc

        from memlens.agent import tracing

        snapshot = tracemalloc.take_snapshot()
        live: Sums = {}
        for key, (size, count) in tracing.group(snapshot, "traceback").items():
            if not tracing._excluded(key):
                live[key] = (float(size), float(count))
        return live, {}, sum(int(count) for _, count in live.values())

    def frames(self, key: Key) -> tuple[list[tuple[str, str, int]], bool]:
        return [("?", file, line) for file, line in key], False

    def overhead(self) -> tuple[int, int]:
        import _tracemalloc

        return int(_tracemalloc.get_tracemalloc_memory()), 0

    def stop(self) -> None:
        import _tracemalloc

        _tracemalloc.stop()


class _Mark:
    __slots__ = ("allocated", "live", "time")

    def __init__(self, when: float, live: Sums, allocated: Sums) -> None:
        self.time = when
        self.live = live
        self.allocated = allocated


class HeapProfiler:
    """Process-wide: one profiler, switched by the program or by any viewer."""

    def __init__(self) -> None:
        self.lock = _thread.allocate_lock()
        self.backend: Backend | None = None
        self.frames = MAX_FRAMES
        self.since: float | None = None
        self.marks: dict[str, _Mark] = {}
        self.fallback_reason: str | None = None
        self._pid = posix.getpid()
        if hasattr(posix, "register_at_fork"):
            # A fork while a viewer's request held the lock must not leave it held.
            posix.register_at_fork(after_in_child=self._new_lock)

    def _new_lock(self) -> None:
        self.lock = _thread.allocate_lock()

    def start(
        self, interval: int = DEFAULT_INTERVAL, frames: int = MAX_FRAMES, seed: int = 0
    ) -> dict[str, Any]:
        with self.lock:
            self._after_fork()
            if self.backend is not None:
                if self.backend.interval in (interval, 0) and self.frames == frames:
                    return self._status()
                self._stop()
            sampler = _load_sampler()
            if isinstance(sampler, str):
                self.fallback_reason = sampler + "; using tracemalloc, which is slower"
                log_once("heap-fallback", f"memlens heap: {self.fallback_reason}")
                self.backend = _Traced(frames)
            else:
                self.fallback_reason = None
                try:
                    self.backend = _Sampled(sampler, interval, frames, seed)
                except RuntimeError as exc:
                    raise RequestError(E_REFUSED, str(exc)) from None
                _register_exit()
            self.frames = frames
            self.since = time.time()
            self.marks = {}
            return self._status()

    def stop(self) -> dict[str, Any]:
        with self.lock:
            self._stop()
            return self._status()

    def _stop(self) -> None:
        if self.backend is not None:
            self.backend.stop()  # may refuse: then it goes on running
        self.backend = None
        self.since = None
        self.marks = {}

    def status(self) -> dict[str, Any]:
        with self.lock:
            self._after_fork()
            return self._status()

    def _status(self) -> dict[str, Any]:
        backend = self.backend
        overhead, live = backend.overhead() if backend is not None else (0, 0)
        return {
            "running": backend is not None,
            "sampler": backend.name if backend is not None else None,
            "interval_bytes": backend.interval if backend is not None else 0,
            "max_frames": self.frames if backend is not None else 0,
            "since": self.since,
            "marks": [{"name": name, "time": mark.time} for name, mark in self.marks.items()],
            "fallback_reason": self.fallback_reason,
            "live_samples": live,
            "overhead_bytes": overhead,
        }

    def mark(self, name: str) -> dict[str, Any]:
        if not isinstance(name, str) or not 0 < len(name) <= MAX_MARK_NAME:
            raise RequestError(E_BAD_REQUEST, f"a mark's name is 1 to {MAX_MARK_NAME} characters")
        with self.lock:
            backend = self._require()
            live, allocated, _ = backend.snapshot()
            when = time.time()
            self.marks.pop(name, None)
            while len(self.marks) >= MAX_MARKS:
                del self.marks[next(iter(self.marks))]
            self.marks[name] = _Mark(when, live, allocated)
            return {"name": name, "time": when}

    def profile(self, kind: str, since: str | None, limit: int) -> dict[str, Any]:
        with self.lock:
            backend = self._require()
            mark = None
            if since is not None:
                mark = self.marks.get(since)
                if mark is None:
                    raise RequestError(E_BAD_REQUEST, f"no mark named {since[:64]!r}")
            live, allocated, samples = backend.snapshot()
            snapshot = (live, allocated, samples)
            return _build(self, backend, kind, (mark, since), snapshot, limit=limit)

    def _require(self) -> Backend:
        self._after_fork()
        if self.backend is None:
            raise RequestError(E_NOT_PROFILING, "the heap profiler is off; send heap.start first")
        return self.backend

    def _after_fork(self) -> None:
        """In a forked child the sampler has already cleared its samples; marks go too."""
        pid = posix.getpid()
        if pid != self._pid:
            self._pid = pid
            self.marks = {}
            if self.backend is not None:
                self.since = time.time()


def _build(
    profiler: HeapProfiler,
    backend: Backend,
    kind: str,
    since: tuple[_Mark | None, str | None],
    snapshot: tuple[Sums, Sums, int],
    *,
    limit: int,
) -> dict[str, Any]:
    """The profile of one snapshot: named, sorted and cut to `limit` stacks only now."""
    live, allocated, samples = snapshot
    mark, mark_name = since
    now = time.time()
    if kind == "growth" and mark is not None:
        before = mark.live
        inuse = {key: _minus(live.get(key), before.get(key)) for key in live.keys() | before.keys()}
    else:
        inuse = dict(live)
    if mark is not None:
        allocated = {
            key: _minus(value, mark.allocated.get(key)) for key, value in allocated.items()
        }
    keys = inuse.keys() | allocated.keys()
    rows = []
    for key in keys:
        in_bytes, in_count = inuse.get(key, (0.0, 0.0))
        al_bytes, al_count = allocated.get(key, (0.0, 0.0))
        if in_bytes == 0 and al_bytes == 0 and in_count == 0 and al_count == 0:
            continue
        rows.append((key, in_bytes, in_count, al_bytes, al_count))
    column = 3 if kind == "allocated" else 1
    rows.sort(key=lambda row: row[column], reverse=True)
    stacks = []
    for key, in_bytes, in_count, al_bytes, al_count in rows[:limit]:
        frames, truncated = backend.frames(key)
        listed = [{"function": f, "file": file, "line": line} for f, file, line in frames]
        if truncated:
            listed.insert(0, {"function": "[more frames]", "file": "", "line": 0})
        stacks.append(
            {
                "frames": listed,
                "inuse_bytes": in_bytes,
                "inuse_count": in_count,
                "alloc_bytes": al_bytes,
                "alloc_count": al_count,
            }
        )
    start = profiler.since if profiler.since is not None else now
    return {
        "format": FORMAT,
        "version": VERSION,
        "kind": kind,
        "sampler": backend.name,
        "interval_bytes": backend.interval,
        "max_frames": profiler.frames,
        "pid": posix.getpid(),
        "time": now,
        "start": start,
        "since": mark.time if mark is not None else start,
        "since_mark": mark_name if mark is not None else None,
        "inuse_bytes": sum(row[1] for row in rows),
        "inuse_count": sum(row[2] for row in rows),
        "alloc_bytes": sum(row[3] for row in rows),
        "alloc_count": sum(row[4] for row in rows),
        "samples": samples,
        "stacks": stacks,
        "truncated": max(0, len(rows) - limit),
    }


def _minus(
    now: tuple[float, float] | None, then: tuple[float, float] | None
) -> tuple[float, float]:
    a = now or (0.0, 0.0)
    b = then or (0.0, 0.0)
    return a[0] - b[0], a[1] - b[1]


_registered = False


def _register_exit() -> None:
    """At exit the hooks only pass through: no stack is taken while the interpreter goes."""
    global _registered
    if not _registered:
        import atexit

        from memlens.agent import _heapsampler

        atexit.register(_heapsampler.pause)
        _registered = True


PROFILER = HeapProfiler()


def start_from_env(environ: Any) -> None:
    """MEMLENS_HEAP=1 (with MEMLENS_HEAP_INTERVAL, in bytes) starts it with the agent."""
    try:
        interval = int(environ.get("MEMLENS_HEAP_INTERVAL") or DEFAULT_INTERVAL)
    except ValueError:
        log_once("heap-env", "memlens heap: MEMLENS_HEAP_INTERVAL is not a number of bytes")
        interval = DEFAULT_INTERVAL
    interval = min(max(interval, MIN_INTERVAL), MAX_INTERVAL)
    try:
        PROFILER.start(interval)
    except RequestError as exc:
        log_once("heap-env", f"memlens heap: not started: {exc.text}")
