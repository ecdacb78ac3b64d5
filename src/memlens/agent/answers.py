"""What memlens accepts from an agent: each answer's shape and bounds, checked before use.

An agent runs inside a process memlens does not control, or at the other end of a TCP
connection: whatever it answers is outside input. A field of the wrong type, a number
that is negative, not finite or absurdly large, a string or list longer than any real
agent sends, or a result that is no object at all, is `AgentMisbehaved` for that agent,
raised here once rather than as an AttributeError wherever the field is read. Fields the
viewer does not know are dropped (the protocol lets a newer agent add some); a known field
may be missing, as readers take it with `.get()`. A valid answer comes back unchanged.

Runs in memlens, never in the agent's host.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from memlens.agent import heap, marks
from memlens.agent.gcpauses import MAX_PAUSES
from memlens.agent.session import BY, HEAP_KINDS, OPS, ORDER
from memlens.agent.tracing import MAX_FRAMES, MAX_LIMIT
from memlens.errors import AgentMisbehaved

Check = Callable[[Any, str], Any]

MAX_INT = 2**63 - 1  # what a C counter holds; bytes and counts beyond it are not real
MAX_SECONDS = 1e11  # a Unix time or a duration: past the year 5000 is not a clock
MAX_TEXT = 4096  # a path, a name, a type's name
MAX_ARGV = 4096
MAX_ERROR_TEXT = 300  # an error answer's text, as shown on one line


class Bad(Exception):
    """One field is wrong: `where` names it, never quoting the agent's value."""

    def __init__(self, where: str, what: str) -> None:
        super().__init__(f"{where or 'the result'} {what}")


def _count(value: Any, where: str) -> int:
    """A non-negative integer (bytes, blocks, objects, collections)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise Bad(where, "is not an integer")
    if not 0 <= value <= MAX_INT:
        raise Bad(where, "is out of range")
    return value


def _diff(value: Any, where: str) -> int:
    """An integer that may be negative: growth since a baseline."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise Bad(where, "is not an integer")
    if not -MAX_INT <= value <= MAX_INT:
        raise Bad(where, "is out of range")
    return value


def _seconds(value: Any, where: str) -> float:
    """A finite, non-negative number of seconds (or a Unix time)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Bad(where, "is not a number")
    if not (math.isfinite(value) and 0 <= value <= MAX_SECONDS):
        raise Bad(where, "is out of range")
    return value


def _uptime(value: Any, where: str) -> float:
    """Seconds since the agent started, by a wall clock that may have been set back."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Bad(where, "is not a number")
    if not (math.isfinite(value) and abs(value) <= MAX_SECONDS):
        raise Bad(where, "is out of range")
    return value


def _estimate(value: Any, where: str) -> float:
    """A finite, non-negative estimate (bytes or objects, as a float)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Bad(where, "is not a number")
    if not (math.isfinite(value) and 0 <= value <= MAX_INT):
        raise Bad(where, "is out of range")
    return value


def _signed_estimate(value: Any, where: str) -> float:
    """A finite estimate that may be negative: growth since a mark."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Bad(where, "is not a number")
    if not (math.isfinite(value) and -MAX_INT <= value <= MAX_INT):
        raise Bad(where, "is out of range")
    return value


