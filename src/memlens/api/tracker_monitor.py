"""The tracker's system monitor: a background thread that reads the machine on a schedule.

`track` must not pay for a system reading (about 0.1 ms on Linux, more with a GPU), so a
thread reads it every `interval` seconds and hands each reading to a callback; `track`
then only picks up the last one stored. The schedule is monotonic and does not drift: a
slow reading delays the next one, and a missed tick is skipped rather than caught up.

The thread holds the tracker only weakly (through `WeakMethod`): a tracker that the
program drops ends its monitor instead of being kept alive by it.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable

from memlens.model import SystemReading
from memlens.probes.system import SystemProbe


class SystemMonitor:
    def __init__(
        self,
        on_reading: Callable[[SystemReading], None],
        *,
        interval: float = 0.1,
        gpu: bool = True,
    ) -> None:
        if interval <= 0:
            raise ValueError(f"the monitor's interval must be positive, not {interval!r}")
        self.interval = interval
        self.gpu = gpu
        self.errors = 0  # readings that failed (a /proc file that could not be read)
        self._callback = weakref.WeakMethod(on_reading)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="memlens-system", daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _run(self) -> None:
        probe = SystemProbe(gpu=self.gpu)
        try:
            start = time.monotonic()
            tick = 0
            while not self._stop.is_set():
                try:
                    reading = probe.read()
                except OSError:
                    self.errors += 1
                else:
                    callback = self._callback()
                    if callback is None:  # the tracker is gone
                        return
                    callback(reading)
                    del callback
                now = time.monotonic()
                tick = max(tick + 1, int((now - start) / self.interval) + 1)
                self._stop.wait(max(0.0, start + tick * self.interval - now))
        finally:
            probe.close()
