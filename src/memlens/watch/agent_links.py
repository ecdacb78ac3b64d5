"""Which watched processes run the Python agent, and their stats on each sample.

The sampler owns one `AgentLinks`. Every rescan it looks, for the live processes not yet
linked, at the registry of agents (one directory listing, however many processes are
watched), and connects to those it finds, each again at most every `recheck` seconds. On
each sample of a linked process it asks its agent for stats (a round trip on a local
socket) and puts the Python fields into the reading. An agent that stops answering is
dropped and looked for again later; the process's own sampling carries on either way. One
that answers something memlens cannot use (`AgentMisbehaved`) is dropped for good, with
one warning: its process is read as if it had no agent.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from memlens.agent.registry import list_agents
from memlens.errors import AgentMisbehaved, MemlensError
from memlens.model import PYTHON_FIELDS, Reading
from memlens.probes.python import PythonProbe

log = logging.getLogger(__name__)

_BASE = len(Reading._fields) - len(PYTHON_FIELDS)
_new_reading = tuple.__new__


@dataclass
class _Link:
    probe: PythonProbe
    fill: bool  # ask for stats on each sample (a remote probe's own read already does)
    started_tracing: bool = False


@dataclass(frozen=True)
class Candidate:
    key: str
    pid: int
    start_ticks: int | None  # Linux kernel ticks, comparable with the agent's; else None


class AgentLinks:
    def __init__(
        self,
        *,
        enabled: bool = True,
        token: str | None = None,
        tracemalloc_frames: int = 0,
        recheck: float = 10.0,
    ) -> None:
        self.enabled = enabled
        self.token = token
        self.tracemalloc_frames = tracemalloc_frames
        self.recheck = recheck
        self._links: dict[str, _Link] = {}
        self._looked: dict[str, float] = {}  # key → monotonic time of the last look
        self._misbehaving: set[str] = set()  # never asked again

    def __contains__(self, key: object) -> bool:
        return key in self._links

    def probe(self, key: str) -> PythonProbe | None:
        link = self._links.get(key)
        return None if link is None else link.probe

    def probes(self) -> dict[str, PythonProbe]:
        return {key: link.probe for key, link in list(self._links.items())}

    def look_again(self, key: str) -> None:
        """Looks for `key`'s agent at the next scan, however recently it was looked for."""
        self._looked.pop(key, None)

    def adopt(self, key: str, probe: PythonProbe, *, fill: bool = False) -> None:
        """Link a probe found another way (a remote agent's probe)."""
        self._links[key] = _Link(probe, fill)
        self._start_tracing(key)

    def scan(self, candidates: Iterable[Candidate], now: float) -> list[str]:
        """Link the candidates that run an agent; returns the keys linked now."""
        if not self.enabled:
            return []
        due = [
            c
            for c in candidates
            if c.key not in self._links
            and c.key not in self._misbehaving
            and now - self._looked.get(c.key, float("-inf")) >= self.recheck
        ]
        if not due:
            return []
        for c in due:
            self._looked[c.key] = now
        try:
            entries = {e.pid: e for e in list_agents()}
        except OSError as e:  # no runtime directory, or not ours: no agents to find
            log.debug("no agents: %s", e)
            return []
        linked = []
        for c in due:
            entry = entries.get(c.pid)
            if entry is None:
                continue
            if (
                None not in (entry.start_ticks, c.start_ticks)
                and entry.start_ticks != c.start_ticks
            ):
                continue  # the PID's agent belongs to another process
            try:
                probe = PythonProbe(entry.address, self.token)
            except AgentMisbehaved as e:
                self.misbehaved(c.key, e)
                continue
            except MemlensError as e:
                log.info("the agent of process %d does not answer: %s", c.pid, e)
                continue
            self._links[c.key] = _Link(probe, fill=True)
            self._start_tracing(c.key)
            linked.append(c.key)
        return linked

    def fill(self, key: str, reading: Reading) -> Reading:
        """The reading with its Python fields from the agent; unchanged when the agent
        does not answer (the link is dropped, to be looked for again)."""
        link = self._links.get(key)
        if link is None or not link.fill:
            return reading
        try:
            fields = link.probe.fields()
        except AgentMisbehaved as e:
            self.misbehaved(key, e)
            return reading
        except MemlensError as e:
            log.info("lost the agent of %s: %s", key, e)
            self.forget(key)
            return reading
        return _new_reading(Reading, reading[:_BASE] + fields)

    def misbehaved(self, key: str, error: AgentMisbehaved) -> None:
        """Drops the agent of `key` for good: it answered what memlens cannot use."""
        if key not in self._misbehaving:
            self._misbehaving.add(key)
            log.warning("the agent of %s is no longer asked: %s", key, error)
        self.forget(key)

    def forget(self, key: str) -> None:
        link = self._links.pop(key, None)
        if link is not None:
            link.probe.close()

    def close(self) -> None:
        """Hang up on every agent, first switching off the tracing this viewer started."""
        for key, link in list(self._links.items()):
            if link.started_tracing:
                with contextlib.suppress(MemlensError):
                    link.probe.tracemalloc(False)
            self.forget(key)

    def _start_tracing(self, key: str) -> None:
        link = self._links[key]
        if self.tracemalloc_frames <= 0:
            return
        try:
            link.probe.fields()  # is it tracing already (the program, or another viewer)?
            if link.probe.tracing:
                return
            answer = link.probe.tracemalloc(True, self.tracemalloc_frames)
        except AgentMisbehaved as e:
            self.misbehaved(key, e)
            return
        except MemlensError as e:
            log.warning("could not start tracemalloc in %s: %s", key, e)
            return
        link.started_tracing = bool(answer.get("started_by_agent"))
