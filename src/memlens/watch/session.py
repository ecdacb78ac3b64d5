"""One watch, assembled once: the sampler, the tick consumers, the hand-over to an event
loop, the live view and the Python poller, started and stopped in one order.

Every face (the dashboard, `top`, `record`, `run`, `check`, the exporter) builds a
`Session` and asks it for what it needs; none wires a sampler of its own. The flow:

    sampler thread ── Tick ──> consumers, in order: recorder, metrics, alerts, extras
                          └──> (with a loop attached) LiveView.apply on the loop's thread

A new tick consumer is an object with `on_tick(tick)`, handed to `consumers=` (or a
field here when every face should have it). Stopping goes poller, sampler (which hangs
up on the agents), alert engine, then the recorder, so the last round and the last
alert are in the store before it closes.

A face that samples on demand rather than on a schedule (`memlens.Profiler`: a snapshot
when the program asks, or on its monitoring thread) never starts the sampler's thread:
it calls `sample_now`, which runs one round on the caller's thread through the same
consumers and returns once they have all had it. With `judge="inline"` the alert engine
judges each tick there too, instead of on a thread of its own, so a round's alerts are
in the store when `sample_now` returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Literal

from memlens.metrics.prometheus import LiveMetrics
from memlens.model import Alert, Tick
from memlens.probes import ProcessProbe
from memlens.probes.maps import MapsReading
from memlens.watch.alerts import AlertEngine
from memlens.watch.heap_history import HeapHistory
from memlens.watch.heap_keep import HeapKeeper
from memlens.watch.live import LiveView
from memlens.watch.maps_poll import MapsPoller, Sink
from memlens.watch.mark_spool import ShellMark
from memlens.watch.python_poll import HEAP_EVERY, PythonPoller
from memlens.watch.recorder import Recorder
from memlens.watch.sampler import Sampler, SamplerConfig
from memlens.watch.shell_marks import ShellMarks

log = logging.getLogger(__name__)

TickConsumer = Callable[[Tick], object]  # what it returns is ignored
Judge = Literal["thread", "inline"]


class Session:
    """The live pipeline of one watch. Nothing runs until `start()`."""

    def __init__(
        self,
        config: SamplerConfig,
        probes: Iterable[ProcessProbe] = (),
        *,
        children_of_memlens: Iterable[subprocess.Popen[bytes]] = (),
        recorder: Recorder | None = None,
        alerts: AlertEngine | None = None,
        metrics: bool = False,
        live: LiveView | None = None,
        consumers: Sequence[TickConsumer] = (),
        judge: Judge = "thread",
        shell_marks: bool = True,
    ) -> None:
        """`judge` is where the alert engine judges the ticks: "thread", on its own
        thread, so sampling never waits for the statistics (every face that watches on a
        schedule); "inline", on the round's thread before the next consumer, so the
        alerts of a `sample_now` round are out when it returns (the Profiler).
        `shell_marks`: once started, take the marks `memlens mark PID` leaves for the
        PIDs watched (memlens.watch.shell_marks)."""
        self.sampler = Sampler(
            config, self._on_tick, probes=probes, children_of_memlens=children_of_memlens
        )
        self.recorder = recorder
        self.alerts = alerts
        self.live = live
        if live is not None:
            live.group_by = config.group_by
        self.metrics = (
            LiveMetrics(verdicts=None if alerts is None else alerts.verdicts, stats=self.stats)
            if metrics
            else None
        )
        chain: list[TickConsumer] = []
        if recorder is not None:
            chain.append(recorder.on_tick)
        if self.metrics is not None:
            chain.append(self.metrics.on_tick)
        if alerts is not None:
            chain.append(alerts.on_tick if judge == "thread" else alerts.process)
            if recorder is not None:
                alerts.sinks.append(recorder.on_alert)
            if self.metrics is not None:
                alerts.sinks.append(self.metrics.on_alert)
        # The heap profiles a leak alert names its stacks from, of the processes that run
        # the heap profiler: asked for on the poller's thread, never on the sampler's.
        # A recording keeps them too (heap_keep.py). Without alerts (--no-alerts), a
        # recording still keeps them, and the program's marks.
        self.heap: HeapHistory | None = None
        self._poller: PythonPoller | None = None
        if (alerts is not None or recorder is not None) and self.sampler.agents.enabled:
            self.heap = HeapHistory()
            if alerts is not None and alerts.stacks_of is None:
                alerts.stacks_of = self.heap.growth
            if recorder is not None:
                self.heap.sinks.append(HeapKeeper(recorder.on_heap).on_point)
            chain.append(self.heap.on_tick)
            self._poller = PythonPoller(
                self.sampler.agents,
                self._publish_python,
                watching=lambda: False,
                heap=self.heap,
                heap_every=HEAP_EVERY if alerts is None else alerts.settings.stacks_every,
                on_mark=self._on_agent_mark,
            )
        chain.extend(consumers)
        self._consumers = chain
        self.maps: MapsPoller | None = None
        if config.maps is not None:
            sinks: list[Sink] = []
            if self.metrics is not None:
                sinks.append(self.metrics.on_maps)
            if recorder is not None:
                sinks.append(recorder.on_maps)
            if live is not None:
                sinks.append(lambda key, reading: self._post(self._maps_to_live, (key, reading)))
            self.maps = MapsPoller(self.sampler.targets, sinks, config.maps)
            if alerts is not None and alerts.maps_of is None:
                alerts.maps_of = self.maps.growth
        self._judge = judge
        self.shell_marks = (
            ShellMarks(self.sampler.targets, self._on_shell_mark) if shell_marks else None
        )
        self._loop: asyncio.AbstractEventLoop | None = None  # while updates are posted
        self._delivered_to: asyncio.AbstractEventLoop | None = None
        self._changed: Callable[[], None] = lambda: None
        self._lock = threading.Lock()
        self._started = False
        self._stopped = False

    # -- what faces ask ---------------------------------------------------------------

    @property
    def config(self) -> SamplerConfig:
        return self.sampler.config

    @property
    def python_poller(self) -> PythonPoller | None:
        """What asks the agents for their costlier answers (None without agents)."""
        return self._poller

    def count_objects_now(self, key: str) -> float | None:
        """Count the target's objects by type at the poller's next pass (a face's
        button); seconds until then, None when nothing asks the agents."""
        return None if self._poller is None else self._poller.count_objects_now(key)

    def stats(self) -> dict[str, int]:
        return {"ticks": self.sampler.ticks, "missed_ticks": self.sampler.missed_ticks}

    def add_consumer(self, consume: TickConsumer) -> None:
        """One more tick consumer, after those the session was built with (one that needs
        the session itself, such as a progress count); before `start()` only."""
        if self._started:
            raise RuntimeError("consumers are added before the session starts")
        self._consumers.append(consume)

    def deliver(
        self,
        loop: asyncio.AbstractEventLoop,
        *,
        watching: Callable[[], bool] | None = None,
        changed: Callable[[], None] | None = None,
        heap_view: Callable[[str], bool] | None = None,
    ) -> None:
        """From `start()` on, ticks, alerts and the agents' answers reach the live view
        on `loop`'s thread; `changed` runs there after each (a screen redraws).
        `watching` says whether anyone looks at the Python extras (default: the hub has
        subscribers), so agents are asked only while someone does; `heap_view(key)`
        whether a face shows that target's top heap stacks (`memlens top`'s pane)."""
        live = self.live
        if live is None:
            raise ValueError("a session without a live view has nothing to deliver to")
        self._loop = self._delivered_to = loop
        if changed is not None:
            self._changed = changed
        if self.alerts is not None:
            self.alerts.sinks.append(lambda alert: self._post(self._alert_to_live, alert))
        looking = watching or (lambda: len(live.hub) > 0)
        if self._poller is None:
            self._poller = PythonPoller(
                self.sampler.agents, self._publish_python, looking, on_mark=self._on_agent_mark
            )
        self._poller.watching = looking
        self._poller.heap_view = heap_view

    # -- running ----------------------------------------------------------------------

    def start(self) -> None:
        with self._lock:
            if self._started or self._stopped:  # a stop that came first wins
                return
            self._started = True
        if self.live is not None:
            # A page that connects before the first round (which may wait on linking a
            # Python agent) still gets the targets in its hello.
            for target in self.sampler.targets():
                self.live.targets.setdefault(target.key, target)
        if self.alerts is not None and self._judge == "thread":
            self.alerts.start()
        if self.shell_marks is not None:
            # Its inbox names the PIDs before the first sample is recorded, so a mark
            # sent once the recording shows the target reaches this watch.
            self.shell_marks.start()
        self.sampler.start()
        if self._poller is not None:
            self._poller.start()
        if self.maps is not None:
            self.maps.start()

    def sample_now(self, adjust: Callable[[Tick], Tick] | None = None) -> Tick:
        """One round on the caller's thread, handed to every consumer (and the live view)
        before it returns; never at once with a round of the sampler's thread. Needs no
        `start()`. `adjust` sees the round first and returns the tick the consumers get:
        the caller's own figures that a probe cannot read (the Profiler's Python fields of
        its own process, and a time strictly after its previous snapshot's). A consumer's
        failure is raised here, as the caller asked for this round."""
        with self.sampler.lock:
            if self._stopped:
                raise RuntimeError("the session has stopped: its probes are closed")
            tick = self.sampler.sample_once()
            if adjust is not None:
                tick = adjust(tick)
            self._on_tick(tick)
        return tick

    def stop(self, exit_code: int | None = None) -> None:
        """Stop every thread and end the recording (with the command's exit code, for
        `run`); once, from any thread; later calls do nothing."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        if self.shell_marks is not None:
            self.shell_marks.stop()
        if self._poller is not None:
            self._poller.stop()
        if self.maps is not None:
            self.maps.stop()
        # The sampler's last round (an exit it records) and the engine's last alerts still
        # reach the live view, where a loop still runs to take them (`settle` waits).
        self.sampler.stop()
        if self.alerts is not None:
            self.alerts.stop()
        self._loop = None
        if self.recorder is not None:
            self.recorder.finish(exit_code=exit_code)

    def settle(self, timeout: float = 5.0) -> None:
        """Wait until the loop has applied every update handed to it so far, so that a
        face stopping its server after `stop()` lets clients see the last round."""
        loop = self._delivered_to
        if loop is None:
            return
        done = threading.Event()
        try:
            loop.call_soon_threadsafe(done.set)
        except RuntimeError:  # the loop is closed: nothing is left to apply
            return
        done.wait(timeout)

    # -- on the sampler's thread -------------------------------------------------------

    def _on_tick(self, tick: Tick) -> None:
        for consume in self._consumers:
            consume(tick)
        if self.live is not None:
            self._post(self._tick_to_live, tick)

    def _on_agent_mark(self, key: str, mark: dict[str, Any]) -> None:
        """A program's mark read from its agent (on the poller's thread): into the
        recording as a `mark` event, and onto the live chart."""
        data: dict[str, Any] = {"text": str(mark.get("text", "")), "source": "program"}
        pid = self._pid_of(key)
        if pid is not None:
            data["pid"] = pid
        t = float(mark.get("time", time.time()))
        if self.recorder is not None and not self._recorded(mark.get("recorded_in")):
            self.recorder.on_mark(key, t, data)
        self._post(self._mark_to_live, (key, t, data))

    def _on_shell_mark(self, mark: ShellMark) -> None:
        """A mark `memlens mark PID` left for this watch (on its thread): routed as a
        program's mark, to each running process target of that PID."""
        data: dict[str, Any] = {"text": mark.text, "source": "shell", "pid": mark.pid}
        for target in self.sampler.targets():
            if target.kind != "process" or target.pid != mark.pid or target.state != "running":
                continue
            if self.recorder is not None:
                self.recorder.on_mark(target.key, mark.t, dict(data))
            self._post(self._mark_to_live, (target.key, mark.t, dict(data)))

    def _recorded(self, where: object) -> bool:
        """Whether the program already wrote its mark into this session's own store
        (`memlens run` names it to the program): then it is not kept twice."""
        if not isinstance(where, str) or self.recorder is None:
            return False
        try:
            return os.path.samefile(where, self.recorder.path)
        except (OSError, ValueError):
            return False

    def _pid_of(self, key: str) -> int | None:
        for target in self.sampler.targets():
            if target.key == key:
                return target.pid
        return None

    def _publish_python(self, message: dict[str, Any]) -> None:
        """An agent's answer, for the live view once a loop is attached (else dropped)."""
        self._post(self._python_to_live, message)

    def _post(self, what: Callable[[Any], None], arg: Any) -> None:
        loop = self._loop
        if loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop is closing: nobody to tell
            loop.call_soon_threadsafe(self._guarded, what, arg)

    # -- on the loop's thread ----------------------------------------------------------

    def _guarded(self, what: Callable[[Any], None], arg: Any) -> None:
        """A failure in one update is logged, never raised into the loop."""
        try:
            what(arg)
            self._changed()
        except Exception:
            log.exception("the live view could not take an update")

    def _tick_to_live(self, tick: Tick) -> None:
        assert self.live is not None
        self.live.apply(tick)

    def _alert_to_live(self, alert: Alert) -> None:
        assert self.live is not None
        self.live.post_alert(alert)

    def _maps_to_live(self, keyed: tuple[str, MapsReading]) -> None:
        assert self.live is not None
        self.live.post_maps(keyed[0], keyed[1].sample())

    def _mark_to_live(self, mark: tuple[str, float, dict[str, Any]]) -> None:
        assert self.live is not None
        self.live.post_mark(*mark)

    def _python_to_live(self, message: dict[str, Any]) -> None:
        assert self.live is not None
        self.live.post_python(message)
