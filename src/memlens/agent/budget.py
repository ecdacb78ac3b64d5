"""Costly requests (a heap snapshot, a walk over every object) one at a time, with rests.

A tracemalloc snapshot or `gc.get_objects()` is one call into C that holds the GIL until
it is done: once begun it cannot be interrupted, and the host's threads wait for it. So
the budget cannot cut a request short. What it guarantees instead: at most one costly
request runs at any time (a second is refused as busy, not queued), and after each one the
agent refuses the next for a rest of REST_FACTOR times what the last one took, so however
often viewers ask, costly work takes at most 1 / (1 + REST_FACTOR) of the host's time. A
request that took longer than BUDGET_S is answered and marked over budget. One that took
less than CHEAP_S earns no rest: small heaps are not throttled.
"""

from __future__ import annotations

import _thread
import time

from memlens.agent.protocol import E_BUSY, RequestError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    from types import TracebackType

BUDGET_S = 2.0
REST_FACTOR = 4.0
CHEAP_S = 0.05


class Cost:
    """How long the costly work took, filled in when it ends."""

    __slots__ = ("elapsed_s",)

    def __init__(self, elapsed_s: float = 0.0) -> None:
        self.elapsed_s = elapsed_s

    @property
    def over_budget(self) -> bool:
        return self.elapsed_s > BUDGET_S


class CostGate:
    def __init__(self, rest_factor: float = REST_FACTOR) -> None:
        self._lock = _thread.allocate_lock()
        self._running: str | None = None
        self._rest_until = 0.0
        self._rest_factor = rest_factor

    def run(self, what: str) -> _Run:
        """`with gate.run(what) as cost:` runs the body as the one costly request, or
        raises RequestError('busy') on entering. (A class, not `contextlib.contextmanager`,
        which would load `contextlib` into the host.)"""
        return _Run(self, what)

    def _enter(self, what: str) -> None:
        now = time.monotonic()
        with self._lock:
            if self._running is not None:
                raise RequestError(
                    E_BUSY, f"busy: {self._running} is running; ask again later", retry_after_s=1.0
                )
            if now < self._rest_until:
                wait = self._rest_until - now
                raise RequestError(
                    E_BUSY,
                    f"busy: resting after the last costly request; ask again in {wait:.2f} s",
                    retry_after_s=wait,
                )
            self._running = what

    def _exit(self, elapsed_s: float) -> None:
        with self._lock:
            self._running = None
            if elapsed_s >= CHEAP_S:
                self._rest_until = time.monotonic() + elapsed_s * self._rest_factor


class _Run:
    """One costly request under a CostGate, timed from entering to leaving."""

    __slots__ = ("_cost", "_gate", "_started", "_what")

    def __init__(self, gate: CostGate, what: str) -> None:
        self._gate = gate
        self._what = what
        self._cost = Cost()
        self._started = 0.0

    def __enter__(self) -> Cost:
        self._gate._enter(self._what)
        self._started = time.perf_counter()
        return self._cost

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._cost.elapsed_s = time.perf_counter() - self._started
        self._gate._exit(self._cost.elapsed_s)
