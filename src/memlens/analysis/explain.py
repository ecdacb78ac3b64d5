"""What grows, and what to try next: the leak detector's verdict on RSS read together with
the other series a recording may hold.

RSS alone says that memory grows, not what holds it. The other series narrow it down:

- the traced Python heap (from the Python agent) growing with RSS: Python objects;
  RSS growing while the heap stays flat: native memory (C extensions, libraries) or
  the allocator's fragmentation;
- gc-tracked object counts growing: Python containers pile up (strings and bytes are
  not gc-tracked, so a flat count proves less than a flat heap);
- threads growing with RSS: threads started and never ended, each with its stack;
- open file descriptors growing: files or sockets opened and never closed.

Without the heap and gc series (a process watched from outside) the advice says what can
be told from outside and how to find out the rest. Every series is optional and plain
(times in seconds, values in bytes or counts), so a face passes what it has.
"""

from __future__ import annotations

import math
import operator
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass

from memlens.analysis.leakmodel import DetectorConfig, LeakFinding, Verdict
from memlens.analysis.leaks import detect
from memlens.analysis.leaktext import clock, rate_text
from memlens.analysis.trend import theil_sen
from memlens.units import human_bytes, human_duration

Series = tuple[Sequence[float], Sequence[float | int | None]]

# A count series "grows" when its robust trend is significant at ALPHA, adds at least
# this much (and this share of where it started), and still rises in its second half
# (a pool that filled up early and then held is not growing).
ALPHA = 0.01
BUCKETS = 60  # time slices whose medians the trend is fitted on: O(BUCKETS²), no sawtooth
STILL_RISING = 0.25  # the second half adds at least this share of the whole change
THREADS_MIN = (2.0, 0.2)  # (at least this many, at least this share of the start)
FDS_MIN = (8.0, 0.2)
GC_MIN = (1000.0, 0.05)
# The heap's growth as a share of RSS's over the leak: above PYTHON_SHARE the leak is
# Python objects, below NATIVE_SHARE it is native memory or fragmentation, mixed between.
PYTHON_SHARE = 0.5
NATIVE_SHARE = 0.2

# The kinds of advice, most pressing first; the report orders by this.
KINDS: tuple[str, ...] = (
    "python-objects",
    "native",
    "mixed",
    "leak",
    "threads",
    "fds",
    "system-memory",
    "rss-limit",
    "plateau",
    "step",
    "insufficient",
    "flat",
)

TITLES = {
    "python-objects": "Python objects grow",
    "native": "Native memory or fragmentation grows",
    "mixed": "Both Python objects and native memory grow",
    "leak": "Memory leaks",
    "threads": "Threads pile up",
    "fds": "File descriptors leak",
    "system-memory": "The machine ran short of memory",
    "rss-limit": "RSS went above its limit",
    "plateau": "Warm-up or a cache filling up",
    "step": "A one-off allocation",
    "insufficient": "Too little data to judge",
    "flat": "Nothing to do",
}


@dataclass(frozen=True)
class Recommendation:
    """One piece of advice: what was seen, and what a person can try next. `kind` is one
    of KINDS (stable, for scripts); `subject` names the target it is about, when the
    report has several."""

    kind: str
    seen: str
    advice: tuple[str, ...]
    subject: str | None = None

    @property
    def title(self) -> str:
        return TITLES.get(self.kind, self.kind)

    @property
    def rank(self) -> int:
        return KINDS.index(self.kind) if self.kind in KINDS else len(KINDS)

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "title": self.title,
            "subject": self.subject,
            "seen": self.seen,
            "advice": list(self.advice),
        }


@dataclass(frozen=True)
class Change:
    """How a series moved: its ends and extremes, the robust change over its span (the
    Theil–Sen slope of slice medians × the span) and whether that counts as growing."""

    first: float
    last: float
    min: float
    max: float
    change: float
    rate: float  # per second
    p_up: float
    grows: bool

    def to_dict(self) -> dict[str, object]:
        return {
            "first": self.first,
            "last": self.last,
            "min": self.min,
            "max": self.max,
            "change": self.change,
            "rate": self.rate,
            "grows": self.grows,
        }


