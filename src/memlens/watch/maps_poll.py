"""Where the watched processes' memory lives, read at a low, budgeted rate on a thread of
its own, never in the sampler's round.

A reading of /proc/PID/smaps walks every page table of the target in the kernel: about
11 ms for a 1 GB process, where the sampler's whole round is microseconds. So readings
run here, every `every` seconds (10 by default), for the first `targets` processes
watched (4 by default, all with `--maps`), and the pace adapts: after each pass the CPU
time it took (this thread's, which includes the kernel's page walk) is divided by the
budget (1% of a core by default), and the next pass waits at least that long. Ten 1 GB
targets (about 0.12 s a pass) are then read every 12 s instead of 10.

Each reading goes to the sinks (the metrics, the recorder, the live view) as
`(key, MapsReading)`. A process that ends is dropped; one whose map the OS will not show
is not asked again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from memlens.analysis.maptext import growth_cause
from memlens.errors import AccessDenied, MemlensError, TargetGone, TargetNotFound
from memlens.model import Target
from memlens.probes.maps import MapsProbe, MapsReading

log = logging.getLogger(__name__)

MAPS_EVERY = 10.0  # s between two readings of one process, at least
BUDGET = 0.01  # the share of one core the readings may take
AUTO_TARGETS = 4  # processes read by default; --maps reads up to MAX_TARGETS
MAX_TARGETS = 256
FIRST_AFTER = 1.0  # s after the start: the first samples go first
HISTORY = 2048  # readings kept per target for a leak alert: hours at the default pace

Sink = Callable[[str, MapsReading], object]


@dataclass(frozen=True)
class MapsSettings:
    """How often and for how many processes maps are read; `budget` is a share of one
    core, which stretches `every` when the readings cost more."""

    every: float = MAPS_EVERY
    budget: float = BUDGET
    targets: int = AUTO_TARGETS


class MapsPoller:
    """Reads the maps of the watched processes on its own thread."""

    def __init__(
        self,
        targets: Callable[[], list[Target]],
        sinks: Sequence[Sink],
        settings: MapsSettings | None = None,
    ) -> None:
        self.targets = targets
        self.sinks = list(sinks)
        self.settings = settings or MapsSettings()
        self.interval = self.settings.every  # now, after adapting to the cost
        self.readings = 0
        self.cpu_seconds = 0.0  # spent reading, in all
        self._probes: dict[str, MapsProbe] = {}
        # (time, RSS by category) of each target's recent readings, for a leak alert's
        # `map_growth` (growth); read from the alert engine's thread, hence the lock.
        self._history: dict[str, deque[tuple[float, dict[str, int]]]] = {}
        self._lock = threading.Lock()
        self._refused: set[str] = set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="memlens-maps", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        for probe in self._probes.values():
            probe.close()
        self._probes.clear()

    def _run(self) -> None:
        wait = FIRST_AFTER
        while not self._stop.wait(wait):
            began = time.monotonic()
            try:
                self.poll_once()
            except Exception:  # the maps are extras: they never end the watch
                log.exception("reading the memory maps failed")
            wait = max(0.0, self.interval - (time.monotonic() - began))

    def chosen(self) -> list[Target]:
        """The running processes whose maps are read: the first `targets` watched."""
        live = [t for t in self.targets() if t.kind == "process" and t.state == "running"]
        return live[: self.settings.targets]

    def poll_once(self) -> int:
        """One pass over the chosen processes; returns how many were read, and adapts
        the interval to what the pass cost. Public for tests and the benchmark."""
        spent = time.thread_time()
        chosen = self.chosen()
        keys = {t.key for t in chosen}
        for key in [k for k in self._probes if k not in keys]:
            self._drop(key)
        with self._lock:
            for key in [k for k in self._history if k not in keys]:
                del self._history[key]
        done = 0
        for target in chosen:
            if target.key in self._refused:
                continue
            reading = self._read(target)
            if reading is None:
                continue
            done += 1
            rss = {c: u.rss for c, u in reading.categories.items()}
            with self._lock:
                recent = self._history.setdefault(target.key, deque(maxlen=HISTORY))
                recent.append((reading.time, rss))
            for sink in self.sinks:
                try:
                    sink(target.key, reading)
                except Exception:
                    log.exception("a memory map's reading could not be delivered")
        spent = time.thread_time() - spent
        self.readings += done
        self.cpu_seconds += spent
        self.interval = max(self.settings.every, spent / self.settings.budget)
        return done

    def growth(self, key: str, t0: float, t1: float) -> dict[str, Any] | None:
        """RSS growth by category from the reading nearest before `t0` (else the first)
        to the last at or before `t1`, and the sentence naming the category that carried
        it ("anonymous memory grew 300.0 MB over the leak: a native heap leak"; None when
        none carried most): a leak alert's `map_growth`. None without two readings."""
        with self._lock:
            recent = list(self._history.get(key, ()))
        until = [r for r in recent if r[0] <= t1]
        if len(until) < 2:
            return None
        before = [r for r in until if r[0] <= t0]
        first = before[-1] if before else until[0]
        last = until[-1]
        if last[0] <= first[0]:
            return None
        grew = {c: last[1].get(c, 0) - first[1].get(c, 0) for c in last[1]}
        return {"since": first[0], "until": last[0], "grew": grew, "cause": growth_cause(grew)}

    def _read(self, target: Target) -> MapsReading | None:
        probe = self._probes.get(target.key)
        try:
            if probe is None:
                probe = MapsProbe(target.pid)
                if probe.key != target.key:  # the PID now names another process
                    probe.close()
                    self._refused.add(target.key)
                    return None
                self._probes[target.key] = probe
            return probe.read()
        except (TargetGone, TargetNotFound):
            self._drop(target.key)
        except AccessDenied as e:
            log.info("not reading the memory map of %s: %s", target.key, e)
            self._drop(target.key)
            self._refused.add(target.key)
        except MemlensError as e:
            log.debug("the memory map of %s could not be read: %s", target.key, e)
        return None

    def _drop(self, key: str) -> None:
        with self._lock:
            self._history.pop(key, None)
        probe = self._probes.pop(key, None)
        if probe is not None:
            probe.close()


__all__ = ["BUDGET", "MAPS_EVERY", "MapsPoller", "MapsSettings"]
