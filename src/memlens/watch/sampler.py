"""The sampler owns time: one loop per set of targets, on a schedule that does not drift.

It runs on its own thread so a slow read of /proc never stalls the event loop that
serves clients, and hands each finished round (a `Tick`) to one callback. The schedule
is `start + k * interval` on the monotonic clock: a late round does not push the later
ones back, and rounds that could not run at all are skipped and counted, never bunched.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from memlens.analysis.groups import DEFAULT_GROUP_BY, check_group_by, group_label, honest_sum
from memlens.attach.target import attachable
from memlens.errors import MemlensError, TargetGone
from memlens.model import Reading, SystemReading, Target, Tick
from memlens.outside.redact import redact_cmdline
from memlens.probes import ProcessProbe, open_process
from memlens.probes.proctable import (
    ProcessMatcher,
    ancestors,
    descendants,
    name_of,
    start_ticks_of,
)
from memlens.probes.python import PythonProbe
from memlens.probes.system import SystemProbe
from memlens.watch.agent_links import AgentLinks, Candidate
from memlens.watch.maps_poll import MapsSettings
from memlens.watch.pss_budget import PSS_BUDGET, PSS_EVERY, PssBudget

log = logging.getLogger(__name__)

MIN_INTERVAL = 0.05
# The longest interval: a sampler that wakes less often than hourly is not watching, and
# a wait much longer than this (inf, 1e308) overflows the clock and kills the thread.
MAX_INTERVAL = 3600.0


def check_interval(interval: float) -> float:
    """`interval` if a sampler can keep it (a finite number of seconds from MIN_INTERVAL
    to MAX_INTERVAL), else ValueError with a message fit for a person."""
    if not (isinstance(interval, int | float) and MIN_INTERVAL <= interval <= MAX_INTERVAL):
        raise ValueError(
            f"the interval must be at least {MIN_INTERVAL} s and at most {MAX_INTERVAL:g} s "
            f"(one hour), not {interval!r}"
        )
    return float(interval)


@dataclass
class SamplerConfig:
    interval: float = 1.0
    detail: bool = False
    backend: str | None = None
    children: bool = False
    name_pattern: re.Pattern[str] | None = None
    rescan_interval: float = 2.0  # how often --name and --children look for new processes
    exclude_pids: frozenset[int] = field(default_factory=lambda: frozenset({os.getpid()}))
    # Above this many live processes, each is read in full (threads, fds, swap, CPU) only
    # every `slow_every` rounds, staggered, and its memory every round: a full reading
    # costs four reads of /proc, memory alone one.
    full_read_limit: int = 256
    slow_every: int = 5
    # The Python agent (docs/agent.md): look for one in each watched process, with this
    # token, and switch tracemalloc on with this many frames (0: leave it as it is).
    agents: bool = True
    agent_token: str | None = None
    tracemalloc_frames: int = 0
    # The machine as a whole (CPU, memory, swap, disk, network; GPUs through NVML when it
    # is installed and a driver answers), read with a round at most every `system_every`
    # seconds and carried by every tick: see `_SystemPoll`.
    system: bool = True
    gpu: bool = True
    system_every: float = 1.0
    # Where the processes' memory lives (smaps by category), read by the session's maps
    # poller on a thread of its own at a budgeted rate (watch/maps_poll.py); None: never.
    maps: MapsSettings | None = None
    # One more round when the sampler stops, after its thread has ended: a process that
    # exited since the previous round (between ticks, or just before the stop) is then
    # seen gone and its exit recorded. `run` and `check` want their command's exit.
    final_round: bool = False
    # How targets are grouped (analysis/groups.py): each Target's `group` is its label.
    group_by: str = DEFAULT_GROUP_BY
    # Every process's PSS and USS (watch/pss_budget.py): smaps_rollup read when a process
    # is found, then at most every `pss_every` seconds, the reads of a round held to
    # `pss_budget` of one core (a share of the interval), carried forward in between.
    # `detail` reads it every round instead.
    pss_every: float = PSS_EVERY
    pss_budget: float = PSS_BUDGET


@dataclass
class _Watched:
    probe: ProcessProbe
    target: Target
    root: str | None  # key of the sum series it belongs to (with --children)
    remote: bool = False  # read through a remote agent: its PID is another machine's


class Sampler:
    """Reads every watched process once per tick and reports the round as a `Tick`."""

    def __init__(
        self,
        config: SamplerConfig,
        on_tick: Callable[[Tick], None],
        probes: Iterable[ProcessProbe] = (),
        children_of_memlens: Iterable[subprocess.Popen[bytes]] = (),
    ) -> None:
        check_interval(config.interval)
        check_group_by(config.group_by)
        self.config = config
        self.on_tick = on_tick
        self._popen = {p.pid: p for p in children_of_memlens}
        self._watched: dict[str, _Watched] = {}  # every target ever, exited ones too
        self._live: dict[str, _Watched] = {}  # the running ones, in the order they came
        self._sums: dict[str, Target] = {}
        self._known_pids: set[int] = set()
        self._pending_new: list[Target] = []
        self._seq = 0
        self._last_rescan = float("-inf")
        self._matcher = ProcessMatcher(config.name_pattern) if config.name_pattern else None
        self._stop = threading.Event()
        self._regrid = threading.Event()  # the interval changed: start a new grid now
        self._thread: threading.Thread | None = None
        self._final_done = False
        # Held through each round and its hand-over to `on_tick`, so a round driven from
        # another thread (`Session.sample_now`) never runs at once with the thread's own:
        # the targets' state and the consumers see one round at a time, in order.
        self.lock = threading.RLock()
        self.missed_ticks = 0
        self.ticks = 0
        self.agents = AgentLinks(
            enabled=config.agents,
            token=config.agent_token,
            tracemalloc_frames=config.tracemalloc_frames,
        )
        self._system = _SystemPoll(config) if config.system else None
        self.pss = PssBudget(config.pss_every, config.pss_budget)
        for probe in probes:
            self._add(probe, parent=None, root=None)

    # -- target set -------------------------------------------------------------------

    def targets(self) -> list[Target]:
        """Copies of every target, live and exited, sums after their processes."""
        items = [w.target for w in self._watched.values()]
        return [dataclasses.replace(t) for t in [*items, *self._sums.values()]]

    def _add(self, probe: ProcessProbe, parent: str | None, root: str | None) -> Target:
        ident = probe.identity
        cmdline = redact_cmdline(probe.cmdline)
        ppid: int | None = getattr(probe, "ppid", None)  # a remote agent's: unknown
        by = self.config.group_by
        target = Target(
            key=ident.key,
            kind="process",
            pid=ident.pid,
            start_time=ident.start_time,
            name=probe.name,
            cmdline=cmdline,
            parent=parent,
            attachable=self.agents.enabled and attachable(probe),
            ppid=ppid,
            group=group_label(
                by, probe.name, cmdline, ppid, name_of(ppid) if by == "parent" else None
            ),
        )
        if self.config.children and root is None and parent is None:
            root = f"sum-{ident.key}"
            self._sums[root] = Target(
                key=root,
                kind="sum",
                pid=ident.pid,
                start_time=ident.start_time,
                name=f"{probe.name} + children",
                cmdline=target.cmdline,
                members=[ident.key],
            )
            self._pending_new.append(dataclasses.replace(self._sums[root]))
        elif root is not None:
            self._sums[root].members.append(ident.key)
        self._watched[ident.key] = self._live[ident.key] = _Watched(probe, target, root)
        remote = getattr(probe, "python", None)
        if isinstance(remote, PythonProbe):  # a remote agent: its reads carry the fields
            self.agents.adopt(ident.key, remote)
            target.python = remote.info()
            self._watched[ident.key].remote = True
        self._known_pids.add(ident.pid)
        self._pending_new.append(dataclasses.replace(target))
        return target

    def _try_open(self, pid: int) -> ProcessProbe | None:
        try:
            return open_process(pid, detail=self.config.detail, backend=self.config.backend)
        except MemlensError:
            return None  # gone already, or not ours: discovery skips it quietly

    def look_again(self, key: str) -> None:
        """The agent of `key` is to be looked for at the next rescan (it was just started
        by an attach): a request thread may call this."""
        self.agents.look_again(key)

    def _link_agents(self, now: float) -> None:
        linux = self.config.backend in (None, "linux")
        candidates = [
            Candidate(key, w.target.pid, w.probe.identity.start_ticks if linux else None)
            for key, w in self._live.items()
            if key not in self.agents
        ]
        for key in self.agents.scan(candidates, now):
            watched = self._live.get(key)
            probe = self.agents.probe(key)
            if watched is None or probe is None:
                continue
            watched.target.python = probe.info()
            self._pending_new.append(dataclasses.replace(watched.target))  # an update

    def _follow_agent(self, key: str, watched: _Watched) -> None:
        """The agent's latest answer says whether it traces (the program, a page or this
        viewer may have switched it): the target carries that to every face, as an update."""
        probe = self.agents.probe(key)
        if probe is None:
            return
        info = probe.info()
        if info != watched.target.python:
            watched.target.python = info
            self._pending_new.append(dataclasses.replace(watched.target))

    def _rescan(self) -> None:
        before = len(self._watched)
        self._found()
        if len(self._watched) > before:
            self._shares_changed(list(self._watched.values())[before:])

    def _shares_changed(self, added: list[_Watched]) -> None:
        """A process found since the last rescan may share pages with its parent and
        siblings (a fork): their PSS fell, which their statm does not show. The parent's
        smaps_rollup is read again in this round, as a new process's is (it held all of
        what it now shares: a tree's sum would count it in full, once more, until then),
        the siblings' as soon as the budget allows."""
        parents = {w.target.ppid for w in added if w.target.ppid is not None}
        new = {w.target.key for w in added}
        for key, watched in self._live.items():
            target = watched.target
            if key in new:
                continue
            if target.pid in parents:
                self.pss.forget(key)
            elif target.ppid in parents:
                self.pss.stale(key)

    def _found(self) -> None:
        self._known_pids &= {w.target.pid for w in self._live.values()}
        if self._matcher is not None:
            matched = [
                pid
                for pid in self._matcher.scan()
                if pid not in self._known_pids and pid not in self.config.exclude_pids
            ]
            if self.config.children:
                # A match whose ancestor is watched (or matched too) belongs under that
                # ancestor's sum, as its descendant; the pass below adds it there.
                roots = {t.pid for t in self._sums.values() if t.state == "running"}
                roots.update(matched)
                matched = [pid for pid in matched if not ancestors(pid) & roots]
            for pid in matched:
                probe = self._try_open(pid)
                if probe is None:
                    self._matcher.reject(pid)
                else:
                    self._add(probe, parent=None, root=None)
        if self.config.children:
            for root_key, total in list(self._sums.items()):
                if total.state != "running":
                    continue
                for pid, parent_pid in descendants(total.pid):
                    if pid in self._known_pids or pid in self.config.exclude_pids:
                        continue
                    probe = self._try_open(pid)
                    if probe is None:
                        continue
                    parent_key = next(
                        (w.target.key for w in self._live.values() if w.target.pid == parent_pid),
                        root_key.removeprefix("sum-"),
                    )
                    self._add(probe, parent=parent_key, root=root_key)

    # -- one round --------------------------------------------------------------------

    def sample_once(self, now: float | None = None) -> Tick:
        """Read every live target once. Public so tests and benchmarks can drive it."""
        wall = time.time() if now is None else now
        mono = time.monotonic()
        if mono - self._last_rescan >= self.config.rescan_interval:
            self._last_rescan = mono
            try:
                self._rescan()
                self._link_agents(mono)
            except Exception:  # discovery must never stop sampling what we already watch
                log.exception("looking for new processes failed")
        samples: dict[str, Reading] = {}
        exits: list[Target] = []
        light = len(self._live) > self.config.full_read_limit
        every, phase = self.config.slow_every, self._seq
        pss = self.pss
        pss.start_round(self.config.interval)
        for index, (key, watched) in enumerate(list(self._live.items())):
            try:
                reading = watched.probe.read(not light or (phase + index) % every == 0)
            except MemlensError as e:
                self.agents.forget(key)
                pss.forget(key)
                del self._live[key]
                self._mark_exited(watched, wall, unreadable=not isinstance(e, TargetGone))
                exits.append(dataclasses.replace(watched.target))
                continue
            reading = pss.fill(key, getattr(watched.probe, "read_rollup", None), reading, mono)
            if key in self.agents:
                samples[key] = self.agents.fill(key, reading)
                self._follow_agent(key, watched)
            else:
                samples[key] = reading
        for root_key, total in self._sums.items():
            if total.state != "running":
                continue
            parts = [samples[m] for m in total.members if m in samples]
            if parts:
                samples[root_key] = _sum_readings(parts)
            else:
                total.state, total.exit_time, total.exit_reason = "exited", wall, "exited"
                root = self._watched.get(total.members[0])
                if root is not None:
                    total.exit_code = root.target.exit_code
                exits.append(dataclasses.replace(total))
        self._seq += 1
        self.ticks += 1
        # A target announced and updated in one round (its agent found) goes out once.
        new = tuple({t.key: t for t in self._pending_new}.values())
        self._pending_new = []
        system = self._system.read(mono) if self._system is not None else None
        return Tick(self._seq, wall, samples, new, tuple(exits), system)

    def _mark_exited(self, watched: _Watched, wall: float, *, unreadable: bool) -> None:
        target = watched.target
        watched.probe.close()
        target.state = "exited"
        target.exit_time = wall
        popen = self._popen.get(target.pid)
        if popen is not None:
            try:
                target.exit_code = popen.wait(timeout=1.0)
            except subprocess.TimeoutExpired:
                target.exit_code = None
        now_there = None if watched.remote else start_ticks_of(target.pid, self.config.backend)
        if unreadable:
            target.exit_reason = "unreadable"
        elif now_there is not None and f"{target.pid}-{now_there}" != target.key:
            target.exit_reason = "pid-reused"
        else:
            target.exit_reason = "exited"

    # -- the loop ---------------------------------------------------------------------

    def alive(self) -> int:
        return len(self._live)

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="memlens-sampler", daemon=True)
        self._thread.start()

    def set_interval(self, interval: float) -> None:
        """Sample every `interval` seconds from now on. The loop wakes at once and starts a
        new grid with a round, so a viewer that asks for a shorter interval does not wait
        out the longer one; the counts of rounds and misses carry on."""
        self.config.interval = check_interval(interval)
        self._regrid.set()

    def stop(self, timeout: float = 5.0) -> None:
        """End the thread, then close the probes once a round driven from another thread
        (`Session.sample_now`) has finished, waiting `timeout` at most for either: a
        stuck round does not hold the stop up."""
        self._stop.set()
        self._regrid.set()
        thread = self._thread
        if thread is not None:
            thread.join(timeout)
        stuck = thread is not None and thread.is_alive()
        ended = thread is not None and not stuck
        held = not stuck and self.lock.acquire(timeout=timeout)
        try:
            if self.config.final_round and ended and not self._final_done:
                self._final_done = True
                try:
                    self.on_tick(self.sample_once())
                except Exception:  # the stop goes on: the probes are closed below
                    log.exception("the last sampling round failed")
            self.agents.close()
            for watched in self._watched.values():
                watched.probe.close()
            if self._system is not None:
                self._system.close()
        finally:
            if held:
                self.lock.release()

    def _run(self) -> None:
        interval = self.config.interval
        origin = time.monotonic()
        slot = 0
        while not self._stop.is_set():
            try:
                with self.lock:
                    self.on_tick(self.sample_once())
            except Exception:  # a failing consumer must not end sampling
                log.exception("sampling round failed")
            now = time.monotonic()
            slot, missed = next_slot(origin, slot, now, interval)
            self.missed_ticks += missed
            if self._regrid.wait(origin + slot * interval - now) and not self._stop.is_set():
                self._regrid.clear()
                interval = self.config.interval
                origin = time.monotonic()
                slot = 0