def _flag(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise Bad(where, "is not true or false")
    return value


def _text(limit: int = MAX_TEXT) -> Check:
    def check(value: Any, where: str) -> str:
        if not isinstance(value, str):
            raise Bad(where, "is not a string")
        if len(value) > limit:
            raise Bad(where, f"is longer than {limit} characters")
        return value

    return check


def _one_of(*choices: str) -> Check:
    def check(value: Any, where: str) -> str:
        if value not in choices or not isinstance(value, str):
            raise Bad(where, f"is not one of {', '.join(choices)}")
        return value

    return check


def _nullable(check: Check) -> Check:
    def nullable(value: Any, where: str) -> Any:
        return None if value is None else check(value, where)

    return nullable


def _list(check: Check, limit: int) -> Check:
    def checked(value: Any, where: str) -> list[Any]:
        if not isinstance(value, list):
            raise Bad(where, "is not a list")
        if len(value) > limit:
            raise Bad(where, f"has more than {limit} items")
        return [check(item, f"{where}[{i}]") for i, item in enumerate(value)]

    return checked


def _record(**fields: Check) -> Check:
    def checked(value: Any, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise Bad(where, "is not an object")
        return {
            name: fields[name](item, f"{where}.{name}" if where else name)
            for name, item in value.items()
            if name in fields
        }

    checked.fields = fields  # type: ignore[attr-defined]
    return checked


def _with(record: Check, **more: Check) -> Check:
    """A record check with more fields than `record`'s."""
    return _record(**record.fields, **more)  # type: ignore[attr-defined]


_TEXT = _text()
_LOCATION = _record(file=_TEXT, line=_count)

HELLO = _record(
    agent=_text(64),
    protocol=_count,
    pid=_count,
    ppid=_count,
    start_ticks=_nullable(_count),
    name=_TEXT,
    python=_text(64),
    implementation=_text(64),
    executable=_nullable(_TEXT),
    argv=_list(_TEXT, MAX_ARGV),
    started=_seconds,
    transport=_one_of("unix", "tcp"),
    ops=_list(_text(64), 64),
    limits=_record(
        max_request_bytes=_count, max_response_bytes=_count, max_frames=_count, max_limit=_count
    ),
)
STATS = _record(
    time=_seconds,
    uptime_s=_uptime,
    rss_bytes=_nullable(_count),
    vms_bytes=_nullable(_count),
    max_rss_bytes=_nullable(_count),
    threads=_count,
    python_threads=_count,
    fds=_count,
    allocated_blocks=_count,
    gc=_record(
        enabled=_flag,
        counts=_list(_count, 8),
        thresholds=_list(_count, 8),
        generations=_list(_record(collections=_count, collected=_count, uncollectable=_count), 8),
        garbage=_count,
        pauses_collecting=_flag,
    ),
    tracemalloc=_record(
        tracing=_flag,
        frames=_count,
        current_bytes=_count,
        peak_bytes=_count,
        overhead_bytes=_count,
    ),
)
TRACING = _record(tracing=_flag, frames=_count, started_by_agent=_flag, since=_nullable(_seconds))
TOP = _record(
    by=_one_of(*BY),
    order=_one_of(*ORDER),
    frames=_count,
    baseline=_one_of("previous", "trace_start"),
    baseline_time=_nullable(_seconds),
    total_bytes=_count,
    total_blocks=_count,
    total_diff_bytes=_diff,
    sites=_list(
        _record(
            file=_TEXT,
            line=_count,
            size_bytes=_count,
            count=_count,
            size_diff_bytes=_diff,
            count_diff=_diff,
            traceback=_list(_LOCATION, MAX_FRAMES),
        ),
        MAX_LIMIT,
    ),
    elapsed_s=_seconds,
    over_budget=_flag,
)
OBJECTS = _record(
    total=_count,
    distinct_types=_count,
    types=_list(_record(type=_TEXT, count=_count), MAX_LIMIT),
    elapsed_s=_seconds,
    over_budget=_flag,
)
GC_PAUSES = _record(
    collecting=_flag,
    since=_nullable(_seconds),
    count=_count,
    total_s=_seconds,
    max_s=_seconds,
    dropped=_count,
    idle_stop_s=_seconds,
    pauses=_list(
        _record(
            time=_seconds,
            generation=_count,
            duration_s=_seconds,
            collected=_count,
            uncollectable=_count,
        ),
        MAX_PAUSES,
    ),
)
HEAP_STATUS = _record(
    running=_flag,
    sampler=_nullable(_one_of("sampling", "tracemalloc")),
    interval_bytes=_count,
    max_frames=_count,
    since=_nullable(_seconds),
    marks=_list(_record(name=_text(heap.MAX_MARK_NAME), time=_seconds), heap.MAX_MARKS),
    fallback_reason=_nullable(_text(MAX_ERROR_TEXT * 2)),
    live_samples=_count,
    overhead_bytes=_count,
)
STATS = _with(STATS, heap=HEAP_STATUS, marks=_record(last=_count))
_MARK = _record(
    seq=_count,
    time=_seconds,
    text=_text(marks.MAX_TEXT),
    recorded_in=_nullable(_text(marks.MAX_PATH)),
)
MARKS = _record(last=_count, marks=_list(_MARK, marks.MAX_MARKS))
HEAP_MARK = _record(name=_text(heap.MAX_MARK_NAME), time=_seconds)
_FRAME = _record(function=_TEXT, file=_TEXT, line=_count)


def _heap_profile(value: Any, where: str) -> dict[str, Any]:
    signed = isinstance(value, dict) and value.get("kind") == "growth"
    inuse = _signed_estimate if signed else _estimate
    check = _record(
        format=_one_of(heap.FORMAT),
        version=_count,
        kind=_one_of(*HEAP_KINDS),
        sampler=_one_of("sampling", "tracemalloc"),
        interval_bytes=_count,
        max_frames=_count,
        pid=_count,
        time=_seconds,
        start=_seconds,
        since=_seconds,
        since_mark=_nullable(_text(heap.MAX_MARK_NAME)),
        inuse_bytes=inuse,
        inuse_count=inuse,
        alloc_bytes=_estimate,
        alloc_count=_estimate,
        samples=_count,
        stacks=_list(
            _record(
                frames=_list(_FRAME, heap.MAX_FRAMES + 1),
                inuse_bytes=inuse,
                inuse_count=inuse,
                alloc_bytes=_estimate,
                alloc_count=_estimate,
            ),
            heap.MAX_LIMIT,
        ),
        truncated=_count,
        elapsed_s=_seconds,
        over_budget=_flag,
    )
    result: dict[str, Any] = check(value, where)
    return result


BYE = _record()
AGENT_STOP = _record(stopping=_flag, heap_error=_nullable(_text(MAX_ERROR_TEXT)))

# Each op's answer, by op; an op not here has no answer memlens reads.
RESULTS: dict[str, Check] = {
    "hello": HELLO,
    "stats": STATS,
    "tracemalloc.start": TRACING,
    "tracemalloc.stop": TRACING,
    "top": TOP,
    "objects": OBJECTS,
    "marks": MARKS,
    "gc.pauses": GC_PAUSES,
    "heap.start": HEAP_STATUS,
    "heap.stop": HEAP_STATUS,
    "heap.status": HEAP_STATUS,
    "heap.mark": HEAP_MARK,
    "heap.profile": _heap_profile,
    "agent.stop": AGENT_STOP,
    "bye": BYE,
}
assert set(RESULTS) == {"hello", *OPS}


def checked(op: str, result: Any, address: str) -> dict[str, Any]:
    """`result`, the answer to `op`, when it has the shape and bounds memlens expects;
    else AgentMisbehaved (one line that names the field, never quotes the value)."""
    check = RESULTS.get(op)
    if check is None:
        if not isinstance(result, dict):
            raise AgentMisbehaved(f"the agent at {address} answered {op} with no object")
        return result
    try:
        value: dict[str, Any] = check(result, "")
    except Bad as exc:
        raise AgentMisbehaved(f"the agent at {address} answered {op} badly: {exc}") from None
    return value


def error_text(value: Any) -> str:
    """An error answer's text as one readable line: control characters made visible,
    long text cut short."""
    if not isinstance(value, str):
        return "the agent refused the request"
    shown = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in value)
    return shown if len(shown) <= MAX_ERROR_TEXT else shown[:MAX_ERROR_TEXT] + "…"


def retry_after(value: Any, address: str) -> float:
    """An answer's `retry_after_s`: when to ask again, at most an hour away."""
    if value is None:
        return 1.0
    try:
        seconds = _seconds(value, "retry_after_s")
    except Bad as exc:
        raise AgentMisbehaved(f"the agent at {address} answered badly: {exc}") from None
    return min(float(seconds), 3600.0)