def measure(series: Series | None, min_change: tuple[float, float] = (0.0, 0.0)) -> Change | None:
    """The Change of a series (None when it holds no known value). `min_change` is
    (absolute, share of the first level) that growth must reach to count."""
    if series is None:
        return None
    pairs = [
        (float(t), float(v))
        for t, v in zip(series[0], series[1], strict=True)
        if v is not None and math.isfinite(v)
    ]
    times = [t for t, _ in pairs]
    if not all(map(operator.lt, times, times[1:])):  # a recording's samples already are
        pairs.sort()
    if not pairs:
        return None
    values = [v for _, v in pairs]
    first, last = values[0], values[-1]
    points = _slice_medians(pairs)
    low, high = min(values), max(values)
    if len(points) < 3:
        return Change(first, last, low, high, last - first, 0.0, 1.0, False)
    if low == high:
        # Level throughout (threads and fds mostly are): every pairwise slope is 0, so
        # Theil-Sen's is 0 and Mann-Kendall's S is 0, whose p is one half.
        return Change(first, last, low, high, 0.0, 0.0, 0.5, False)
    t0 = points[0][0]
    xs = [t - t0 for t, _ in points]
    ys = [v for _, v in points]
    trend = theil_sen(xs, ys)
    span = xs[-1]
    change = trend.slope * span
    half = next(i for i, x in enumerate(xs) if x >= span / 2.0)
    late = xs[half:]
    second = theil_sen(late, ys[half:]).slope * (late[-1] - late[0]) if len(late) >= 3 else 0.0
    least = max(min_change[0], min_change[1] * abs(ys[0]))
    grows = (
        trend.p_up < ALPHA and change > 0.0 and change >= least and second >= STILL_RISING * change
    )
    return Change(first, last, low, high, change, trend.slope, trend.p_up, grows)


def explain(
    rss: LeakFinding | Series,
    *,
    threads: Series | None = None,
    fds: Series | None = None,
    heap: Series | None = None,
    gc_objects: Series | None = None,
    config: DetectorConfig = DetectorConfig(),  # noqa: B008 - frozen, shared safely
) -> list[Recommendation]:
    """Advice for one process, most pressing first. `rss` is the detector's finding on
    RSS, or the RSS series to judge; the rest are optional series of the same process."""
    finding = rss if isinstance(rss, LeakFinding) else detect(rss[0], rss[1], config=config)
    window = _window(finding)
    thread_change = measure(_since(threads, window), THREADS_MIN)
    fd_change = measure(_since(fds, window), FDS_MIN)
    out: list[Recommendation] = []
    verdict = finding.verdict
    if verdict is Verdict.LEAK:
        out.extend(_leak(finding, _since(heap, window), _since(gc_objects, window)))
    elif verdict is Verdict.PLATEAU:
        out.append(_plateau(finding))
    elif verdict is Verdict.STEP:
        out.append(_step(finding))
    if thread_change is not None and thread_change.grows:
        out.append(_threads(thread_change, leaking=verdict is Verdict.LEAK))
    if fd_change is not None and fd_change.grows:
        out.append(_fds(fd_change))
    if verdict is Verdict.INSUFFICIENT:
        out.append(_insufficient(finding, config))
    elif not out:
        out.append(_flat(finding))
    return sorted(out, key=lambda r: r.rank)


def system_memory_advice(
    *, limit: float, peak: float, times: int, leaking: Sequence[str]
) -> Recommendation:
    """The machine's memory went above `limit` percent `times` times, up to `peak`;
    `leaking` names the recorded processes that leak."""
    suspect = (
        f"{', '.join(leaking)} leaks over the period and may be the cause"
        if leaking
        else "no recorded process leaks, so look at the others on the machine"
    )
    return Recommendation(
        "system-memory",
        f"System memory went above {limit:g}% {_times(times)}, up to {peak:.1f}%: {suspect}.",
        (
            "See which processes hold the most memory: `memlens watch --name PATTERN` "
            "or `ps -eo pid,rss,comm --sort=-rss | head`.",
            "Set memory limits on services (a cgroup's memory.max) so one process "
            "cannot starve the machine.",
        ),
    )


def rss_limit_advice(name: str, *, peak: float, times: int, above: float) -> Recommendation:
    """A process that does not leak went above its RSS limit `times` times, for `above`
    seconds in all, up to `peak` bytes: its peaks are the problem."""
    return Recommendation(
        "rss-limit",
        f"Above it {_times(times)}, for {human_duration(above)} in all, up to "
        f"{human_bytes(peak)}, without a leak: the peaks are the problem.",
        (
            "Bound what a single request or batch may hold (batch sizes, concurrency, "
            "streaming instead of loading whole files).",
            "Or raise the limit if the peaks are expected.",
        ),
        name,
    )


# -- the branches ----------------------------------------------------------------------