class _SystemPoll:
    """The sampler's own `SystemProbe`, read at most every `system_every` seconds.

    Rounds shorter than that (a 0.1 s interval) carry the last reading again rather than
    a new one: the machine's figures are rates over the time since the previous read, and
    reading /proc/stat and friends ten times a second would cost more than the process
    reads it accompanies while telling nothing a one-second rate does not. A reading is
    due once `system_every` has passed less half an interval, so a 1 s interval whose
    rounds wake a hair early still reads every round. The probe (and NVML, when asked
    for) is opened on the first round, on the sampler's thread, so making a Sampler costs
    nothing. A read that fails is logged once and leaves the tick without a reading (the
    next due round tries again; a probe that cannot be opened at all is not retried); it
    never stops sampling the processes.
    """

    def __init__(self, config: SamplerConfig) -> None:
        self.config = config
        self._probe: SystemProbe | None = None
        self._broken = False  # the probe could not be opened: never try again
        self._last: SystemReading | None = None
        self._last_at = float("-inf")
        self._warned = False

    def read(self, mono: float) -> SystemReading | None:
        every = self.config.system_every
        if mono - self._last_at < every - min(self.config.interval, every) / 2:
            return self._last
        self._last_at = mono
        try:
            if self._probe is None and not self._broken:
                self._probe = SystemProbe(gpu=self.config.gpu)
            if self._probe is not None:
                self._last = self._probe.read()
        except Exception:  # the machine's figures are a nicety beside the processes'
            self._broken = self._probe is None
            self._last = None
            if not self._warned:
                self._warned = True
                log.warning("reading the system's figures failed", exc_info=True)
        return self._last

    def close(self) -> None:
        if self._probe is not None:
            self._probe.close()
            self._probe = None


