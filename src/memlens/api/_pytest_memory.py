"""How the pytest plugin measures one test call: tracemalloc around it, the levels between
the rounds of `no_leak`, the rule that calls growth a leak, and the sites a failure names.

tracemalloc rather than RSS: a limit on a test means the test's own Python allocations,
and those do not depend on what earlier tests left in the allocator's free lists or on
when the OS takes pages back. Nothing here knows pytest; pytest_plugin.py does.
"""

from __future__ import annotations

import functools
import gc
import os
import sys
import tracemalloc
from array import array
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import CodeType, FrameType
from typing import Any

from memlens.analysis.trend import theil_sen
from memlens.units import human_bytes, parse_size

MAX_SITES = 5
MIN_MEASURED_ROUNDS = 3  # at the loosest: with 4 levels, Mann–Kendall reaches p < 0.05
DEFAULT_MEASURED_ROUNDS = 4
DEFAULT_ALPHA = 0.01  # DetectorConfig.alpha; the plugin passes the configuration's

# The machinery around a test allocates too (imports, pytest's bookkeeping, this plugin,
# tracemalloc's own snapshots): none of it is the test's doing.
_HIDDEN = (
    tracemalloc.__file__,
    "<frozen importlib.*>",
    "*/importlib/*",
    "*/_pytest/*",
    "*/pluggy/*",
    __file__,
    str(Path(__file__).with_name("pytest_plugin.py")),
)
_FILTERS = [tracemalloc.Filter(False, pattern) for pattern in _HIDDEN]


