"""`with memlens.measure("label") as m:` and `@memlens.profile`: what a block of code
leaves behind and the most it held at once.

The change and the peak come from tracemalloc, not RSS: RSS rarely goes down when Python
frees memory (the allocator keeps its arenas), and a sampled RSS misses a peak that
lasts a millisecond, while tracemalloc counts every allocation and keeps its own peak.
tracemalloc has one peak per process, so a block resets it when it begins; blocks that
nest keep what the outer one had seen before the inner one reset it. tracemalloc is
started for the block when it is off, and stopped again after the outermost block that
started it. RSS before and after is given too, for memory tracemalloc does not see
(C extensions that bypass Python's allocator).
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
import threading
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast, overload

from memlens.errors import MemlensError
from memlens.units import human_bytes

if TYPE_CHECKING:
    from memlens.api.profiler import Profiler
    from memlens.probes import ProcessProbe

P = ParamSpec("P")
R = TypeVar("R")

log = logging.getLogger("memlens.profile")
MB = 1024.0 * 1024.0

_lock = threading.Lock()
_open: list[Measurement] = []  # blocks in progress, every thread's
_started_tracing = False  # tracemalloc was started here, for the blocks in progress
_probe: tuple[int, ProcessProbe] | None = None  # (pid, probe) of this process


@dataclass
class Measurement:
    """What a block did. Bytes and seconds; filled when the block ends.

    `change`: traced memory at the end minus at the start (what the block kept);
    `peak`: the most traced memory above the start at any moment inside (every thread's
    allocations count, as tracemalloc has one peak per process); `rss_before`/`rss_after`:
    the process's resident memory around the block (None where it cannot be read).
    """

    label: str = ""
    change: int = 0
    peak: int = 0
    rss_before: int | None = None
    rss_after: int | None = None
    seconds: float = 0.0
    _start: int = field(default=0, repr=False)
    _seen_peak: int = field(default=0, repr=False)
    _t0: float = field(default=0.0, repr=False)
    _state: str = field(default="new", repr=False)

    @property
    def change_mb(self) -> float:
        return self.change / MB

    @property
    def peak_mb(self) -> float:
        return self.peak / MB

    @property
    def rss_change(self) -> int | None:
        if self.rss_before is None or self.rss_after is None:
            return None
        return self.rss_after - self.rss_before

    def __str__(self) -> str:
        name = f"{self.label}: " if self.label else ""
        sign = "+" if self.change >= 0 else ""
        rss = self.rss_change
        rss_text = "" if rss is None else f", RSS {'+' if rss >= 0 else ''}{human_bytes(rss)}"
        return (
            f"{name}{sign}{human_bytes(self.change)} kept, peak +{human_bytes(self.peak)}"
            f"{rss_text}, {self.seconds:.3g} s"
        )

    def __enter__(self) -> Measurement:
        global _started_tracing
        if self._state != "new":
            raise RuntimeError("a Measurement measures one block; call measure() again")
        self._state = "open"
        self.rss_before = _rss()
        with _lock:
            if not tracemalloc.is_tracing():
                tracemalloc.start()
                _started_tracing = True
            _, peak = tracemalloc.get_traced_memory()
            for other in _open:  # the reset below would lose what they have seen
                other._seen_peak = max(other._seen_peak, peak)
            tracemalloc.reset_peak()
            self._start = self._seen_peak = tracemalloc.get_traced_memory()[0]
            _open.append(self)
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        global _started_tracing
        self.seconds = time.perf_counter() - self._t0
        with _lock:
            if tracemalloc.is_tracing():
                current, peak = tracemalloc.get_traced_memory()
            else:  # stopped inside the block: nothing more is known
                current = peak = self._start
            self.change = current - self._start
            self.peak = max(0, self.change, max(self._seen_peak, peak) - self._start)
            _open.remove(self)
            if _started_tracing and not _open:
                tracemalloc.stop()
                _started_tracing = False
        self._state = "done"
        self.rss_after = _rss()


def measure(label: str = "") -> Measurement:
    """`with measure("load") as m: ...`, then `m.change`, `m.peak` (bytes), `print(m)`."""
    return Measurement(label)


@overload
def profile(func: Callable[P, R], /) -> Callable[P, R]: ...


@overload
def profile(
    *,
    label: str | None = None,
    profiler: Profiler | None = None,
    sink: Callable[[Measurement], object] | None = None,
) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


def profile(
    func: Callable[P, R] | None = None,
    /,
    *,
    label: str | None = None,
    profiler: Profiler | None = None,
    sink: Callable[[Measurement], object] | None = None,
) -> Callable[P, R] | Callable[[Callable[P, R]], Callable[P, R]]:
    """Measure every call of the function as `measure` does (async functions too).

    Each call's Measurement goes to `sink`, by default one INFO line on the
    `memlens.profile` logger. With `profiler`, each call also leaves a snapshot before
    and after it in that Profiler (context "before NAME" / "after NAME").
    """

    def decorate(f: Callable[P, R]) -> Callable[P, R]:
        name = label or getattr(f, "__qualname__", None) or repr(f)
        report = sink or _log

        if inspect.iscoroutinefunction(f):
            run_async = cast(Callable[P, Awaitable[Any]], f)

            @functools.wraps(f)
            async def async_wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
                m = measure(name)
                _before(profiler, name)
                try:
                    with m:
                        return await run_async(*args, **kwargs)
                finally:
                    _after(profiler, name)
                    report(m)

            return cast(Callable[P, R], async_wrapper)

        @functools.wraps(f)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            m = measure(name)
            _before(profiler, name)
            try:
                with m:
                    return f(*args, **kwargs)
            finally:
                _after(profiler, name)
                report(m)

        return wrapper

    if func is not None:
        return decorate(func)
    return decorate


def _before(profiler: Profiler | None, name: str) -> None:
    if profiler is not None:
        profiler.take_snapshot(context=f"before {name}")


def _after(profiler: Profiler | None, name: str) -> None:
    if profiler is not None:
        profiler.take_snapshot(context=f"after {name}")


def _log(measurement: Measurement) -> None:
    log.info("%s", measurement, extra={"measurement": measurement})


def _rss() -> int | None:
    """This process's RSS through a probe kept open (a new one after a fork)."""
    global _probe
    from memlens.probes import open_process

    pid = os.getpid()
    with _lock:
        try:
            if _probe is None or _probe[0] != pid:
                _probe = (pid, open_process(pid))
            return _probe[1].read(full=False).rss
        except MemlensError:
            return None
