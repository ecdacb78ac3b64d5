"""The machine's section: memory, swap and CPU from the recording's system readings
(recorded since schema version 3, unless sampled with --no-system), and its threshold
alerts, counted either way."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from memlens.report.model import Gauge, SystemMemory, Violation
from memlens.report.period import clip


def system_section(
    series: Mapping[str, Sequence[Any]] | None,
    cutoff: float | None,
    violations: tuple[Violation, ...],
) -> SystemMemory:
    ts, columns = clip(series or {}, cutoff)
    if not ts:
        return SystemMemory(False, violations, _system_note(violations, 0))

    def last(name: str) -> float | None:
        known = [v for v in columns.get(name, []) if v is not None]
        return float(known[-1]) if known else None

    return SystemMemory(
        recorded=True,
        violations=violations,
        note=_system_note(violations, len(ts)),
        readings=len(ts),
        memory_total=last("mem_total"),
        memory_percent=_gauge(columns.get("mem_percent")),
        memory_used=_gauge(columns.get("mem_used")),
        swap_total=last("swap_total"),
        swap_used=_gauge(columns.get("swap_used")),
        cpu_percent=_gauge(columns.get("cpu_percent")),
    )


def _gauge(values: Sequence[object] | None) -> Gauge | None:
    known = [float(v) for v in values or () if isinstance(v, int | float)]
    if not known:
        return None
    return Gauge(known[-1], min(known), max(known), math.fsum(known) / len(known))


def _system_note(violations: Sequence[Violation], readings: int) -> str:
    alerts = (
        f"{len(violations)} alert{'' if len(violations) == 1 else 's'} on it"
        if violations
        else "no alert on it"
    )
    if readings:
        return (
            f"The machine was read {readings:,} time{'' if readings == 1 else 's'} over the "
            f"period; {alerts} (thresholds.max_system_memory)."
        )
    base = (
        "System-wide memory is not recorded in this recording (made with --no-system, or "
        "by a memlens before schema version 3); only alerts on it are, when a limit "
        "(thresholds.max_system_memory) was set while recording."
    )
    if not violations:
        return base + " None are in this period."
    return base
