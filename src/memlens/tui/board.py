"""What the list of `memlens top` needs of every target, kept as the ticks come.

With 300 targets the list is redrawn four times a second; reading each target's newest
sample and its growth out of the live history (`memlens.watch.history`) would copy every
column of every ring on every redraw. The board instead keeps, per target, the newest
reading and a few thinned (time, RSS) points per chart window, so a row costs a few
dictionary look-ups, and the growth over the window is the same "last minus first over
the window" the single-target view prints, as a rate.

It also keeps the state of each group's leak alert (`group_leak`, one per group, raised
or cleared; docs/protocol.md), so the list shows one line per leaking group, however
many member alerts came and went.

Used on the app's loop only.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from memlens.model import Reading, Tick

# Points kept per window: enough for a rate, few enough that 1,000 targets × 3 windows
# stay a few megabytes.
POINTS = 30
# A rate needs this share of its window (or MIN_SECONDS, if less) between its first and
# last points; before that the growth is "–" (a rate over half a second says nothing).
MIN_SPAN = 0.05
MIN_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class GroupLeak:
    """A group's standing leak alert, as the alert engine last said it."""

    group: str
    count: int
    of: int
    rate_each: float | None
    severity: str
    text: str
    t: float


class _Trail:
    """Thinned (t, rss) points of one target over one window."""

    __slots__ = ("points", "step", "window")

    def __init__(self, window: float) -> None:
        self.window = window
        self.step = window / POINTS
        self.points: deque[tuple[float, float]] = deque()

    def add(self, t: float, rss: float) -> None:
        points = self.points
        if not points or t - points[-1][0] >= self.step:
            points.append((t, rss))
        while points and points[0][0] < t - self.window - self.step:
            points.popleft()

    def rate(self, t: float, rss: float) -> float | None:
        """Bytes/s from the window's first point to (t, rss); None when too short."""
        first = next((p for p in self.points if p[0] >= t - self.window - self.step), None)
        if first is None:
            return None
        span = t - first[0]
        if span < min(self.window * MIN_SPAN, MIN_SECONDS):
            return None
        return (rss - first[1]) / span


class Board:
    """The newest reading and the growth of every target, and the groups' leak alerts."""

    def __init__(self, windows: Iterable[float]) -> None:
        self.windows = tuple(windows)
        self.readings: dict[str, Reading] = {}
        self.times: dict[str, float] = {}
        self._trails: dict[str, dict[float, _Trail]] = {}
        self.group_leaks: dict[str, GroupLeak] = {}

    def observe(self, tick: Tick) -> None:
        for key, reading in tick.samples.items():
            self.readings[key] = reading
            self.times[key] = tick.time
            trails = self._trails.get(key)
            if trails is None:
                trails = self._trails[key] = {w: _Trail(w) for w in self.windows}
            for trail in trails.values():
                trail.add(tick.time, float(reading.rss))

    def growth(self, key: str, window: float) -> float | None:
        """The target's RSS growth over `window` (one of `windows`), in bytes/s."""
        reading = self.readings.get(key)
        trail = self._trails.get(key, {}).get(window)
        if reading is None or trail is None:
            return None
        return trail.rate(self.times[key], float(reading.rss))

    def alert(self, message: Mapping[str, Any]) -> None:
        """An alert as the stream sends it; only `group_leak` ones are kept."""
        if message.get("type") != "group_leak":
            return
        group = str(message.get("group") or "")
        if message.get("state") == "cleared":
            self.group_leaks.pop(group, None)
            return
        rate = message.get("rate_each")
        self.group_leaks[group] = GroupLeak(
            group=group,
            count=int(message.get("count") or 0),
            of=int(message.get("of") or 0),
            rate_each=None if rate is None else float(rate),
            severity=str(message.get("severity") or ""),
            text=str(message.get("text") or ""),
            t=float(message.get("t") or 0.0),
        )
