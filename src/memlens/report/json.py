"""The report as one JSON object, for scripts and dashboards of other tools.

Plain types only, and the units of the rest of memlens: bytes, seconds (times are Unix
times), bytes per second; a value not known is null. The field names are part of the
interface: docs/cli.md ("memlens report", JSON) lists each one, and `version` changes
when one is removed or changes its meaning.
"""

from __future__ import annotations

import json
import math
from typing import Any

from memlens._version import __version__
from memlens.analysis.groups import MEASURE_TEXT, GroupSum
from memlens.analysis.leaktext import headline
from memlens.model import MAP_CATEGORIES, MAP_FIGURES
from memlens.report.grouptext import member_verdict
from memlens.report.model import (
    Exit,
    Figures,
    Gauge,
    GroupReport,
    GrownStack,
    HeapTop,
    Leak,
    Mark,
    Report,
    SystemMemory,
    TargetMaps,
    TargetReport,
    Violation,
)

VERSION = 1


def dump_report_json(report: Report) -> bytes:
    return (json.dumps(report_to_dict(report), indent=2, allow_nan=False) + "\n").encode()


def report_to_dict(report: Report) -> dict[str, Any]:
    info = report.recording
    period = report.period
    return {
        "format": "memlens-report",
        "version": VERSION,
        "memlens_version": __version__,
        "generated": _num(report.generated),
        "recording": {
            "id": info.id,
            "name": info.name,
            "host": info.host,
            "command": info.command,
            "started": _num(info.started),
            "ended": _num(info.ended),
            "interval": _num(info.interval),
            "exit_code": info.exit_code,
        },
        "period": {
            "start": _num(period.start),
            "end": _num(period.end),
            "duration": _num(period.duration),
            "hours": _num(period.hours),
            "ongoing": period.ongoing,
        },
        "samples": report.samples,
        "group_by": report.group_by,
        "targets": [
            {**_target(t), "group": report.group_labels.get(t.target.key, "")}
            for t in report.targets
        ],
        "groups": [_group(g) for g in report.groups],
        "leaks": {
            "source": report.leaks.source,
            "count": report.leaks.count,
            "critical": report.leaks.critical,
            "total_leaked": _num(report.leaks.total_leaked),
            "items": [_leak(leak) for leak in report.leaks.items],
        },
        "thresholds": {
            "source": report.thresholds.source,
            "count": len(report.thresholds.items),
            "violations": [_violation(v) for v in report.thresholds.items],
        },
        "system_memory": _system(report.system_memory),
        "exits": [_exit(e) for e in report.exits],
        "recommendations": [r.to_dict() for r in report.recommendations],
        "maps": [_maps(m) for m in report.maps],
        "heap": None if report.heap is None else _heap(report.heap),
    }


def _heap(h: HeapTop) -> dict[str, Any]:
    return {
        "target_key": h.target_key,
        "target": h.name,
        "t": h.t,
        "pid": h.pid,
        "inuse_bytes": h.inuse_bytes,
        "stacks": [
            {
                "frames": [{"function": f.function, "file": f.file, "line": f.line} for f in fs],
                "inuse_bytes": size,
            }
            for fs, size in h.stacks
        ],
    }


def _maps(m: TargetMaps) -> dict[str, Any]:
    return {
        "target_key": m.target_key,
        "name": m.name,
        "readings": m.readings,
        "first": _num(m.first_t),
        "last": _num(m.last_t),
        "categories": {
            c: {
                "first_rss": m.first[c],
                "grew": m.grew[c],
                **dict(zip(MAP_FIGURES, m.last_figures[c], strict=True)),
            }
            for c in MAP_CATEGORIES
        },
        "leak_window": None if m.window is None else [_num(m.window[0]), _num(m.window[1])],
        "cause": m.cause,
        "reading": m.reading,
        "thread_stacks": m.thread_stacks,
    }


def _group(g: GroupReport) -> dict[str, Any]:
    return {
        "label": g.label,
        "count": len(g.members),
        "measure": g.measure,
        "measure_text": MEASURE_TEXT.get(g.measure, g.measure),
        "peak": _sum(g.peak, g.peak_t),
        "end": _sum(g.end, g.end_t),
        "growth": _num(g.growth),
        "leaks": {
            "count": g.leaking,
            "of": len(g.members),
            "rate_each": _num(g.rate_each),
            "text": g.leak_text,
        },
        "members": [
            {
                "key": m.target.target.key,
                "name": m.target.target.name,
                "pid": m.target.target.pid,
                "peak": _num(m.peak),
                "growth": _num(m.growth),
                "verdict": m.target.trend.verdict.value,
                "leak": m.leak is not None,
                "verdict_text": member_verdict(m),
            }
            for m in g.members
        ],
    }