def _leak(
    finding: LeakFinding, heap: Series | None, gc_objects: Series | None
) -> list[Recommendation]:
    rate = finding.rate or 0.0
    seen = f"RSS grows {rate_text(rate)}{_since_text(finding)}"
    if finding.growth is not None:
        seen += f", {human_bytes(finding.growth)} so far"
    heap_change = measure(heap)
    gc_change = measure(gc_objects, GC_MIN)
    gc_text = _gc_text(gc_change)
    if heap_change is not None and rate > 0.0:
        share = max(0.0, heap_change.rate) / rate
        heap_text = f"the traced Python heap grows {rate_text(heap_change.rate)}"
        if share >= PYTHON_SHARE:
            return [
                Recommendation(
                    "python-objects",
                    f"{seen}, and {heap_text} ({share:.0%} of it){gc_text}: Python objects "
                    "are kept alive.",
                    _PYTHON_ADVICE,
                )
            ]
        if share < NATIVE_SHARE:
            flat = (
                "the traced Python heap stays flat"
                if not heap_change.grows
                else f"{heap_text}, only {share:.0%} of it"
            )
            return [
                Recommendation(
                    "native",
                    f"{seen} while {flat}{gc_text}: native memory (a C extension or "
                    "library) or allocator fragmentation.",
                    _NATIVE_ADVICE,
                )
            ]
        return [
            Recommendation(
                "mixed",
                f"{seen}, and {heap_text} ({share:.0%} of it){gc_text}: Python objects "
                "account for part of the growth, native memory or fragmentation for the rest.",
                (_PYTHON_ADVICE[0], _NATIVE_ADVICE[0], _NATIVE_ADVICE[1]),
            )
        ]
    if gc_change is not None and gc_change.grows:
        return [
            Recommendation(
                "python-objects",
                f"{seen}{gc_text}: Python objects are kept alive.",
                _PYTHON_ADVICE,
            )
        ]
    if gc_change is not None:
        return [
            Recommendation(
                "leak",
                f"{seen}{gc_text}. Strings, bytes and native buffers are not gc-tracked, so "
                "this alone cannot tell Python data from native memory.",
                (_PYTHON_ADVICE[0], _NATIVE_ADVICE[0], _NATIVE_ADVICE[1]),
            )
        ]
    return [
        Recommendation(
            "leak",
            f"{seen}. Seen from outside the process, memlens cannot tell Python objects "
            "from native memory or allocator fragmentation: no Python heap series was "
            "recorded.",
            (
                _PYTHON_ADVICE[0],
                "If tracemalloc's total stays flat while RSS grows, it is native memory or "
                "fragmentation. Run once with `MALLOC_ARENA_MAX=2` (glibc) or with jemalloc "
                "(`LD_PRELOAD=libjemalloc.so.2`): if RSS then levels off, it was "
                "fragmentation and that setting is the fix.",
                _NATIVE_ADVICE[1],
            ),
        )
    ]


_PYTHON_ADVICE = (
    "Diff tracemalloc snapshots: call `tracemalloc.start(25)` at start-up, take "
    "`tracemalloc.take_snapshot()` now and again later, and read "
    "`later.compare_to(now, 'traceback')[:10]`: the top lines are where the growth is "
    "allocated.",
    "Count live objects by type (`collections.Counter(type(o).__name__ for o in "
    "gc.get_objects())`, or `objgraph.show_growth()`) twice and compare.",
    "Usual holders: module-level lists and dicts, caches without a bound (use "
    "`functools.lru_cache(maxsize=…)`), callbacks and listeners never removed, exceptions "
    "kept with their tracebacks.",
)

_NATIVE_ADVICE = (
    "Rule fragmentation in or out: run once with `MALLOC_ARENA_MAX=2` (glibc), or with "
    "jemalloc (`LD_PRELOAD=libjemalloc.so.2`); if RSS then levels off, it was "
    "fragmentation and that setting is the fix.",
    "If it still grows, trace native allocations (`memray run --native`, `heaptrack`, "
    "or valgrind's massif) and check the changelogs of the C extensions in use.",
    "Buffers owned by C code count as native memory: NumPy arrays, ctypes/cffi "
    "allocations, compression and TLS contexts; check they are released.",
)


def _threads(change: Change, *, leaking: bool) -> Recommendation:
    together = " together with RSS" if leaking else ""
    return Recommendation(
        "threads",
        f"Threads grow from {change.first:.0f} to {change.last:.0f} (+{change.change:.0f} "
        f"by the trend){together}: threads are started and never end.",
        (
            "List them by name with `threading.enumerate()` (name your threads); look for "
            "one started per request or task and never joined.",
            "Run the work on a bounded pool: "
            "`concurrent.futures.ThreadPoolExecutor(max_workers=…)`.",
            "Each thread reserves a stack (8 MB of address space by default on Linux; "
            "`threading.stack_size()`) and keeps alive what it references.",
        ),
    )