def size_arg(value: object, what: str) -> int:
    """A marker's size, typed as people type it ("24 MB", 1024-based) or as bytes."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ValueError(f"{what} must be a size such as '24 MB', not {value!r}")
    size = value if isinstance(value, int) else parse_size(value)
    if size < 0:
        raise ValueError(f"{what} must not be negative")
    return size


@functools.cache
def fewest_rounds(alpha: float) -> int:
    """The fewest measured rounds (levels − 1) whose steadiest rise, every level above
    the last, Mann–Kendall calls significant at `alpha`: fewer, and no_leak could never
    fail. 3 at 0.05, 5 at the default 0.01."""
    for measured in range(MIN_MEASURED_ROUNDS, 64):
        xs = [float(i) for i in range(measured + 1)]
        if theil_sen(xs, xs).p_up < alpha:
            return measured
    return 64


@dataclass(frozen=True, slots=True)
class LeakCheck:
    """The arguments of `no_leak(max_growth="1 MB", rounds=..., warmup=1)`, and the
    significance it is judged at (`[leaks] alpha` of the configuration, which `settings`
    names in words)."""

    max_growth: int
    rounds: int
    warmup: int
    alpha: float = DEFAULT_ALPHA
    settings: str = "default settings (no config file)"

    @classmethod
    def from_args(
        cls,
        args: Sequence[object],
        kwargs: Mapping[str, object],
        *,
        alpha: float = DEFAULT_ALPHA,
        settings: str = "default settings (no config file)",
    ) -> LeakCheck:
        """Checked arguments; the default `rounds` is `warmup` plus enough measured
        rounds for `alpha` (at least 4): 6 at the default 0.01."""
        options = dict(kwargs)
        if args:
            if len(args) > 1 or "max_growth" in options:
                raise ValueError("no_leak takes one positional argument, max_growth")
            options["max_growth"] = args[0]
        unknown = set(options) - {"max_growth", "rounds", "warmup"}
        if unknown:
            raise ValueError(f"no_leak has no argument {', '.join(sorted(unknown))}")
        warmup = options.get("warmup", 1)
        if not isinstance(warmup, int) or isinstance(warmup, bool) or warmup < 0:
            raise ValueError("no_leak's rounds and warmup are whole numbers, warmup >= 0")
        needed = fewest_rounds(alpha)
        rounds = options.get("rounds", warmup + max(DEFAULT_MEASURED_ROUNDS, needed))
        if not isinstance(rounds, int) or isinstance(rounds, bool):
            raise ValueError("no_leak's rounds and warmup are whole numbers, warmup >= 0")
        if rounds - warmup < needed:
            raise ValueError(
                f"no_leak needs at least {needed} rounds after the warm-up to tell growth "
                f"from noise at alpha {alpha:g} ([leaks] alpha of the {settings}; "
                f"rounds={rounds}, warmup={warmup})"
            )
        size = size_arg(options.get("max_growth", "1 MB"), "max_growth")
        return cls(size, rounds, warmup, alpha, settings)


@dataclass(frozen=True, slots=True)
class Growth:
    """The steady growth of the levels measured after the warm-up.

    `per_round` is the Theil–Sen slope (bytes per round), `total` that slope over the
    measured rounds, `p` the one-sided Mann–Kendall p-value of "no upward trend".
    """

    per_round: float
    total: float
    p: float
    measured_rounds: int
    leak: bool


def judge_growth(levels: Sequence[int], max_growth: int, *, alpha: float = DEFAULT_ALPHA) -> Growth:
    """A leak is growth that is both steady and large.

    Steady: Mann–Kendall's p < `alpha` (the detector's, [leaks] alpha) on the levels, so
    one jump (a cache filled in round 3) or noise is not called a leak. Large: the
    Theil–Sen slope times the measured rounds exceeds `max_growth`, so a few bytes that
    rise every round (an interned string, a counter) are not either. The median of
    pairwise slopes ignores one odd round.
    """
    if len(levels) < MIN_MEASURED_ROUNDS + 1:
        raise ValueError("too few levels to judge growth")
    trend = theil_sen([float(i) for i in range(len(levels))], [float(v) for v in levels])
    measured = len(levels) - 1
    total = trend.slope * measured
    leak = trend.p_up < alpha and total > max_growth
    return Growth(trend.slope, total, trend.p_up, measured, leak)


@dataclass(frozen=True, slots=True)
class Site:
    """Where memory was allocated (path:line, the path relative to the rootdir when it is
    under it) and how much: live bytes at the peak, or growth for `no_leak`."""

    where: str
    size: int
    count: int

    def to_json(self) -> dict[str, object]:
        return {"site": self.where, "size": self.size, "blocks": self.count}

    def line(self, *, signed: bool = False) -> str:
        sign = "+" if signed and self.size > 0 else ""
        blocks = "block" if abs(self.count) == 1 else "blocks"
        return f"{self.where}  {sign}{human_bytes(self.size)} in {sign}{self.count} {blocks}"


def top_sites(
    snapshot: tracemalloc.Snapshot,
    baseline: tracemalloc.Snapshot | None,
    root: Path,
    amount: float,
) -> tuple[Site, ...]:
    """The largest sites of `snapshot`, counted from `baseline` when there is one.

    Sites under 1% of `amount` (the peak or the growth being explained) are left out:
    other plugins' hook wrappers allocate a few hundred bytes around every call, and
    listing them beside a 40 MB buffer would only hide it.
    """
    now = snapshot.filter_traces(_FILTERS)
    if baseline is None:
        rows = [(s.traceback[0], s.size, s.count) for s in now.statistics("lineno")]
    else:
        before = baseline.filter_traces(_FILTERS)
        diff = now.compare_to(before, "lineno")
        rows = [(s.traceback[0], s.size_diff, s.count_diff) for s in diff]
    floor = max(1.0, amount / 100.0)
    rows = sorted((r for r in rows if r[1] >= floor), key=lambda r: r[1], reverse=True)
    return tuple(
        Site(f"{_short(frame.filename, root)}:{frame.lineno}", size, count)
        for frame, size, count in rows[:MAX_SITES]
    )


def _short(filename: str, root: Path) -> str:
    try:
        relative = os.path.relpath(filename, root)
    except ValueError:  # another drive on Windows
        return filename
    return filename if relative.startswith("..") else relative


@contextmanager
def on_return(code: CodeType | None, callback: Callable[[], None]) -> Iterator[None]:
    """Calls `callback` whenever `code` returns, while its frame still holds its locals.

    A test's big buffer usually lives in a local and is freed as the test function
    returns: a snapshot taken after the call could no longer say where it came from.
    Python 3.12+ watches only that one code object (sys.monitoring local events, no cost
    elsewhere); older versions have only a profile hook, called on every call and return,
    which slows call-heavy Python code several times while a limited test runs.
    """
    if code is None:
        yield
        return
    if sys.version_info >= (3, 12):
        monitoring = sys.monitoring
        free = [i for i in (3, 4) if monitoring.get_tool(i) is None]  # ids no tool reserves
        if free:
            tool, event = free[0], monitoring.events.PY_RETURN

            def returned(_code: CodeType, _offset: int, _value: object) -> None:
                callback()

            monitoring.use_tool_id(tool, "memlens")
            try:
                monitoring.register_callback(tool, event, returned)
                monitoring.set_local_events(tool, code, event)
                yield
            finally:
                monitoring.set_local_events(tool, code, 0)
                monitoring.register_callback(tool, event, None)
                monitoring.free_tool_id(tool)
            return
    previous = sys.getprofile()

    def profile(frame: FrameType, event: Any, arg: Any) -> None:
        if event == "return" and frame.f_code is code:
            callback()
        if previous is not None:
            previous(frame, event, arg)

    sys.setprofile(profile)
    try:
        yield
    finally:
        sys.setprofile(previous)


@dataclass(frozen=True, slots=True)
class CallMemory:
    """What one test call measured and concluded; `verdict` is "pass", "over-limit",
    "leak", "over-limit+leak", or "unchecked" (no marker, or the test did not finish)."""

    peak: int | None
    limit: int | None
    check: LeakCheck | None
    growth: Growth | None
    peak_sites: tuple[Site, ...]
    growth_sites: tuple[Site, ...]
    verdict: str

    def problems(self, name: str) -> list[str]:
        """The failure messages, one per check that failed."""
        found = []
        if self.limit is not None and self.peak is not None and self.peak > self.limit:
            text = (
                f"{name} allocated {human_bytes(self.peak)} at its peak, "
                f"over the {human_bytes(self.limit)} limit"
            )
            if self.peak_sites:
                text += "; top allocation sites live when the test returned:"
                text += "".join(f"\n  {site.line()}" for site in self.peak_sites)
            else:
                text += "; the test freed it before returning, so no site holds it any more"
            found.append(text)
        if self.check is not None and self.growth is None:
            found.append(
                f"memlens: {name}: no_leak could not repeat this test: something other than "
                "pytest's function call ran it (unittest and async plugins call tests "
                "themselves)"
            )
        if self.growth is not None and self.check is not None and self.growth.leak:
            g, c = self.growth, self.check
            text = (
                f"{name} grew {human_bytes(g.total)} over {g.measured_rounds} rounds after "
                f"{c.warmup} warm-up round{'s' if c.warmup != 1 else ''} "
                f"(+{human_bytes(g.per_round)} per round, Mann–Kendall p={g.p:.2g} under "
                f"alpha {c.alpha:g}), more than the {human_bytes(c.max_growth)} allowed; "
                f"judged with the {c.settings}"
            )
            if self.growth_sites:
                text += "; top growing sites:"
                text += "".join(f"\n  {site.line(signed=True)}" for site in self.growth_sites)
            found.append(text)
        return found

    def to_json(self) -> dict[str, object]:
        g, c = self.growth, self.check
        return {
            "peak": self.peak,
            "limit": self.limit,
            "growth": None if g is None else round(g.total),
            "growth_per_round": None if g is None else round(g.per_round),
            "growth_p": None if g is None else g.p,
            "max_growth": None if c is None else c.max_growth,
            "rounds": None if c is None else c.rounds,
            "warmup": None if c is None else c.warmup,
            "alpha": None if c is None else c.alpha,
            "settings": None if c is None else c.settings,
            "verdict": self.verdict,
            "peak_sites": [s.to_json() for s in self.peak_sites],
            "growth_sites": [s.to_json() for s in self.growth_sites],
        }


class CallWatch:
    """tracemalloc around one test call: started only if it was off (and stopped after),
    the peak reset, snapshots taken only where a check needs them."""

    def __init__(self, limit: int | None, check: LeakCheck | None, root: Path) -> None:
        self.limit = limit
        self.check = check
        self.root = root
        self._started = False
        self._base = 0
        self._before: tracemalloc.Snapshot | None = None
        self._at_peak: tracemalloc.Snapshot | None = None
        self._warm: tracemalloc.Snapshot | None = None
        self._last: tracemalloc.Snapshot | None = None
        self._levels = array("q", bytes(8 * (check.rounds - check.warmup + 1))) if check else None
        self._rounds_done = 0

    def start(self) -> None:
        self._started = not tracemalloc.is_tracing()
        if self._started:
            tracemalloc.start()
        elif self.limit is not None:
            # Memory traced before the test would otherwise crowd its sites out.
            self._before = tracemalloc.take_snapshot()
        tracemalloc.reset_peak()
        self._base = tracemalloc.get_traced_memory()[0]

    def peak(self) -> int:
        return max(0, tracemalloc.get_traced_memory()[1] - self._base)

    def at_return(self) -> None:
        """The test body is returning: keep its live allocations if it went over."""
        if self.limit is not None and self._at_peak is None and self.peak() > self.limit:
            self._at_peak = tracemalloc.take_snapshot()

    def repeated(self, function: Callable[..., object]) -> Callable[..., object]:
        """`function` called `rounds` times in one call, the level measured after each."""

        def rounds(*args: object, **kwargs: object) -> object:
            assert self.check is not None
            if self.check.warmup == 0:
                self._after_round(0)
            result: object = None
            for number in range(1, self.check.rounds + 1):
                result = None  # one round's result must not live through the next
                result = function(*args, **kwargs)
                self._after_round(number)
            return result

        return rounds

    def _after_round(self, number: int) -> None:
        assert self.check is not None
        assert self._levels is not None
        gc.collect()
        warmup = self.check.warmup
        if number == warmup:
            # Taken before the level is read: the snapshot's own memory then counts in
            # every level alike instead of looking like growth in the next round.
            self._warm = tracemalloc.take_snapshot()
        if number >= warmup:
            self._levels[number - warmup] = tracemalloc.get_traced_memory()[0]
        if number == self.check.rounds:
            self._last = tracemalloc.take_snapshot()
        self._rounds_done = number

    def finish(self, completed: bool) -> CallMemory:
        """Stops tracing (if it was ours) and judges; only a completed call is judged."""
        peak: int | None = None
        try:
            if tracemalloc.is_tracing():  # the test itself may have stopped it
                peak = self.peak()
            over = self.limit is not None and peak is not None and peak > self.limit
            if completed and over and self._at_peak is None:
                self._at_peak = tracemalloc.take_snapshot()
        finally:
            if self._started:
                tracemalloc.stop()
        peak_sites: tuple[Site, ...] = ()
        if completed and over and self._at_peak is not None:
            peak_sites = top_sites(self._at_peak, self._before, self.root, peak or 0)
        growth: Growth | None = None
        growth_sites: tuple[Site, ...] = ()
        check = self.check
        if completed and check is not None and self._rounds_done == check.rounds:
            assert self._levels is not None
            growth = judge_growth(self._levels.tolist(), check.max_growth, alpha=check.alpha)
            if growth.leak and self._warm is not None and self._last is not None:
                growth_sites = top_sites(self._last, self._warm, self.root, growth.total)
        failed = [
            name for name, bad in (("over-limit", over), ("leak", growth and growth.leak)) if bad
        ]
        repeated = check is None or growth is not None
        checked = completed and repeated and (self.limit is not None or check is not None)
        verdict = ("+".join(failed) or "pass") if checked else "unchecked"
        return CallMemory(peak, self.limit, check, growth, peak_sites, growth_sites, verdict)