def next_slot(origin: float, slot: int, now: float, interval: float) -> tuple[int, int]:
    """The next round's slot on the grid `origin + slot * interval`, and slots skipped.

    Rounds stay on the grid however long each takes, so the schedule never drifts; a
    round that overran skips the slots already in the past instead of running late ones
    back to back.
    """
    due = slot + 1
    behind = now - (origin + due * interval)
    if behind <= 0:
        return due, 0
    missed = int(behind // interval) + 1
    return due + missed, missed


def _sum_readings(parts: list[Reading]) -> Reading:
    def total(values: list[int | None]) -> int | None:
        known = [v for v in values if v is not None]
        return sum(known) if known else None

    cpus = [p.cpu for p in parts if p.cpu is not None]
    # PSS adds up to what the tree holds (RSS where a member's PSS is unknown), USS only
    # when every member's is known: analysis/groups.honest_sum.
    honest = honest_sum([(p.rss, p.pss, p.uss) for p in parts])
    return Reading(
        rss=sum(p.rss for p in parts),
        vms=sum(p.vms for p in parts),
        shared=sum(p.shared for p in parts),
        swap=total([p.swap for p in parts]),
        threads=sum(p.threads for p in parts),
        fds=sum(p.fds for p in parts),
        cpu=sum(cpus) if cpus else None,
        uss=honest.uss,
        pss=honest.total,
        py_heap=total([p.py_heap for p in parts]),
        py_heap_peak=total([p.py_heap_peak for p in parts]),
        py_blocks=total([p.py_blocks for p in parts]),
        gc_collections=total([p.gc_collections for p in parts]),
        gc_uncollectable=total([p.gc_uncollectable for p in parts]),
    )