def _sum(s: GroupSum | None, t: float | None) -> dict[str, Any] | None:
    if s is None:
        return None
    return {
        "t": _num(t),
        "total": s.total,
        "measure": s.measure,
        "mean": _num(s.mean),
        "rss": s.rss,
        "uss": s.uss,
        "overcount": _num(s.overcount),
    }


def _target(t: TargetReport) -> dict[str, Any]:
    trend = {**t.trend.to_dict(), "headline": headline(t.trend)}
    target = t.target
    return {
        "key": target.key,
        "name": target.name,
        "label": t.label,
        "kind": target.kind,
        "pid": target.pid,
        "cmdline": target.cmdline,
        "state": target.state,
        "exit_code": target.exit_code,
        "exit_time": _num(target.exit_time),
        "samples": t.samples,
        "start": _num(t.start),
        "end": _num(t.end),
        "rss": _figures(t.rss),
        "trend": trend,
        "threads": None if t.threads is None else _plain(t.threads.to_dict()),
        "fds": None if t.fds is None else _plain(t.fds.to_dict()),
        "leak_windows": [[_num(a), _num(b)] for a, b in t.leak_windows],
        "marks": [_mark(m) for m in t.marks],
        "recommendations": [r.to_dict() for r in t.recommendations],
    }


def _figures(f: Figures | None) -> dict[str, Any] | None:
    if f is None:
        return None
    return {
        "current": _num(f.current),
        "min": _num(f.min),
        "max": _num(f.max),
        "average": _num(f.average),
        "p95": _num(f.p95),
    }


def _system(s: SystemMemory) -> dict[str, Any]:
    return {
        "recorded": s.recorded,
        "readings": s.readings,
        "memory_total": _num(s.memory_total),
        "memory_percent": _gauge(s.memory_percent),
        "memory_used": _gauge(s.memory_used),
        "swap_total": _num(s.swap_total),
        "swap_used": _gauge(s.swap_used),
        "cpu_percent": _gauge(s.cpu_percent),
        "violations": [_violation(v) for v in s.violations],
        "note": s.note,
    }


def _gauge(g: Gauge | None) -> dict[str, Any] | None:
    if g is None:
        return None
    return {
        "current": _num(g.current),
        "min": _num(g.min),
        "max": _num(g.max),
        "average": _num(g.average),
    }


def _leak(leak: Leak) -> dict[str, Any]:
    return {
        "target_key": leak.target_key,
        "name": leak.name,
        "start": _num(leak.start),
        "end": _num(leak.end),
        "alerted": _num(leak.alerted),
        "severity": leak.severity,
        "rate": _num(leak.rate),
        "growth": _num(leak.growth),
        "text": leak.text,
        "stacks": [_stack(s) for s in leak.stacks],
        "stacks_window": None if leak.stacks_window is None else list(leak.stacks_window),
    }


def _stack(stack: GrownStack) -> dict[str, Any]:
    top = stack.top
    return {
        "function": None if top is None else top[0],
        "file": None if top is None else top[1],
        "line": None if top is None else top[2],
        "frames": [{"function": f, "file": p, "line": n} for f, p, n in stack.frames],
        "depth": stack.depth,
        "growth_bytes": _num(stack.growth),
        "inuse_bytes": _num(stack.inuse),
    }


def _violation(v: Violation) -> dict[str, Any]:
    return {
        "metric": v.metric,
        "target_key": v.target_key,
        "name": v.name,
        "start": _num(v.start),
        "end": _num(v.end),
        "duration": _num(v.duration),
        "value": _num(v.value),
        "peak": _num(v.peak),
        "limit": _num(v.limit),
        "unit": v.unit,
        "text": v.text,
    }


def _exit(e: Exit) -> dict[str, Any]:
    return {
        "target_key": e.target_key,
        "name": e.name,
        "pid": e.pid,
        "time": _num(e.t),
        "state": e.state,
        "code": e.code,
        "reason": e.reason,
    }


def _mark(m: Mark) -> dict[str, Any]:
    return {"t": _num(m.t), "kind": m.kind, "text": m.text}


def _plain(d: dict[str, object]) -> dict[str, object]:
    return {k: _num(v) if isinstance(v, float) else v for k, v in d.items()}


def _num(value: float | None) -> float | None:
    """JSON has no infinities or NaNs: those are unknown."""
    if value is None or not math.isfinite(value):
        return None
    return float(value)