def _fds(change: Change) -> Recommendation:
    return Recommendation(
        "fds",
        f"Open file descriptors grow from {change.first:.0f} to {change.last:.0f} "
        f"(+{change.change:.0f} by the trend): files, sockets or pipes are opened and not "
        "closed.",
        (
            "`ls -l /proc/PID/fd` shows what they are.",
            "Open them in `with` blocks; `python -X dev` (or `-W default::ResourceWarning`) "
            "warns about files and sockets that are never closed.",
            "At the limit (`ulimit -n`) every open fails with EMFILE.",
        ),
    )


def _plateau(finding: LeakFinding) -> Recommendation:
    grew = f" by {human_bytes(finding.growth)}" if finding.growth is not None else ""
    return Recommendation(
        "plateau",
        f"RSS rose{grew}, then levelled off: not a leak.",
        (
            "If the level is acceptable, nothing to do.",
            "If it is a cache, give it a bound: `functools.lru_cache(maxsize=…)` rather "
            "than `functools.cache` or `maxsize=None`, a TTL, or a size-limited mapping.",
            "Record longer to see the level hold: a leak can pause.",
        ),
    )


def _step(finding: LeakFinding) -> Recommendation:
    size = human_bytes(finding.growth) if finding.growth is not None else "a step"
    when = (
        f" at {clock(finding.onset, finding.start)}"
        if finding.onset is not None and finding.start is not None
        else ""
    )
    return Recommendation(
        "step",
        f"RSS stepped up {size}{when} and held the new level (a model or file loaded, a "
        "buffer or pool grown): not a leak.",
        (
            f"See what ran{when or ' then'} (logs, requests, jobs) if the size is a surprise.",
            "If such steps recur with each job or deploy, it is a leak in slow motion: "
            "record longer.",
        ),
    )


def _insufficient(finding: LeakFinding, config: DetectorConfig) -> Recommendation:
    return Recommendation(
        "insufficient",
        f"{finding.reason[:1].upper()}{finding.reason[1:]}.",
        (
            f"Record for at least {human_duration(config.min_duration)}, better an hour "
            "or more: `memlens record PID --duration 1h`.",
        ),
    )


def _flat(finding: LeakFinding) -> Recommendation:
    return Recommendation(
        "flat",
        f"RSS holds steady ({finding.reason}).",
        ("Nothing to do.",),
    )


# -- helpers -----------------------------------------------------------------------------


def _window(finding: LeakFinding) -> float | None:
    """Where the other series are read from: the leak's onset, so a long flat past does
    not dilute a late leak's companions."""
    return finding.onset if finding.verdict is Verdict.LEAK else None


def _since(series: Series | None, start: float | None) -> Series | None:
    if series is None or start is None:
        return series
    ts, vs = series
    kept = [(t, v) for t, v in zip(ts, vs, strict=True) if t >= start]
    if len(kept) < 3:
        return series
    return [t for t, _ in kept], [v for _, v in kept]


def _since_text(finding: LeakFinding) -> str:
    if finding.onset is None or finding.start is None or finding.onset <= finding.start:
        return ""
    return f" since {clock(finding.onset, finding.start)}"


def _gc_text(change: Change | None) -> str:
    if change is None:
        return ""
    if change.grows:
        return f"; gc-tracked objects grow from {change.first:,.0f} to {change.last:,.0f}"
    return f"; gc-tracked objects stay level (about {change.last:,.0f})"


def _slice_medians(pairs: Sequence[tuple[float, float]]) -> list[tuple[float, float]]:
    """At most BUCKETS points: the median time and value of each equal slice of time.
    `pairs` are in order (of time, then value), so a slice is a run of them and its
    times are in order already: a report judges 300 processes' threads and fds so."""
    start, end = pairs[0][0], pairs[-1][0]
    if end <= start:
        return [pairs[-1]]
    width = (end - start) / BUCKETS
    last = BUCKETS - 1
    times = [t for t, _ in pairs]
    values = [v for _, v in pairs]
    slices = [min(int((t - start) / width), last) for t in times]
    out = []
    lo, n = 0, len(pairs)
    while lo < n:
        hi = bisect_right(slices, slices[lo], lo)
        out.append((_median(times[lo:hi]), _median(sorted(values[lo:hi]))))
        lo = hi
    return out


def _times(n: int) -> str:
    return {1: "once", 2: "twice"}.get(n, f"{n} times")


def _median(ordered: Sequence[float]) -> float:
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2.0
